"""The scheduler's pages. Staff: clusters with their settings, recommendations (approve /
reject, refreshed while one is applying), hosts' power and HA state. Tenants: their server
groups, and their instances' HA settings and events (a panel on compute's instance page).
Views read the database and call services; nothing here talks to a host."""

from functools import lru_cache

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from compute.models import Cluster, Host, Instance
from compute.services import instances as compute_services
from portal.errors import ActionError, NotPermitted
from portal.operations import TargetBusy
from scheduler import choices as c
from scheduler import ha_events, snapshot
from scheduler.forms import HaSettingsForm, SettingsForm
from scheduler.models import ClusterSchedulerSettings, HaEvent, Recommendation, ServerGroup
from scheduler.services import admission, evc, power, recommendations

RECENT = 20
CLUSTER_VERBS = {"drs": recommendations.run_drs, "dpm": recommendations.run_dpm}
HOST_VERBS = {"power-on": c.PowerAction.ON, "power-off": c.PowerAction.OFF}


@login_required
def index(request):
    if not request.user.is_staff:
        groups = ServerGroup.objects.visible_to(request.user).select_related("project").prefetch_related("members")
        return render(request, "scheduler/server_groups.html", {"groups": groups})
    clusters = Cluster.objects.prefetch_related("hosts").select_related("scheduler_settings")
    return render(
        request,
        "scheduler/index.html",
        {
            "clusters": clusters,
            "recommendations": Recommendation.objects.open().select_related("cluster")[:RECENT],
        },
    )


@staff_member_required
def cluster_detail(request, pk):
    cluster = get_object_or_404(Cluster, pk=pk)
    settings = snapshot.settings_for(cluster)
    form = SettingsForm(request.POST or None, instance=settings)
    if request.method == "POST" and form.is_valid():
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        recommendations.update_settings(request.user, cluster, request=request, **changed)
        messages.success(request, "Settings saved.")
        return redirect("scheduler:cluster", pk=cluster.pk)
    context = {
        "cluster": cluster,
        "form": form,
        "settings": settings,
        "hosts": Host.objects.filter(cluster=cluster).select_related("power", "power_driver"),
        "ha_events": HaEvent.objects.filter(cluster=cluster).select_related("host", "instance")[:RECENT],
        "ha_group": f"{ha_events.CLUSTER_GROUP}.{cluster.pk}",
        "admission": admission.admission_status(cluster),
        **_recommendations(cluster),
    }
    return render(request, "scheduler/cluster.html", context)


def _recommendations(cluster):
    recs = list(Recommendation.objects.filter(cluster=cluster).select_related("decided_by")[:RECENT])
    return {"recommendations": recs, "applying": any(r.state == c.RecommendationState.APPROVED for r in recs)}


@staff_member_required
def recommendations_partial(request, pk):
    cluster = get_object_or_404(Cluster, pk=pk)
    return render(request, "scheduler/_recommendations.html", {"cluster": cluster, **_recommendations(cluster)})


@staff_member_required
@require_POST
def cluster_run(request, pk, verb):
    cluster = get_object_or_404(Cluster, pk=pk)
    if verb == "evc":
        op = evc.request_evc(request.user, cluster, request)
        messages.info(request, f"CPU baseline queued (operation {op.pk}).")
    elif verb in CLUSTER_VERBS:
        outcome = CLUSTER_VERBS[verb](cluster, request.user, request)
        messages.info(request, outcome.message)
    else:
        raise Http404(verb)
    return redirect("scheduler:cluster", pk=cluster.pk)


@staff_member_required
@require_POST
def decide(request, pk, decision):
    rec = get_object_or_404(Recommendation, pk=pk)
    verbs = {"approve": recommendations.approve, "reject": recommendations.reject}
    if decision not in verbs:
        raise Http404(decision)
    try:
        verbs[decision](request.user, rec, request)
    except ActionError as exc:
        messages.error(request, str(exc))
    return redirect("scheduler:cluster", pk=rec.cluster_id)


@staff_member_required
@require_POST
def host_power(request, pk, verb):
    host = get_object_or_404(Host, pk=pk)
    if verb not in HOST_VERBS:
        raise Http404(verb)
    try:
        op = power.request_power(request.user, host, HOST_VERBS[verb], request=request)
        messages.info(request, f"{verb} of {host.name} queued (operation {op.pk}).")
    except (ActionError, TargetBusy) as exc:
        messages.error(request, str(exc))
    return redirect("scheduler:cluster", pk=host.cluster_id)


# --- an instance's HA settings and events ----------------------------------------------------


def _ha_context(request, instance, form):
    cluster_id = instance.host.cluster_id if instance.host else None
    return {
        "instance": instance,
        "form": form,
        "can_edit": compute_services.may_set_ha_priority(request.user, instance),
        "cluster_settings": ClusterSchedulerSettings.objects.filter(cluster_id=cluster_id)
        .only("cluster_id", "ha_enabled", "ha_restart_limit", "ha_restart_window_s")
        .first(),
        # Only what _ha_events.html shows (the instance's and host's 60 other columns were most
        # of the query's cost, rows or none).
        "ha_events": HaEvent.objects.visible_to(request.user)
        .filter(instance=instance)
        .select_related("host", "instance")
        .only("created", "kind", "detail", "host__name", "instance__name")[:RECENT],
        "ha_group": instance.group,
    }


def instance_ha_panel(request, instance):
    """compute's instance page panel (compute.hooks.register_instance_panel); its unbound form's
    fields drawn once per process for each setting (Django's widget templates cost the page 1 ms)."""
    context = _ha_context(request, instance, form=None)
    if context["can_edit"]:
        context["form_fields"] = _unbound_form_fields(**HaSettingsForm.initial_for(instance))
    return render_to_string("scheduler/_instance_ha.html", context, request=request)


@lru_cache(maxsize=16)
def _unbound_form_fields(enabled, priority):
    form = HaSettingsForm(initial={"enabled": enabled, "priority": priority})
    return render_to_string("_form_fields.html", {"form": form})


@login_required
def instance_ha(request, pk):
    instance = get_object_or_404(
        Instance.objects.visible_to(request.user).live().select_related("project", "host"), pk=pk
    )
    form = HaSettingsForm(request.POST or None, initial=HaSettingsForm.initial_for(instance))
    if request.method == "POST" and form.is_valid():
        try:
            compute_services.set_ha_priority(request.user, instance, form.ha_priority(), request)
        except NotPermitted as exc:
            raise PermissionDenied(str(exc)) from exc
        except ActionError as exc:
            form.add_error("priority" if exc.field == "ha_priority" else None, str(exc))
        else:
            messages.success(request, "HA settings saved.")
            return redirect("compute:instance-detail", pk=instance.pk)
    return render(
        request, "scheduler/instance_ha.html", _ha_context(request, instance, form), status=400 if form.errors else 200
    )
