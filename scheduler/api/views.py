"""Scheduler API viewsets: declarations plus one line per action, each calling a service.
Everything but server groups is the cloud admin's (staff only)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from compute.models import Cluster, Host
from portal.api.base import ProjectScopedViewSet, accepted
from portal.api.permissions import StaffOnly
from portal.api.serializers import ACCEPTED
from scheduler import choices as c
from scheduler import snapshot
from scheduler.api import serializers as s
from scheduler.models import AffinityRule, ClusterSchedulerSettings, HaEvent, Recommendation, ServerGroup
from scheduler.services import admission, evc, power, recommendations

RECENT_HA_EVENTS = 20


class SchedulerSettingsViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Per-cluster DRS / DPM / HA / EVC settings, addressed by the cluster's id."""

    queryset = ClusterSchedulerSettings.objects.select_related("cluster").order_by("cluster__name")
    serializer_class = s.SchedulerSettingsSerializer
    permission_classes = [StaffOnly]
    lookup_field = "cluster"
    lookup_value_regex = r"[0-9]+"  # anything else is a 404, not int()'s ValueError
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_object(self):
        cluster = get_object_or_404(Cluster, pk=self.kwargs["cluster"])
        return snapshot.settings_for(cluster)

    def perform_update(self, serializer):
        serializer.instance = recommendations.update_settings(
            self.request.user, serializer.instance.cluster, request=self.request, **serializer.validated_data
        )

    @staticmethod
    def _outcome(outcome):
        if outcome.recommendation is None:
            return Response({"recommendation": None, "message": outcome.message, "imbalance": outcome.imbalance})
        body = {
            "recommendation": s.RecommendationSerializer(outcome.recommendation).data,
            "message": outcome.message,
            "imbalance": outcome.imbalance,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.RunOutcomeSerializer, 201: s.RunOutcomeSerializer})
    @action(detail=True, methods=["post"], url_path="drs-run")
    def drs_run(self, request, cluster=None):
        return self._outcome(recommendations.run_drs(self.get_object().cluster, request.user, request))

    @extend_schema(request=None, responses={200: s.RunOutcomeSerializer, 201: s.RunOutcomeSerializer})
    @action(detail=True, methods=["post"], url_path="dpm-run")
    def dpm_run(self, request, cluster=None):
        return self._outcome(recommendations.run_dpm(self.get_object().cluster, request.user, request))

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="evc-baseline")
    def evc_baseline(self, request, cluster=None):
        return accepted(evc.request_evc(request.user, self.get_object().cluster, request), request)

    @extend_schema(responses=s.HaStatusSerializer)
    @action(detail=True, methods=["get"], url_path="ha-status")
    def ha_status(self, request, cluster=None):
        settings = self.get_object()
        cluster = settings.cluster
        hosts = Host.objects.filter(cluster=cluster).select_related("power", "power_driver")
        events = HaEvent.objects.filter(cluster=cluster).select_related("host", "instance")[:RECENT_HA_EVENTS]
        return Response(
            {
                "cluster": cluster.pk,
                "ha_enabled": settings.ha_enabled,
                "admission_policy": settings.ha_admission,
                "admission": admission.admission_status(cluster),
                "isolation_s": settings.ha_isolation_s,
                "hosts": s.HostPowerSerializer(hosts, many=True).data,
                "events": s.HaEventSerializer(events, many=True).data,
            }
        )


class RecommendationViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Recommendation.objects.select_related("cluster", "decided_by").prefetch_related("operations")
    serializer_class = s.RecommendationSerializer
    permission_classes = [StaffOnly]
    filterset_fields = ["cluster", "kind", "state"]
    ordering_fields = ["created", "state"]

    @extend_schema(request=None, responses={202: s.RecommendationSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        rec = recommendations.approve(request.user, self.get_object(), request)
        return Response(s.RecommendationSerializer(rec).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.RecommendationSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return Response(
            s.RecommendationSerializer(recommendations.reject(request.user, self.get_object(), request)).data
        )


class AffinityRuleViewSet(viewsets.ModelViewSet):
    queryset = AffinityRule.objects.select_related("cluster").prefetch_related("instances", "hosts")
    serializer_class = s.AffinityRuleSerializer
    permission_classes = [StaffOnly]
    filterset_fields = ["cluster", "kind", "strength", "enabled"]
    search_fields = ["name"]


class ServerGroupViewSet(ProjectScopedViewSet):
    queryset = ServerGroup.objects.select_related("project").prefetch_related("members")
    serializer_class = s.ServerGroupSerializer
    filterset_fields = ["project", "policy"]
    search_fields = ["name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class HostPowerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Hosts' power and HA state; PATCH sets the power driver, actions switch the power."""

    queryset = Host.objects.select_related("cluster", "power", "power_driver")
    serializer_class = s.HostPowerSerializer
    permission_classes = [StaffOnly]
    filterset_fields = ["cluster", "state"]

    def partial_update(self, request, pk=None):
        host = self.get_object()
        data = s.PowerConfigSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            power.configure_power(request.user, host, request=request, **data.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response(s.HostPowerSerializer(self.get_queryset().get(pk=host.pk)).data)

    def _power(self, act):
        return accepted(
            power.request_power(self.request.user, self.get_object(), act, request=self.request), self.request
        )

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="power-on")
    def power_on(self, request, pk=None):
        return self._power(c.PowerAction.ON)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="power-off")
    def power_off(self, request, pk=None):
        return self._power(c.PowerAction.OFF)


class HaEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = HaEvent.objects.select_related("host", "instance")
    serializer_class = s.HaEventSerializer
    permission_classes = [StaffOnly]
    filterset_fields = ["cluster", "host", "instance", "kind"]
