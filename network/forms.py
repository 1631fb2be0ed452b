"""The create and edit forms of the network pages. Each form's save() calls one service verb;
the models' rules (clean) and the services' refusals come back as field errors."""

from django import forms
from django.core.exceptions import ValidationError

from network import services
from network.choices import DeviceOwner, Direction, EtherType, Ipv6Mode, LbProtocol, Protocol, State
from network.form_fields import (
    ROUTE_SEPARATOR,
    ROUTE_SHAPE,
    HostRoutesField,
    MembersField,
    PoolsField,
    parse_route,
    show_route,
)
from network.models import Network, OvnDeployment, Port, SecurityGroup, Subnet
from network.models.load_balancers import HC_FAILURE, HC_INTERVAL_S, HC_SUCCESS, HC_TIMEOUT_S
from portal.names import NameField


def _split(text):
    return [item.strip() for item in (text or "").split(",") if item.strip()]


class ServiceForm(forms.Form):
    """A form whose save(user, project) calls a service; errors land on the right field."""

    def __init__(self, *args, project, **kwargs):
        self.project = project
        super().__init__(*args, **kwargs)

    def add_refusal(self, exc):
        if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
            return
        field = getattr(exc, "field", None)
        self.add_error(
            field if field in self.fields else None, str(exc.messages[0] if hasattr(exc, "messages") else exc)
        )


class NetworkForm(ServiceForm):
    name = NameField(max_length=63)
    description = forms.CharField(max_length=255, required=False)
    mtu = forms.IntegerField(required=False, min_value=1280, max_value=9000)

    def save(self, user):
        return services.create_network(user, self.project, **self.cleaned_data)


IPV6_MODE_CHOICES = [("", "None"), *Ipv6Mode.choices]


class SubnetForm(ServiceForm):
    network = forms.ModelChoiceField(queryset=Network.objects.none())
    name = NameField(max_length=63, required=False)
    cidr = forms.CharField(max_length=43, help_text="e.g. 10.0.0.0/24 or fd00::/64")
    gateway_ip = forms.CharField(required=False)
    dns_nameservers = forms.CharField(required=False, help_text="comma-separated")
    enable_dhcp = forms.BooleanField(required=False, initial=True)
    ipv6_ra_mode = forms.ChoiceField(
        choices=IPV6_MODE_CHOICES,
        required=False,
        label="IPv6 RA mode",
        help_text="IPv6 only: router advertisements from the router interface",
    )
    ipv6_address_mode = forms.ChoiceField(choices=IPV6_MODE_CHOICES, required=False, label="IPv6 address mode")
    allocation_pools = PoolsField(label="Allocation pools")
    host_routes = HostRoutesField(label="Host routes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["network"].queryset = Network.objects.filter(project=self.project)

    def save(self, user):
        data = dict(self.cleaned_data)
        data["dns_nameservers"] = _split(data["dns_nameservers"])
        data["gateway_ip"] = data["gateway_ip"] or None
        data["ipv6_ra_mode"] = data["ipv6_ra_mode"] or None
        data["ipv6_address_mode"] = data["ipv6_address_mode"] or None
        return services.create_subnet(user, data.pop("network"), **data)


class PortForm(ServiceForm):
    network = forms.ModelChoiceField(queryset=Network.objects.none())
    name = NameField(max_length=63, required=False)
    ip_address = forms.GenericIPAddressField(required=False, help_text="empty: the next free address")
    port_security = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["network"].queryset = Network.objects.usable_in(self.project)

    def save(self, user):
        data = dict(self.cleaned_data)
        address = data.pop("ip_address")
        fixed = [{"ip_address": address}] if address else None
        return services.create_port(user, self.project, data.pop("network"), fixed_ips=fixed, **data)


class SecurityGroupForm(ServiceForm):
    name = NameField(max_length=63)
    description = forms.CharField(max_length=255, required=False)

    def save(self, user):
        return services.create_security_group(user, self.project, **self.cleaned_data)


class RuleForm(ServiceForm):
    group = forms.ModelChoiceField(queryset=SecurityGroup.objects.none())
    direction = forms.ChoiceField(choices=Direction.choices)
    ethertype = forms.ChoiceField(choices=EtherType.choices)
    protocol = forms.ChoiceField(choices=Protocol.choices)
    port_range_min = forms.IntegerField(required=False)
    port_range_max = forms.IntegerField(required=False)
    remote_cidr = forms.CharField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = SecurityGroup.objects.filter(project=self.project)

    def save(self, user):
        data = dict(self.cleaned_data)
        return services.create_rule(user, data.pop("group"), **data)


class RouterForm(ServiceForm):
    name = NameField(max_length=63)
    external_network = forms.ModelChoiceField(queryset=Network.objects.filter(external=True), required=False)

    def save(self, user):
        return services.create_router(user, self.project, **self.cleaned_data)


class FloatingIPForm(ServiceForm):
    network = forms.ModelChoiceField(queryset=Network.objects.filter(external=True))
    port = forms.ModelChoiceField(queryset=Port.objects.none(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["port"].queryset = attachable_ports(self.project)

    def save(self, user):
        data = dict(self.cleaned_data)
        return services.create_floating_ip(user, self.project, data.pop("network"), **data)


class LoadBalancerFields(forms.Form):
    """What a tenant sets on a load balancer, at creation and later (the API's PATCH fields)."""

    name = NameField(max_length=63)
    protocol = forms.ChoiceField(choices=LbProtocol.choices)
    port = forms.IntegerField(min_value=1, max_value=65535)
    members = MembersField()
    health_check = forms.BooleanField(required=False, initial=True)
    # the limits are the model's (full_clean in the service)
    hc_interval = forms.IntegerField(label="Check interval (s)", initial=HC_INTERVAL_S)
    hc_timeout = forms.IntegerField(label="Check timeout (s)", initial=HC_TIMEOUT_S)
    hc_success_count = forms.IntegerField(label="Successes to go online", initial=HC_SUCCESS)
    hc_failure_count = forms.IntegerField(label="Failures to go offline", initial=HC_FAILURE)


class LoadBalancerForm(ServiceForm, LoadBalancerFields):
    subnet = forms.ModelChoiceField(queryset=Subnet.objects.none())
    field_order = ["name", "subnet"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subnet"].queryset = Subnet.objects.filter(project=self.project)

    def save(self, user):
        data = dict(self.cleaned_data)
        return services.create_load_balancer(user, self.project, data.pop("subnet"), **data)


# --- edit forms: the fields the API lets a tenant PATCH -------------------------------------


class EditForm(ServiceForm):
    """Edits `obj` through `verb`; starts from the object's values."""

    verb = None

    def __init__(self, *args, obj, **kwargs):
        self.obj = obj
        kwargs.setdefault("initial", {name: self.initial_value(name) for name in self.base_fields})
        super().__init__(*args, project=obj.project, **kwargs)

    def initial_value(self, name):
        return getattr(self.obj, name)

    def save(self, user):
        return type(self).verb(user, self.obj, **self.cleaned_data)


class NetworkEditForm(EditForm):
    verb = services.update_network
    name = NameField(max_length=63)
    description = forms.CharField(max_length=255, required=False)
    mtu = forms.IntegerField(required=False, min_value=1280, max_value=9000)


class SubnetEditForm(EditForm):
    """The network, CIDR and IPv6 modes stay, as in the API."""

    verb = services.update_subnet
    name = NameField(max_length=63, required=False)
    gateway_ip = forms.CharField(required=False)
    dns_nameservers = forms.CharField(required=False, help_text="comma-separated")
    enable_dhcp = forms.BooleanField(required=False)
    allocation_pools = PoolsField(label="Allocation pools")
    host_routes = HostRoutesField(label="Host routes")

    def initial_value(self, name):
        value = super().initial_value(name)
        return ", ".join(value) if name == "dns_nameservers" else value

    def clean_dns_nameservers(self):
        return _split(self.cleaned_data["dns_nameservers"])

    def clean_gateway_ip(self):
        return self.cleaned_data["gateway_ip"] or None


class SecurityGroupEditForm(EditForm):
    verb = services.update_security_group
    name = NameField(max_length=63)
    description = forms.CharField(max_length=255, required=False)


class PortEditForm(EditForm):
    """The network, MAC and fixed IPs stay: the API does not change them on a port either."""

    verb = services.update_port
    name = NameField(max_length=63, required=False)
    admin_state_up = forms.BooleanField(required=False, label="Up (administratively)")
    port_security = forms.BooleanField(required=False)
    security_groups = forms.ModelMultipleChoiceField(queryset=SecurityGroup.objects.none(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["security_groups"].queryset = SecurityGroup.objects.filter(project=self.project).exclude(
            state=State.DELETING
        )

    def initial_value(self, name):
        return list(self.obj.security_groups.all()) if name == "security_groups" else super().initial_value(name)


class LoadBalancerEditForm(EditForm, LoadBalancerFields):
    """The VIP's subnet and address stay, as in the API."""

    verb = services.update_load_balancer

    def initial_value(self, name):
        if name == "members":
            return [{"address": m.address, "port": m.port} for m in self.obj.members.all()]
        return super().initial_value(name)


# --- router and floating IP actions ----------------------------------------------------------


class ActionForm(ServiceForm):
    """An action on `obj` (a router or a floating IP); choices come from the object's project."""

    def __init__(self, *args, obj, **kwargs):
        self.obj = obj
        super().__init__(*args, project=obj.project, **kwargs)


class AddInterfaceForm(ActionForm):
    subnet = forms.ModelChoiceField(queryset=Subnet.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subnet"].queryset = (
            Subnet.objects.filter(project=self.project, router_interfaces=None)
            .exclude(state=State.DELETING)
            .select_related("network")
        )

    def save(self, user):
        return services.add_interface(user, self.obj, self.cleaned_data["subnet"])


class RemoveInterfaceForm(ActionForm):
    subnet = forms.ModelChoiceField(queryset=Subnet.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subnet"].queryset = Subnet.objects.filter(router_interfaces__router=self.obj)

    def save(self, user):
        return services.remove_interface(user, self.obj, self.cleaned_data["subnet"])


class GatewayForm(ActionForm):
    external_network = forms.ModelChoiceField(
        queryset=Network.objects.filter(external=True), required=False, empty_label="none (no gateway)"
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"external_network": kwargs["obj"].external_network_id})
        super().__init__(*args, **kwargs)

    def save(self, user):
        return services.update_router(user, self.obj, external_network=self.cleaned_data["external_network"])


class SnatForm(ActionForm):
    enable_snat = forms.BooleanField(required=False, label="SNAT for the router's subnets")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"enable_snat": kwargs["obj"].enable_snat})
        super().__init__(*args, **kwargs)

    def save(self, user):
        return services.update_router(user, self.obj, enable_snat=self.cleaned_data["enable_snat"])


class AddRouteForm(ActionForm):
    route = forms.CharField(label="Static route", help_text=ROUTE_SHAPE)

    def clean_route(self):
        try:
            return parse_route(self.cleaned_data["route"], ROUTE_SEPARATOR)
        except ValueError:
            raise ValidationError(f"{self.cleaned_data['route']!r} is not {ROUTE_SHAPE}.") from None

    def save(self, user):
        return services.update_router(user, self.obj, routes=[*self.obj.routes, self.cleaned_data["route"]])


class RemoveRouteForm(ActionForm):
    route = forms.ChoiceField(choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["route"].choices = [(show_route(r), show_route(r)) for r in self.obj.routes]

    def save(self, user):
        gone = self.cleaned_data["route"]
        return services.update_router(user, self.obj, routes=[r for r in self.obj.routes if show_route(r) != gone])


def attachable_ports(project):
    """Ports a floating IP may point at: the project's own free and instance ports."""
    return Port.objects.filter(project=project, device_owner__in=(DeviceOwner.FREE, DeviceOwner.INSTANCE)).exclude(
        state=State.DELETING
    )


class AssociateForm(ActionForm):
    port = forms.ModelChoiceField(queryset=Port.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["port"].queryset = (
            attachable_ports(self.project).exclude(pk=self.obj.port_id).prefetch_related("ip_allocations")
        )
        self.fields["port"].label_from_instance = port_label

    def save(self, user):
        return services.associate(user, self.obj, self.cleaned_data["port"])


class DisassociateForm(ActionForm):
    def save(self, user):
        return services.disassociate(user, self.obj)


def port_label(port):
    addresses = ", ".join(a.address for a in port.ip_allocations.all())
    return f"{port} ({addresses})" if addresses else str(port)


class OvnDeploymentForm(forms.ModelForm):
    """The staff page's form; save() goes through the service (validation, audit)."""

    class Meta:
        model = OvnDeployment
        fields = ["nb_connection", "sb_connection", "gateway_chassis", "encap_type"]

    def save_as(self, user, request=None):
        return services.update_deployment(
            user, request=request, **{field: self.cleaned_data[field] for field in self.Meta.fields}
        )
