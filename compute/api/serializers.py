"""Serializers of the compute API. InstanceSerializer is also what the websocket publishes."""

import copy

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compute import console
from compute.choices import MAX_NAME_LENGTH, STOP_TIMEOUT_MAX_S, HostState, RebootKind
from compute.models import Cluster, Flavor, HaPriority, Host, Image, Instance, KeyPair
from compute.models.catalog import MAX_CPU_SHARES, MAX_RAM_MB
from compute.models.instances import validate_instance_name
from compute.services import metadata, overcommit
from compute.services.keypairs import generate_key_pair
from portal.api.base import IdField, ProjectOwnedSerializer, StrictFieldsMixin, VisibleRelatedField

MAX_NICS = 8
MAX_SECURITY_GROUPS = 10  # on each port of a new instance


class ModelCleanMixin:
    """Run the model's clean() on the would-be object, so API and forms share the rules."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        obj = copy.copy(self.instance) if self.instance is not None else self.Meta.model()
        for name, value in attrs.items():
            setattr(obj, name, value)
        obj.clean()  # a Django ValidationError becomes a 400 with field messages
        self.cleaned_object = obj
        return attrs


class ClusterSerializer(StrictFieldsMixin, ModelCleanMixin, serializers.ModelSerializer):
    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "description",
            "cpu_overcommit",
            "ram_overcommit",
            "disk_overcommit",
            "cpu_baseline_model",
            "created",
        ]
        read_only_fields = ["cpu_baseline_model", "created"]


HOST_FIELDS = [
    "id",
    "name",
    "uri",
    "cluster",
    "cluster_name",
    "state",
    "state_reason",
    "simulated",
    "kvm_usable",
    "kvm_note",
    "cpus",
    "mhz",
    "memory_mb",
    "numa_nodes",
    "disk_gb",
    "reserved_memory_mb",
    "facts",
    "refreshed",
    "created",
    "credentials_path",
    "migration_uri",
    "serial_log_dir",
    "default_network",
    "memory_overcommit",
]


class HostSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    admin_only_fields = ("uri", "migration_uri", "serial_log_dir")
    cluster_name = serializers.CharField(source="cluster.name", read_only=True)
    memory_overcommit = serializers.SerializerMethodField(
        help_text="Instance RAM and balloon targets against the host's RAM; KSM and swap where readable"
    )

    class Meta:
        model = Host
        fields = HOST_FIELDS
        read_only_fields = [
            "state",
            "state_reason",
            "simulated",
            "kvm_usable",
            "kvm_note",
            "cpus",
            "mhz",
            "memory_mb",
            "numa_nodes",
            "facts",
            "refreshed",
            "created",
        ]
        # A path to credentials on the portal's machine: accepted, never shown back.
        extra_kwargs = {"credentials_path": {"write_only": True, "required": False}}

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            fields["uri"].read_only = True  # a different URI is a different host
        return fields

    def get_memory_overcommit(self, host) -> dict:
        return overcommit.summary(host)


class KsmSerializer(StrictFieldsMixin, serializers.Serializer):
    run = serializers.ChoiceField(
        choices=[0, 1, 2],
        required=False,
        help_text="0 stop, 1 run, 2 stop and unmerge every page (hosts whose /sys the portal reads)",
    )
    pages_to_scan = serializers.IntegerField(
        required=False, min_value=0, max_value=100_000, help_text="pages per scan (0 pauses merging); any real host"
    )
    sleep_millisecs = serializers.IntegerField(
        required=False, min_value=0, max_value=60_000, help_text="sleep between scans; any real host"
    )
    merge_across_nodes = serializers.IntegerField(
        required=False, min_value=0, max_value=1, help_text="merge pages of different NUMA nodes; any real host"
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give run, pages_to_scan, sleep_millisecs or merge_across_nodes.")
        return attrs


class HostStateSerializer(StrictFieldsMixin, serializers.Serializer):
    state = serializers.ChoiceField(choices=[HostState.UP, HostState.DOWN, HostState.MAINTENANCE, HostState.STANDBY])
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class FlavorSerializer(StrictFieldsMixin, ModelCleanMixin, serializers.ModelSerializer):
    class Meta:
        model = Flavor
        fields = [
            "id",
            "name",
            "vcpus",
            "ram_mb",
            "disk_gb",
            "cpu_shares",
            "cpu_reservation_mhz",
            "cpu_limit_pct",
            "cpu_policy",
            "numa_nodes",
            "hugepages",
            "nic_queues",
            "disk_bus",
            "watchdog",
            "linked_clone",
            "memory_slots",
            "max_ram_mb",
            "visibility",
            "project",
            "created",
        ]
        read_only_fields = ["created"]


class ImageSerializer(StrictFieldsMixin, ModelCleanMixin, serializers.ModelSerializer):
    admin_only_fields = ("kernel_path", "initrd_path")

    class Meta:
        model = Image
        fields = [
            "id",
            "name",
            "format",
            "size_bytes",
            "virtual_size_gb",
            "checksum_sha256",
            "min_disk_gb",
            "min_ram_mb",
            "os_type",
            "visibility",
            "project",
            "pool",
            "volume",
            "state",
            "state_reason",
            "kernel_path",
            "initrd_path",
            "kernel_cmdline",
            "created",
        ]
        read_only_fields = ["state_reason", "created"]


class ImageImportSerializer(StrictFieldsMixin, serializers.Serializer):
    url = serializers.URLField(
        required=False, max_length=2000, help_text="An http(s) URL the worker fetches (Glance's web-download)"
    )
    path = serializers.CharField(
        required=False,
        max_length=1000,
        help_text="A file under NUBES_IMAGE_IMPORT_ROOTS on the machine of the worker that runs the import",
    )

    def validate(self, attrs):
        if ("url" in attrs) == ("path" in attrs):
            raise serializers.ValidationError({"url": ["Give either url or path."]})
        return attrs


class KeyPairSerializer(StrictFieldsMixin, ModelCleanMixin, ProjectOwnedSerializer):
    public_key = serializers.CharField(required=False, max_length=KeyPair._meta.get_field("public_key").max_length)

    class Meta:
        model = KeyPair
        fields = ["id", "project", "name", "public_key", "fingerprint", "created"]
        read_only_fields = ["fingerprint", "created"]

    def validate(self, attrs):
        self.private_key = None
        if self.instance is None and not attrs.get("public_key"):
            attrs["public_key"], self.private_key = generate_key_pair()
        attrs = super().validate(attrs)
        attrs["public_key"] = self.cleaned_object.public_key
        attrs["fingerprint"] = self.cleaned_object.fingerprint
        return attrs

    def to_representation(self, key_pair):
        data = super().to_representation(key_pair)
        if getattr(self, "private_key", None):
            data["private_key"] = self.private_key  # shown once, never stored
        return data


INSTANCE_FIELDS = [
    "id",
    "uuid",
    "name",
    "project",
    "flavor",
    "flavor_name",
    "image",
    "image_name",
    "host",
    "host_name",
    "simulated",
    "key_pair",
    "state",
    "state_label",
    "state_reason",
    "power_state",
    "power_state_label",
    "locked",
    "vcpus",
    "ram_mb",
    "disk_gb",
    "balloon_mb",
    "cpu_shares",
    "cpu_limit_pct",
    "domain_name",
    "created",
    "updated",
    "launched",
    "ha_priority",
    "metadata",
    "console_refusal",
]


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": metadata.MAX_LENGTH},
        "maxProperties": metadata.MAX_ITEMS,
        "description": (
            f"The tenant's key/value strings (Nova's server metadata): keys 1 to {metadata.MAX_LENGTH} "
            f"characters, values up to {metadata.MAX_LENGTH}; more than {metadata.MAX_ITEMS} items is a 403"
        ),
    }
)
class MetadataField(serializers.JSONField):
    """Checked by compute.services.metadata (its messages, its limits), not here."""


class InstanceSerializer(serializers.ModelSerializer):
    """Read-only: what the API lists and the websocket publishes (no request needed)."""

    metadata = MetadataField(read_only=True)

    flavor_name = serializers.CharField(source="flavor.name", read_only=True)
    image_name = serializers.CharField(source="image.name", read_only=True)
    host_name = serializers.CharField(source="host.name", read_only=True, default=None, allow_null=True)
    simulated = serializers.BooleanField(source="host.simulated", read_only=True, default=False)
    # Why the graphical console cannot open now (null when it can): published with the state,
    # so the instance page's console panel follows starts and stops.
    console_refusal = serializers.SerializerMethodField()
    # The human labels the pages show, so live updates show the same words as a reload.
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    power_state_label = serializers.CharField(source="get_power_state_display", read_only=True)

    class Meta:
        model = Instance
        fields = INSTANCE_FIELDS
        read_only_fields = INSTANCE_FIELDS

    def get_console_refusal(self, instance) -> str | None:
        return console.refusal(instance)


def id_list(most, help_text):
    """An optional, write-only list of ids (what a create attaches)."""
    return serializers.ListField(child=IdField(), required=False, write_only=True, max_length=most, help_text=help_text)


class InstanceCreateSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    name = serializers.CharField(max_length=MAX_NAME_LENGTH, validators=[validate_instance_name])
    flavor = VisibleRelatedField(queryset=Flavor.objects.all())
    image = VisibleRelatedField(queryset=Image.objects.all())
    key_pair = serializers.PrimaryKeyRelatedField(queryset=KeyPair.objects.none(), required=False, allow_null=True)
    host = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), required=False, write_only=True, help_text="Cloud admins only"
    )
    cluster = serializers.PrimaryKeyRelatedField(
        queryset=Cluster.objects.all(), required=False, write_only=True, help_text="Cloud admins only"
    )
    networks = id_list(MAX_NICS, "Ids of networks to attach (one port and NIC each, in this order)")
    security_groups = id_list(
        MAX_SECURITY_GROUPS, "Ids of the project's security groups for every port (none: the default group; needs OVN)"
    )

    class Meta:
        model = Instance
        fields = [
            "project",
            "name",
            "flavor",
            "image",
            "key_pair",
            "user_data",
            "host",
            "cluster",
            "networks",
            "security_groups",
        ]
        extra_kwargs = {"user_data": {"trim_whitespace": False}}  # delivered to the guest byte for byte

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["key_pair"].queryset = KeyPair.objects.visible_to(request.user)
        return fields


class InstanceUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    """PATCH: a new name, new metadata (replaces the whole set; {} clears it), or both."""

    name = serializers.CharField(max_length=MAX_NAME_LENGTH, validators=[validate_instance_name], required=False)
    metadata = MetadataField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["name"].required = False  # StrictFieldsMixin requires a name unless updating an instance
        return fields

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give name, metadata or both.")
        return attrs


class StopSerializer(StrictFieldsMixin, serializers.Serializer):
    timeout = serializers.FloatField(required=False, min_value=0, max_value=STOP_TIMEOUT_MAX_S, default=None)
    force = serializers.BooleanField(required=False, default=False)


class CreateImageSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=63)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)


class RebootSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=RebootKind.choices, default=RebootKind.SOFT)


class ResizeSerializer(StrictFieldsMixin, serializers.Serializer):
    flavor = VisibleRelatedField(queryset=Flavor.objects.all())


class RebuildSerializer(StrictFieldsMixin, serializers.Serializer):
    image = VisibleRelatedField(queryset=Image.objects.all())


class HaPrioritySerializer(StrictFieldsMixin, serializers.Serializer):
    ha_priority = serializers.ChoiceField(
        choices=HaPriority.choices, help_text="HA restart priority: 0 not protected, 1 low, 2 medium, 3 high"
    )


class BalloonSerializer(StrictFieldsMixin, serializers.Serializer):
    memory_mb = serializers.IntegerField(min_value=1, max_value=MAX_RAM_MB)


class CpuQosSerializer(StrictFieldsMixin, serializers.Serializer):
    shares = serializers.IntegerField(required=False, min_value=2, max_value=MAX_CPU_SHARES)
    limit_pct = serializers.IntegerField(required=False, min_value=1, max_value=100)
