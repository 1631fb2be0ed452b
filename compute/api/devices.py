"""Host PCI / SR-IOV devices (cloud admins only): list, register, assign to an instance by
PATCHing ``instance``. Every answer carries the note that passthrough has not run here."""

from rest_framework import serializers, viewsets

from compute.api.serializers import ModelCleanMixin
from compute.models import HostDevice
from compute.models.devices import PASSTHROUGH_NOTE
from portal.api.base import StrictFieldsMixin
from portal.api.permissions import StaffOnly


class HostDeviceSerializer(StrictFieldsMixin, ModelCleanMixin, serializers.ModelSerializer):
    host_name = serializers.CharField(source="host.name", read_only=True)
    instance_name = serializers.CharField(source="instance.name", read_only=True, default=None, allow_null=True)
    note = serializers.SerializerMethodField()

    class Meta:
        model = HostDevice
        fields = [
            "id",
            "host",
            "host_name",
            "pci_address",
            "kind",
            "description",
            "instance",
            "instance_name",
            "note",
            "created",
        ]
        read_only_fields = ["created"]

    def get_note(self, _device) -> str:
        return (
            f"{PASSTHROUGH_NOTE} An assignment takes effect when the instance's domain is next defined "
            "(e.g. a cold resize or rebuild)."
        )


class HostDeviceViewSet(viewsets.ModelViewSet):
    queryset = HostDevice.objects.select_related("host", "instance")
    serializer_class = HostDeviceSerializer
    permission_classes = [StaffOnly]
    filterset_fields = ["host", "kind", "instance"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
