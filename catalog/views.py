"""The catalog's pages: the templates a tenant may order, the order form made from a template's
parameter schema, the list of services, and a service's page with its tabs (overview with the
metrics charts and the data volume's grow, users, databases, configuration, log, backups,
actions). Pages read the database (what the guest last reported is in the
service's inventory); every change goes through catalog.services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog import forms, metrics, services
from catalog.models import Backup, Service, ServiceTemplate
from catalog.tables import ServiceFilter, ServiceTable
from compute.metrics import charts
from compute.models import Flavor
from portal.api.base import current_project
from portal.errors import ActionError, NotPermitted
from portal.models import Operation, Project
from portal.tables import REFUSALS, table_page

RECENT_OPERATIONS = 10
TABS = ("overview", "users", "databases", "configuration", "log", "backups", "actions")
# The tabs that list what the guest holds: (the list action, the change actions shown there).
LISTING_TABS = {
    "users": ("user-list", ("user-create", "user-password", "user-delete")),
    "databases": ("db-list", ("db-create", "db-grant", "db-delete")),
    "configuration": ("config-show", ("config-set",)),
}


def _templates(user):
    templates = ServiceTemplate.objects.select_related("image").prefetch_related("flavors")
    return templates if user.is_staff else templates.filter(enabled=True)


@login_required
def index(request):
    return render(request, "catalog/index.html", {"templates": _templates(request.user)})


def _backup_to_restore(request, template):
    """The backup named by ?backup= (or the form's hidden field): restored into the new service."""
    backup_id = request.POST.get("backup") or request.GET.get("backup")
    if not backup_id or not str(backup_id).isdigit():
        return None
    return get_object_or_404(Backup.objects.visible_to(request.user), pk=backup_id, template=template)


@login_required
def order(request, pk):
    template = get_object_or_404(_templates(request.user), pk=pk)
    project = current_project(request)
    backup = _backup_to_restore(request, template)
    form = forms.OrderForm(request.POST or None, template=template, project=project)
    if request.method == "POST" and form.is_valid():
        if project is None:
            form.add_error(None, "Choose a project you may order services in (the project menu above).")
        else:
            values = form.cleaned_data
            try:
                service, _op = services.order(
                    request.user,
                    project,
                    template=template,
                    name=values["name"],
                    flavor=values["flavor"],
                    parameters=form.values(),
                    networks=values.get("networks") or None,
                    backup=backup,
                    request=request,
                )
            except NotPermitted as exc:
                form.add_error(None, str(exc))
            except REFUSALS as exc:
                field = getattr(exc, "field", None)
                form.add_error(field if field in form.fields else None, str(exc))
            else:
                messages.success(request, f"Ordered {service.name}; follow its progress below.")
                return redirect("catalog:service", pk=service.pk)
    context = {"template": template, "form": form, "project": project, "backup": backup}
    return render(request, "catalog/order.html", context, status=400 if form.errors else 200)


@login_required
def services_list(request):
    visible = Service.objects.visible_to(request.user).select_related("project", "template", "flavor")
    table, filterset = table_page(request, ServiceTable, ServiceFilter, visible)
    return render(request, "catalog/services.html", {"table": table, "filter": filterset})


def _visible_service(request, pk):
    queryset = Service.objects.visible_to(request.user).select_related("template", "flavor", "instance", "project")
    return get_object_or_404(queryset, pk=pk)


def _tabs(template):
    shown = ["overview"]
    shown += [tab for tab, (listing, _) in LISTING_TABS.items() if listing in template.actions]
    if template.log_path:
        shown.append("log")
    if template.backs_up:
        shown.append("backups")
    return [*shown, "actions"]


def _detail(request, service, tab, bound=None, status=200):
    """The service's page on ``tab``; ``bound`` = (action, its submitted form) to show again with its errors."""
    template = service.template
    tabs = _tabs(template)
    if tab not in tabs:
        tab = "overview"
    writable = Project.objects.writable_by(request.user).filter(pk=service.project_id).exists()
    action_names = list(template.actions)
    if tab in LISTING_TABS:
        action_names = [name for name in LISTING_TABS[tab][1] if name in template.actions]
    shown_forms = []
    if writable and tab in ("actions", *LISTING_TABS):
        for name in action_names:
            form = bound[1] if bound and bound[0] == name else forms.action_form(template, name, prefix=name)
            shown_forms.append((name, template.actions[name].get("description", ""), form))
    listing = LISTING_TABS.get(tab, (None,))[0]
    context = {
        "service": service,
        "tab": tab,
        "tabs": tabs,
        "writable": writable,
        "action_forms": shown_forms,
        "listing_action": listing if listing in template.actions else None,
        "listing": service.inventory.get(tab) if tab in LISTING_TABS else None,
        "log": service.inventory.get("log"),
        "replication": (service.inventory.get("replication") or {}).get("output"),
        "replication_at": (service.inventory.get("replication") or {}).get("at"),
        "backups": service.backups.select_related("volume") if tab == "backups" else (),
        "resize_flavors": _resize_flavors(service) if writable and tab == "overview" else (),
        **(_charts(request, service) if tab == "overview" and metrics.HOOK in template.hooks else {}),
        "operations": Operation.objects.filter(target_type="catalog.service", target_id=str(service.pk))[
            :RECENT_OPERATIONS
        ],
    }
    return render(request, "catalog/service_detail.html", context, status=status)


def _resize_flavors(service):
    """The template's flavors the project may use, but the service's own (the Resize form's choices)."""
    usable = Flavor.objects.usable_in(service.project).values("pk")
    return service.template.flavors.filter(pk__in=usable).exclude(pk=service.flavor_id).order_by("name")


def _charts(request, service):
    """The service's metrics charts over the page's ?range= (compute's chart code and selector)."""
    key, seconds = charts.range_of(request.GET.get("range", ""))
    ranges = [(value, label, value == key) for value, (label, _) in charts.RANGES.items()]
    return {
        "charts": metrics.service_charts(service, range_s=seconds),
        "window": charts.WINDOW,
        "ranges": ranges,
        "latest_metrics": service.inventory.get("metrics"),
    }


@login_required
def service_detail(request, pk):
    return _detail(request, _visible_service(request, pk), request.GET.get("tab", "overview"))


def _refused(request, call):
    try:
        call()
    except REFUSALS as exc:
        messages.error(request, str(exc))
        return True
    return False


@login_required
@require_POST
def service_run(request, pk, action):
    """Run one of the template's actions with the arguments its form collected."""
    service = _visible_service(request, pk)
    tab = request.POST.get("tab", "actions")
    if action not in service.template.actions:
        messages.error(request, f"Unknown action {action!r}.")
        return redirect(f"{reverse('catalog:service', args=[pk])}?tab={tab}")
    form = forms.action_form(service.template, action, request.POST, prefix=action)
    if not form.is_valid():
        return _detail(request, service, tab, bound=(action, form), status=400)
    try:
        services.run_action(request.user, service, action, form.values(), request=request)
    except ActionError as exc:
        if exc.field == "arguments":
            form.add_error(None, str(exc))
            return _detail(request, service, tab, bound=(action, form), status=400)
        messages.error(request, str(exc))
    except REFUSALS as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{action} started; its Operation is below.")
    return redirect(f"{reverse('catalog:service', args=[pk])}?tab={tab}")


@login_required
@require_POST
def service_log(request, pk):
    service = _visible_service(request, pk)
    if not _refused(request, lambda: services.read_log(request.user, service, request=request)):
        messages.success(request, "Reading the log's tail through the guest agent.")
    return redirect(f"{reverse('catalog:service', args=[pk])}?tab=log")


@login_required
@require_POST
def service_delete(request, pk):
    service = _visible_service(request, pk)
    if _refused(request, lambda: services.delete(request.user, service, request=request)):
        return redirect("catalog:service", pk=pk)
    messages.success(request, f"Deleting {service.name}.")
    return redirect("catalog:services")


@login_required
@require_POST
def service_grow(request, pk):
    service = _visible_service(request, pk)
    raw = request.POST.get("data_volume_gb", "")
    size_gb = int(raw) if raw.isdigit() else None
    if size_gb is None:
        messages.error(request, "Give the data volume's new size in GiB.")
    elif not _refused(request, lambda: services.grow_data_volume(request.user, service, size_gb, request=request)):
        messages.success(request, f"Growing the data volume to {size_gb} GiB live; its Operation is below.")
    return redirect("catalog:service", pk=pk)


@login_required
@require_POST
def service_resize(request, pk):
    service = _visible_service(request, pk)
    raw = request.POST.get("flavor", "")
    flavor = Flavor.objects.filter(pk=raw).first() if raw.isdigit() else None
    if flavor is None:
        messages.error(request, "Choose one of the template's flavors.")
    elif not _refused(request, lambda: services.resize(request.user, service, flavor, request=request)):
        messages.success(request, f"Resizing {service.name} to {flavor.name}; its Operation is below.")
    return redirect("catalog:service", pk=pk)


@login_required
@require_POST
def service_replica(request, pk):
    primary = _visible_service(request, pk)
    name = request.POST.get("name", "").strip()
    if not _refused(request, lambda: services.add_replica(request.user, primary, name=name, request=request)):
        messages.success(request, f"Adding replica {name} on another host; it copies {primary.name} when it is up.")
    return redirect("catalog:service", pk=pk)


@login_required
@require_POST
def service_promote(request, pk):
    replica = _visible_service(request, pk)
    if not _refused(request, lambda: services.promote(request.user, replica, request=request)):
        messages.success(request, f"Promoting {replica.name}: it stops following its primary and accepts writes.")
    return redirect("catalog:service", pk=pk)


@login_required
@require_POST
def service_backup(request, pk):
    service = _visible_service(request, pk)
    if not _refused(request, lambda: services.back_up(request.user, service, request=request)):
        messages.success(request, "Backing up: a volume of its own is made, attached, written and detached.")
    return redirect(f"{reverse('catalog:service', args=[pk])}?tab=backups")


@login_required
@require_POST
def service_backup_schedule(request, pk):
    service = _visible_service(request, pk)
    form = forms.BackupScheduleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    elif not _refused(
        request,
        lambda: services.set_backup_schedule(
            request.user, service, form.cleaned_data["every_hours"], form.cleaned_data["keep"], request=request
        ),
    ):
        messages.success(request, "Backup schedule saved.")
    return redirect(f"{reverse('catalog:service', args=[pk])}?tab=backups")


@login_required
@require_POST
def backup_delete(request, pk):
    backup = get_object_or_404(Backup.objects.visible_to(request.user).select_related("volume"), pk=pk)
    if not _refused(request, lambda: services.delete_backup(request.user, backup, request=request)):
        messages.success(request, f"Deleting backup {backup.name} (its volume).")
    if backup.service_id:
        return redirect(f"{reverse('catalog:service', args=[backup.service_id])}?tab=backups")
    return redirect("catalog:services")
