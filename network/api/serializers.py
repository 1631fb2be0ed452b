"""Serializers: what the API shows and accepts. Rules live on the models and in services."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from network import conf as net_settings
from network.choices import Backend
from network.models import (
    FloatingIP,
    LoadBalancer,
    Network,
    OvnDeployment,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from portal.api.base import IdField, ProjectOwnedSerializer, StrictFieldsMixin


class VisibleField(serializers.PrimaryKeyRelatedField):
    """A related object the caller may see; another tenant's id is 'does not exist'."""

    def __init__(self, model, **kwargs):
        self.model = model
        kwargs.setdefault("queryset", model.objects.all())  # its type, for the schema
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.visible_to(self.context["request"].user)


REALISED = ("uuid", "state", "state_reason", "created")


class NetworkSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    backend_label = serializers.SerializerMethodField()
    subnets = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Network
        fields = [
            "id",
            "project",
            "name",
            "description",
            "shared",
            "external",
            "segment_type",
            "tunnel_key",
            "physical_network",
            "vlan_id",
            "mtu",
            "backend",
            "backend_label",
            "subnets",
            *REALISED,
        ]
        read_only_fields = ["tunnel_key", "backend", *REALISED]

    def get_backend_label(self, network) -> str:
        """The backend's name, or what to know about it (the embedded default's Northbound:
        logical config only, no data plane)."""
        if network.backend == Backend.OVN and net_settings.embedded_nb():
            return net_settings.EMBEDDED_NOTE
        return network.get_backend_display()

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            for name in ("segment_type", "physical_network", "vlan_id"):
                fields[name].read_only = True
        return fields


class SubnetSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    optional_name = True
    network = VisibleField(Network)

    class Meta:
        model = Subnet
        fields = [
            "id",
            "project",
            "network",
            "name",
            "ip_version",
            "cidr",
            "gateway_ip",
            "allocation_pools",
            "dns_nameservers",
            "host_routes",
            "enable_dhcp",
            "ipv6_ra_mode",
            "ipv6_address_mode",
            *REALISED,
        ]
        read_only_fields = ["project", "ip_version", *REALISED]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            # The modes decide the ports' addresses (EUI-64), so they are set once, at creation.
            for name in ("network", "cidr", "ipv6_ra_mode", "ipv6_address_mode"):
                fields[name].read_only = True
        return fields


class FixedIpSerializer(serializers.Serializer):
    subnet = IdField(required=False)
    ip_address = serializers.IPAddressField(required=False)


class PortSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    optional_name = True
    network = VisibleField(Network)
    security_groups = VisibleField(SecurityGroup, many=True, required=False)
    fixed_ips = FixedIpSerializer(many=True, required=False)
    interface_id = serializers.CharField(read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Port
        fields = [
            "id",
            "project",
            "network",
            "name",
            "mac_address",
            "fixed_ips",
            "port_security",
            "admin_state_up",
            "security_groups",
            "device_owner",
            "device_id",
            "instance",
            "status",
            "status_label",
            "interface_id",
            *REALISED,
        ]
        read_only_fields = ["device_owner", "device_id", "instance", "status", *REALISED]
        extra_kwargs = {"mac_address": {"required": False}}

    def to_representation(self, port):
        body = super().to_representation(port)
        body["fixed_ips"] = [{"subnet": a.subnet_id, "ip_address": a.address} for a in port.ip_allocations.all()]
        return body

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            for name in ("network", "mac_address", "fixed_ips"):
                fields[name].read_only = True
        return fields


class RuleSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    group = VisibleField(SecurityGroup)
    remote_group = VisibleField(SecurityGroup, required=False, allow_null=True)

    class Meta:
        model = SecurityGroupRule
        fields = [
            "id",
            "project",
            "group",
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_cidr",
            "remote_group",
            "description",
            "created",
        ]
        read_only_fields = ["project", "created"]


class SecurityGroupSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    rules = serializers.SerializerMethodField()

    class Meta:
        model = SecurityGroup
        fields = ["id", "project", "name", "description", "is_default", "rules", *REALISED]
        read_only_fields = ["is_default", *REALISED]

    def get_rules(self, group) -> list[dict]:
        return [{"id": r.id, "summary": str(r)} for r in group.rules.all()]


class RouterSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    external_network = VisibleField(Network, required=False, allow_null=True)
    gateway_ip = serializers.SerializerMethodField()
    interfaces = serializers.SerializerMethodField()

    class Meta:
        model = Router
        fields = [
            "id",
            "project",
            "name",
            "external_network",
            "enable_snat",
            "routes",
            "gateway_ip",
            "interfaces",
            *REALISED,
        ]
        read_only_fields = list(REALISED)

    def get_gateway_ip(self, router) -> str | None:
        allocation = router.gateway_allocation
        return allocation.address if allocation else None

    def get_interfaces(self, router) -> list[dict]:
        return [
            {"subnet": i.subnet_id, "port": i.port_id, "ip_address": i.subnet.gateway_ip}
            for i in router.interfaces.all()
        ]


class SubnetChoiceSerializer(serializers.Serializer):
    subnet = VisibleField(Subnet)


class FloatingIPSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    optional_name = True
    network = VisibleField(Network)
    port = VisibleField(Port, required=False, allow_null=True)
    floating_ip_address = serializers.CharField(source="allocation.address", read_only=True)

    class Meta:
        model = FloatingIP
        fields = ["id", "project", "name", "network", "port", "floating_ip_address", "fixed_ip", "router", *REALISED]
        read_only_fields = ["fixed_ip", "router", *REALISED]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            fields["network"].read_only = fields["port"].read_only = True
        return fields


class PortChoiceSerializer(serializers.Serializer):
    port = VisibleField(Port)


class MemberSerializer(serializers.Serializer):
    address = serializers.IPAddressField()
    port = serializers.IntegerField(min_value=1, max_value=65535)
    status = serializers.CharField(read_only=True)


class LoadBalancerSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    subnet = VisibleField(Subnet)
    vip_address = serializers.IPAddressField(required=False)
    members = MemberSerializer(many=True, required=False)

    class Meta:
        model = LoadBalancer
        fields = [
            "id",
            "project",
            "name",
            "subnet",
            "vip_address",
            "monitor_address",
            "protocol",
            "port",
            "members",
            "health_check",
            "hc_interval",
            "hc_timeout",
            "hc_success_count",
            "hc_failure_count",
            *REALISED,
        ]
        read_only_fields = ["monitor_address", *REALISED]

    def to_representation(self, lb):
        body = super().to_representation(lb)
        body["vip_address"] = lb.vip
        body["members"] = [{"address": m.address, "port": m.port, "status": m.status} for m in lb.members.all()]
        return body

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            fields["subnet"].read_only = fields["vip_address"].read_only = True
        return fields


class OvnDeploymentSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """The registered OVN endpoints, and what the portal uses now (environment variables win)."""

    effective = serializers.SerializerMethodField()
    updated = serializers.DateTimeField(read_only=True, allow_null=True)  # null until first saved

    class Meta:
        model = OvnDeployment
        fields = ["nb_connection", "sb_connection", "gateway_chassis", "encap_type", "updated", "effective"]
        read_only_fields = ["updated"]

    def validate(self, attrs):
        candidate = OvnDeployment(**{**{f: getattr(self.instance, f) for f in self.Meta.fields[:4]}, **attrs})
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return {field: getattr(candidate, field) for field in attrs}

    def get_effective(self, deployment) -> dict:
        return {
            "nb_connection": net_settings.ovn_nb_endpoint(),
            "sb_connection": net_settings.ovn_sb_endpoint(),
            "gateway_chassis": net_settings.gateway_chassis(),
            "encap_type": net_settings.overlay_type(),
            "backend": net_settings.backend_path().rpartition(".")[2],
            "embedded_nb": net_settings.embedded_nb(),  # the embedded default's own NB: no data plane
            "from_environment": sorted(
                v for v in net_settings.OVN_VARIABLES if net_settings.source(v) == "environment"
            ),
        }
