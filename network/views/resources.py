"""The network pages. They read the database only; every change goes through services."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from network import backends, forms, services
from network import conf as net_settings
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
from network.views import tables, topology
from portal.choices import WRITE_ROLES
from portal.errors import ActionError
from portal.models import Project
from portal.operations import TargetBusy
from portal.quotas import QuotaExceeded
from portal.tables import BulkAction, bulk, table_page

REFUSALS = (ActionError, TargetBusy, QuotaExceeded, ValidationError)


@dataclass(frozen=True)
class Resource:
    title: str
    model: type
    columns: tuple  # (heading, function of the object[, the field it sorts by])
    form: type
    related: tuple = ()
    edit_form: type = None
    prefetch: tuple = ()  # what the columns read per row, fetched once per page
    page: str = ""  # the URL name of the object's own page, if it has one
    live: str = ""  # the realtime group prefix whose events update the rows

    @property
    def editable(self):  # templates call classes, so they ask this instead of edit_form
        return self.edit_form is not None


def _addresses(port):
    return ", ".join(a.address for a in port.ip_allocations.all())


def _port_owner(port):
    if port.instance_id:
        return format_html(
            '<a href="{}">{}</a>', reverse("compute:instance-detail", args=[port.instance_id]), port.instance
        )
    return port.get_device_owner_display() or "—"


def _ipv6_modes(subnet):
    modes = (
        ("RA", subnet.get_ipv6_ra_mode_display, subnet.ipv6_ra_mode),
        ("addresses", subnet.get_ipv6_address_mode_display, subnet.ipv6_address_mode),
    )
    return ", ".join(f"{label}: {display()}" for label, display, mode in modes if mode) or "—"


RESOURCES = {
    "networks": Resource(
        "Networks",
        Network,
        (
            ("Segment", lambda n: f"{n.get_segment_type_display()} {n.tunnel_key or ''}", "segment_type"),
            ("Subnets", lambda n: ", ".join(s.cidr for s in n.subnets.all())),
            ("MTU", lambda n: n.mtu or "default", "mtu"),
            ("Backend", lambda n: n.get_backend_display(), "backend"),
            ("Flags", lambda n: " ".join(f for f, on in (("shared", n.shared), ("external", n.external)) if on)),
        ),
        forms.NetworkForm,
        edit_form=forms.NetworkEditForm,
        prefetch=("subnets",),
    ),
    "subnets": Resource(
        "Subnets",
        Subnet,
        (
            ("CIDR", lambda s: s.cidr, "cidr"),
            ("Gateway IP", lambda s: s.gateway_ip or "—", "gateway_ip"),
            ("Network", lambda s: s.network, "network__name"),
            ("DHCP", lambda s: "on" if s.enable_dhcp else "off", "enable_dhcp"),
            ("IPv6 modes", _ipv6_modes),
        ),
        forms.SubnetForm,
        ("network",),
        edit_form=forms.SubnetEditForm,
    ),
    "ports": Resource(
        "Ports",
        Port,
        (
            ("MAC address", lambda p: p.mac_address, "mac_address"),
            ("Addresses", _addresses),
            ("Network", lambda p: p.network, "network__name"),
            ("Attached to", _port_owner, "device_owner"),
            ("Security groups", lambda p: ", ".join(g.name for g in p.security_groups.all()) or "—"),
            ("Link", lambda p: p.get_status_display(), "status"),
        ),
        forms.PortForm,
        ("network", "instance"),
        edit_form=forms.PortEditForm,
        prefetch=("ip_allocations", "security_groups"),
        live="network.port",
    ),
    "security-groups": Resource(
        "Security groups",
        SecurityGroup,
        (("Rules", lambda g: "; ".join(str(r) for r in g.rules.all())),),
        forms.SecurityGroupForm,
        edit_form=forms.SecurityGroupEditForm,
        prefetch=("rules",),
    ),
    "security-group-rules": Resource(
        "Security group rules",
        SecurityGroupRule,
        (
            ("Group", lambda r: r.group, "group__name"),
            ("Rule", str),
        ),
        forms.RuleForm,
        ("group",),
    ),
    "routers": Resource(
        "Routers",
        Router,
        (
            ("Gateway", lambda r: r.external_network or "—"),
            ("Interfaces", lambda r: ", ".join(i.subnet.cidr for i in r.interfaces.all())),
        ),
        forms.RouterForm,
        prefetch=("interfaces__subnet",),
        page="network:router",
    ),
    "floating-ips": Resource(
        "Floating IPs",
        FloatingIP,
        (
            ("Address", lambda f: f.allocation.address),
            ("Fixed IP", lambda f: f.fixed_ip or "—"),
            ("Router", lambda f: f.router or "—"),
        ),
        forms.FloatingIPForm,
        ("allocation",),
        page="network:floating-ip",
    ),
    "load-balancers": Resource(
        "Load balancers",
        LoadBalancer,
        (
            ("VIP", lambda lb: f"{lb.vip}:{lb.port}/{lb.protocol}"),
            ("Members", lambda lb: ", ".join(f"{m} ({m.get_status_display()})" for m in lb.members.all())),
        ),
        forms.LoadBalancerForm,
        ("vip_allocation",),
        edit_form=forms.LoadBalancerEditForm,
        prefetch=("members",),
    ),
}


def _resource(slug):
    resource = RESOURCES.get(slug)
    if resource is None:
        raise Http404("No such network resource.")
    return resource


def may_write(user, project):
    return project.role_of(user) in WRITE_ROLES  # staff act as admins everywhere


def may_change(user, obj):
    return may_write(user, obj.project)


def require_change(user, obj):
    if not may_change(user, obj):
        raise PermissionDenied("Readers cannot change network objects.")


def visible_or_404(model, user, pk, *related):
    """The object if the user may see it; another tenant's is a 404, as in the API."""
    return get_object_or_404(model.objects.visible_to(user).select_related("project", *related), pk=pk)


def saved(request, form):
    """True when a posted form is valid and its service verb accepted it (the result is in
    form.result); a refusal becomes a form error and the verb's transaction leaves nothing."""
    if request.method != "POST" or not form.is_valid():
        return False
    try:
        form.result = form.save(request.user)
    except REFUSALS as exc:
        form.add_refusal(exc)
        return False
    return True


@login_required
def index(request):
    backend = backends.configured()
    return render(
        request,
        "network/index.html",
        {
            "resources": RESOURCES,
            "backend": backend,
            "topology": topology.build(request.user, request.project),
        },
    )


@login_required
def topology_fragment(request):
    """The SVG alone, re-fetched by htmx so the drawing follows changes."""
    return render(request, "network/_topology.html", {"topology": topology.build(request.user, request.project)})


@login_required
def resource_list(request, slug):
    resource = _resource(slug)
    queryset = _visible(request, resource)
    writable = Project.objects.writable_by(request.user).exists()
    table_class = tables.table_for(resource, slug)
    table, filterset = table_page(request, table_class, tables.filterset_for(resource), queryset)
    if not writable:  # readers get no bulk controls
        table.columns.hide("selection")
    context = {
        "resource": resource,
        "slug": slug,
        "table": table,
        "filter": filterset,
        "resources": RESOURCES,
        "bulk_actions": _bulk_actions(slug) if writable else {},
    }
    return render(request, "network/list.html", context)


def _visible(request, resource):
    related = resource.model.objects.visible_to(request.user).select_related("project", *resource.related)
    return related.prefetch_related(*resource.prefetch)


def _bulk_actions(slug):
    return {"delete": BulkAction("Delete", lambda user, obj, request: DELETE_VERBS[slug](user, obj), confirm=True)}


@login_required
@require_POST
def resource_bulk(request, slug):
    """Delete the selected rows of a list (after a confirmation page); each refusal named."""
    resource = _resource(slug)
    return bulk(request, _visible(request, resource), _bulk_actions(slug), reverse("network:list", args=[slug]))


@login_required
def resource_create(request, slug):
    resource = _resource(slug)
    project = request.project
    if project is None:
        raise Http404("No project chosen.")
    if not may_write(request.user, project):  # the services trust the project they are given
        raise PermissionDenied("Readers cannot create network objects.")
    form = resource.form(request.POST or None, project=project)
    if saved(request, form):
        obj, _op = form.result
        messages.success(request, f"{resource.title}: {obj} is being realised.")
        return redirect("network:list", slug=slug)
    return _form_page(request, form, f"{resource.title}: new, in {project.name}", "create-form", "Create")


@login_required
def resource_edit(request, slug, pk):
    """The edit form of a resource that has one (what the API lets a tenant PATCH)."""
    resource = _resource(slug)
    if resource.edit_form is None:
        raise Http404("This resource has no edit form.")
    obj = visible_or_404(resource.model, request.user, pk)
    require_change(request.user, obj)
    name = str(obj)  # before the form sets fields a refusal may leave on the instance
    form = resource.edit_form(request.POST or None, obj=obj)
    if saved(request, form):
        messages.success(request, f"{resource.title}: {obj} is being updated.")
        return redirect("network:list", slug=slug)
    return _form_page(request, form, f"{resource.title}: {name}, in {obj.project.name}", "edit-form", "Save")


def _form_page(request, form, heading, form_id, button):
    return render(
        request,
        "network/form.html",
        {"form": form, "heading": heading, "form_id": form_id, "button": button, "resources": RESOURCES},
        status=400 if form.errors else 200,
    )


DELETE_VERBS = {
    "networks": services.delete_network,
    "subnets": services.delete_subnet,
    "ports": services.delete_port,
    "security-groups": services.delete_security_group,
    "security-group-rules": services.delete_rule,
    "routers": services.delete_router,
    "floating-ips": services.delete_floating_ip,
    "load-balancers": services.delete_load_balancer,
}


@login_required
@require_POST
def resource_delete(request, slug, pk):
    """The Delete button of a list row: the service verb decides (roles, what still uses it)."""
    resource = _resource(slug)
    obj = visible_or_404(resource.model, request.user, pk)
    if not may_change(request.user, obj):
        messages.error(request, "Readers cannot delete.")
        return redirect("network:list", slug=slug)
    try:
        DELETE_VERBS[slug](request.user, obj)
    except REFUSALS as exc:
        messages.error(request, f"{obj}: {exc}")
    else:
        messages.success(request, f"{resource.title}: {obj} is being deleted.")
    return redirect("network:list", slug=slug)


@staff_member_required
@require_POST
def sync(request):
    op = services.start_sync(request.user, clean_orphans=request.POST.get("clean_orphans") == "on")
    messages.success(request, "Network sync started.")
    return redirect("operation-detail", pk=op.pk)


@staff_member_required
def ovn_deployment(request):
    """Where the portal finds OVN (registered by `make lab` or here); NUBES_OVN_* variables win."""

    form = forms.OvnDeploymentForm(request.POST or None, instance=OvnDeployment.current())
    if request.method == "POST" and form.is_valid():
        try:
            form.save_as(request.user, request)
        except REFUSALS as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "OVN deployment saved.")
            return redirect("network:ovn-deployment")
    overridden = [v for v in net_settings.OVN_VARIABLES if net_settings.source(v) == "environment"]
    return render(
        request,
        "network/ovn_deployment.html",
        {
            "form": form,
            "overridden": overridden,
            "resources": RESOURCES,
            "backend": backends.configured(),
            "effective": {
                "Northbound": (net_settings.ovn_nb_endpoint() or "—")
                + (f" ({net_settings.EMBEDDED_NOTE})" if net_settings.embedded_nb() else ""),
                "Southbound": net_settings.ovn_sb_endpoint() or "—",
                "Gateway chassis": ", ".join(net_settings.gateway_chassis()) or "—",
                "Encapsulation": net_settings.overlay_type(),
            },
        },
        status=400 if form.errors else 200,
    )
