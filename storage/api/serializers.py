"""Storage API serializers: resources, and the input of each action (unknown fields refused)."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from compute.models import Host, Image, Instance
from portal.api.base import ProjectOwnedSerializer, StrictFieldsMixin, TenantSafeMixin, VisibleRelatedField
from storage.choices import (
    MAX_VOLUME_GB,
    CloneMode,
    DeviceType,
    DiscardMode,
    DiskBus,
    DiskCache,
    PoolType,
    Provisioning,
    SnapshotKind,
    VolumeFormat,
    VolumeSource,
)
from storage.models import Snapshot, SnapshotLayer, StoragePool, Volume


class StoragePoolSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    # A mapped LUN names its volume and project: cloud admins (who map LUNs) only.
    admin_only_fields = ("target_path", "source_host", "source_dir", "source_name", "source_device", "luns")
    hosts = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all(), many=True)
    provisioned_gb = serializers.SerializerMethodField()
    luns = serializers.SerializerMethodField()

    class Meta:
        model = StoragePool
        fields = [
            "id",
            "name",
            "libvirt_name",
            "type",
            "hosts",
            "target_path",
            "source_host",
            "source_dir",
            "source_name",
            "source_device",
            "source_format",
            "state",
            "state_reason",
            "capacity_bytes",
            "allocation_bytes",
            "available_bytes",
            "provisioned_gb",
            "overcommit_limit",
            "luns",
            "simulated",
            "refreshed",
            "created",
        ]
        read_only_fields = [
            "state",
            "state_reason",
            "capacity_bytes",
            "allocation_bytes",
            "available_bytes",
            "simulated",
            "refreshed",
            "created",
        ]

    def get_provisioned_gb(self, pool) -> int:
        return pool.provisioned_gb()

    def get_luns(self, pool) -> list[dict]:
        """A LUN pool's LUNs (libvirt's names, as map-device takes them) and what each is mapped as."""
        return [
            {
                "name": row["name"],
                "capacity_bytes": row["capacity_bytes"],
                "volume": row["volume"].pk if row["volume"] else None,
                "project": row["volume"].project_id if row["volume"] else None,
            }
            for row in pool.lun_rows()
        ]


class VolumeSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    """Read: everything but host paths (cloud admins only). Write (PATCH): name, description, is_template."""

    admin_only_fields = ("path", "backing_path", "device_path")

    class Meta:
        model = Volume
        fields = [
            "id",
            "uuid",
            "project",
            "name",
            "description",
            "pool",
            "format",
            "size_gb",
            "provisioning",
            "source",
            "source_image",
            "backing_volume",
            "backing_snapshot",
            "is_template",
            "state",
            "state_reason",
            "path",
            "backing_path",
            "allocation_bytes",
            "device_path",
            "device_type",
            "instance",
            "target_dev",
            "bus",
            "cache",
            "discard",
            "readonly",
            "shareable",
            "simulated",
            "created",
            "updated",
        ]
        read_only_fields = [f for f in fields if f not in ("project", "name", "description", "is_template")]


class VolumeCreateSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    pool = serializers.PrimaryKeyRelatedField(queryset=StoragePool.objects.all())
    size_gb = serializers.IntegerField(min_value=1, max_value=MAX_VOLUME_GB, required=False)
    source = serializers.ChoiceField(
        choices=[c for c in VolumeSource.values if c != VolumeSource.DEVICE], default=VolumeSource.EMPTY
    )
    image = VisibleRelatedField(queryset=Image.objects.all(), required=False)
    source_volume = serializers.PrimaryKeyRelatedField(queryset=Volume.objects.all(), required=False)
    source_snapshot = serializers.PrimaryKeyRelatedField(queryset=Snapshot.objects.all(), required=False)
    clone_mode = serializers.ChoiceField(choices=CloneMode.choices, default=CloneMode.FULL)

    class Meta:
        model = Volume
        fields = [
            "project",
            "name",
            "description",
            "pool",
            "size_gb",
            "format",
            "provisioning",
            "source",
            "image",
            "source_volume",
            "source_snapshot",
            "clone_mode",
        ]

    def get_fields(self):
        fields = super().get_fields()
        user = self.context["request"].user
        if not user.is_authenticated:  # the schema generator's anonymous request
            return fields
        fields["image"].queryset = Image.objects.visible_to(user)
        fields["source_volume"].queryset = Volume.objects.visible_to(user)
        fields["source_snapshot"].queryset = Snapshot.objects.visible_to(user)
        return fields


class MapDeviceSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    class Meta:
        model = Volume
        fields = ["project", "name", "pool", "device_path", "device_type", "size_gb", "bus"]


class AttachSerializer(StrictFieldsMixin, serializers.Serializer):
    instance = serializers.PrimaryKeyRelatedField(queryset=Instance.objects.none())
    bus = serializers.ChoiceField(choices=DiskBus.choices, required=False)
    cache = serializers.ChoiceField(choices=DiskCache.choices, required=False)
    discard = serializers.ChoiceField(choices=DiscardMode.choices, required=False)
    readonly = serializers.BooleanField(required=False)
    shareable = serializers.BooleanField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        # Another tenant's instance "does not exist" (400), never a hint that it does.
        fields["instance"].queryset = Instance.objects.visible_to(self.context["request"].user).live()
        return fields


@extend_schema_serializer(component_name="VolumeResize")  # not compute's (instance) Resize
class ResizeSerializer(StrictFieldsMixin, serializers.Serializer):
    size_gb = serializers.IntegerField(min_value=1, max_value=MAX_VOLUME_GB)


class CloneSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=63)
    mode = serializers.ChoiceField(choices=CloneMode.choices, default=CloneMode.FULL)


class MigrateSerializer(StrictFieldsMixin, serializers.Serializer):
    pool = serializers.PrimaryKeyRelatedField(queryset=StoragePool.objects.all())


class DeleteSerializer(StrictFieldsMixin, serializers.Serializer):
    wipe = serializers.BooleanField(default=False)


class SnapshotLayerSerializer(TenantSafeMixin, serializers.ModelSerializer):
    """One disk's frozen file in an external instance snapshot (volume empty: the root disk)."""

    admin_only_fields = ("layer_path", "layer_backing")

    class Meta:
        model = SnapshotLayer
        fields = ["target_dev", "volume", "layer_path", "layer_backing"]
        read_only_fields = fields


class SnapshotSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    admin_only_fields = ("layer_path", "layer_backing", "overlay_path")
    children = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    layers = SnapshotLayerSerializer(many=True, read_only=True)

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "project",
            "name",
            "description",
            "instance",
            "volume",
            "parent",
            "children",
            "kind",
            "current",
            "layer_path",
            "layer_backing",
            "overlay_path",
            "layers",
            "with_memory",
            "size_bytes",
            "state",
            "state_reason",
            "simulated",
            "created",
        ]
        read_only_fields = [f for f in fields if f not in ("name", "description")]


class SnapshotCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=63)
    description = serializers.CharField(max_length=500, required=False, default="")
    kind = serializers.ChoiceField(choices=SnapshotKind.choices, required=False)
    volume = serializers.PrimaryKeyRelatedField(queryset=Volume.objects.none(), required=False)
    instance = serializers.PrimaryKeyRelatedField(queryset=Instance.objects.none(), required=False)

    def get_fields(self):
        fields = super().get_fields()
        user = self.context["request"].user
        fields["volume"].queryset = Volume.objects.visible_to(user)
        fields["instance"].queryset = Instance.objects.visible_to(user).live()
        return fields


__all__ = ["DeviceType", "PoolType", "Provisioning", "VolumeFormat"]
