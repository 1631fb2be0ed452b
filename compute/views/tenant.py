"""The compute pages. They read the database only; every change goes through services."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from compute import console, hooks
from compute.choices import ALLOWED_FROM, Action, RebootKind
from compute.forms import LaunchForm
from compute.models import Flavor, Host, Image, Instance
from compute.services import evacuation, overcommit
from compute.services import images as image_services
from compute.services import instances as services
from compute.views.tables import (
    FlavorFilter,
    FlavorTable,
    ImageFilter,
    ImageTable,
    InstanceFilter,
    InstanceTable,
)
from portal import quotas
from portal.choices import WRITE_ROLES, QuotaResource
from portal.errors import ActionError
from portal.models import Operation, Project
from portal.operations import TargetBusy
from portal.quotas import QuotaExceeded
from portal.tables import BulkAction, bulk, table_page

PAGE_SIZE = 50
RECENT = 20
INSTANCE_RELATED = ("project", "flavor", "image", "host", "key_pair")
OPERATION_ROW_FIELDS = (
    "kind",
    "target_name",
    "status",
    "progress",
    "message",
    "created",
)  # what {% operation_row %} shows
REFUSALS = (ActionError, TargetBusy, QuotaExceeded)


BULK_ACTIONS = {
    "start": BulkAction("Start", lambda user, instance, request: services.act(user, instance, Action.START, request)),
    "stop": BulkAction("Stop", lambda user, instance, request: services.stop(user, instance, request=request)),
    "delete": BulkAction("Delete", services.delete, confirm=True),
}


def _listed(request):
    return Instance.objects.visible_to(request.user).live().select_related(*INSTANCE_RELATED)


@login_required
def instances(request):
    writable = Project.objects.writable_by(request.user).exists()
    table, filterset = table_page(request, InstanceTable, InstanceFilter, _listed(request))
    if not writable:  # readers get no bulk controls
        table.columns.hide("selection")
    context = {"table": table, "filter": filterset, "bulk_actions": BULK_ACTIONS if writable else {}}
    return render(request, "compute/instances.html", context)


@login_required
@require_POST
def instances_bulk(request):
    """Start, stop or delete the selected instances (delete after a confirmation page)."""
    return bulk(request, _listed(request), BULK_ACTIONS, reverse("compute:instances"))


@login_required
def instance_launch(request):
    project = request.project
    if project is None:
        raise Http404("No project chosen.")
    if project.role_of(request.user) not in WRITE_ROLES:  # the form is no use to a reader
        raise PermissionDenied("Readers cannot launch instances.")
    form = LaunchForm(request.POST or None, project=project, user=request.user)
    if request.method == "POST" and form.is_valid():
        names, hints = form.launches(), form.placement_hints()
        launched = []
        try:
            for name in names:  # one create each, as `openstack server create --min/--max`
                instance, _op = services.create_instance(
                    request.user, project, name=name, hints=hints, request=request, **form.cleaned_data
                )
                launched.append(instance)
        except REFUSALS as exc:
            if not launched:
                if isinstance(exc, ActionError):
                    form.add_action_error(exc)
                else:
                    form.add_error(None, str(exc))
            else:  # the first ones are building: say what stopped the rest
                messages.error(request, f"Launched {len(launched)} of {len(names)}; {names[len(launched)]}: {exc}")
                return redirect("compute:instances")
        else:
            messages.success(request, f"Launching {', '.join(i.name for i in launched)}.")
            if len(launched) > 1:
                return redirect("compute:instances")
            return redirect("compute:instance-detail", pk=launched[0].pk)
    context = {"form": form, "project": project, "quota": launch_quota(project)}
    return render(request, "compute/instance_launch.html", context, status=400 if form.errors else 200)


def launch_quota(project):
    """The quotas a launch takes, as rows (label, resource, in use, limit) for the launch page."""
    usage = quotas.usage(project)
    resources = (QuotaResource.INSTANCES, QuotaResource.VCPUS, QuotaResource.RAM_MB, QuotaResource.DISK_GB)
    return [
        (resource.label, resource.value, usage[resource]["in_use"], usage[resource]["limit"])
        for resource in resources
        if resource in usage
    ]


def _visible_instance(request, pk):
    queryset = Instance.objects.visible_to(request.user).live().select_related(*INSTANCE_RELATED)
    return get_object_or_404(queryset, pk=pk)


@login_required
def instance_detail(request, pk):
    instance = _visible_instance(request, pk)
    # The page's lists read only the columns they show (of 20 operations with their requesters,
    # 30 columns left unread: a third of that query's cost).
    ops = (
        Operation.objects.filter(target_type="compute.instance", target_id=str(instance.pk))
        .select_related("requester")
        .only(*OPERATION_ROW_FIELDS, "requester__username")[:RECENT]
    )
    vnc_state, vnc_message = console.panel(request.user, instance)
    vnc_access, vnc_access_message = console.access(request.user, instance)  # once the instance allows one
    context = {
        "instance": instance,
        "operations": ops,
        "events": instance.events.all()[:RECENT],
        "role": instance.project.role_of(request.user),
        "flavors": Flavor.objects.usable_in(instance.project).only("name"),
        "images": Image.objects.usable_in(instance.project).only("name"),
        "vnc_state": vnc_state,
        "vnc_message": vnc_message,
        "vnc_access": vnc_access,
        "vnc_access_message": vnc_access_message,
        "console_input": instance.host is not None
        and not instance.host.simulated
        and console.may_open(request.user, instance),
        "panels": hooks.instance_panels(request, instance),  # other apps' cards (HA, ports, volumes)
        "addresses": hooks.addresses([instance.pk]).get(instance.pk, ()),
        # Each action button shows only in the states its action accepts (the JS follows live).
        "action_states": {str(action): " ".join(states) for action, states in ALLOWED_FROM.items()},
    }
    return render(request, "compute/instance_detail.html", context)


def _run_action(request, instance, action):
    post = request.POST
    if action in services.SIMPLE_ACTIONS:
        return services.act(request.user, instance, action, request)
    if action == Action.STOP:
        return services.stop(request.user, instance, force=post.get("force") == "1", request=request)
    if action == Action.REBOOT:
        return services.reboot(request.user, instance, kind=post.get("kind", RebootKind.SOFT), request=request)
    if action == Action.DELETE:
        return services.delete(request.user, instance, request)
    if action == Action.RESIZE:
        return services.resize(request.user, instance, get_object_or_404(Flavor, pk=post.get("flavor")), request)
    if action == Action.REBUILD:
        return services.rebuild(request.user, instance, get_object_or_404(Image, pk=post.get("image")), request)
    if action == Action.CREATE_IMAGE:
        image, op = image_services.create_from_instance(
            request.user, instance, post.get("name", "").strip(), request=request
        )
        messages.info(request, f"Image {image.name} is being made from the root disk.")
        return op
    if action == "lock":
        return services.set_lock(request.user, instance, post.get("locked") == "1", request)
    raise Http404("No such action.")


@login_required
@require_POST
def instance_action(request, pk, action):
    instance = _visible_instance(request, pk)
    try:
        result = _run_action(request, instance, action)
    except REFUSALS as exc:
        messages.error(request, str(exc))
    else:
        if isinstance(result, Operation):
            messages.info(request, f"{action} queued (operation {result.pk}).")
    if action == Action.DELETE:
        return redirect("compute:instances")
    return redirect(reverse("compute:instance-detail", args=[instance.pk]))


@staff_member_required
def host_detail(request, pk):
    host = get_object_or_404(Host.objects.select_related("cluster"), pk=pk)
    wake = evacuation.active_wake(host)  # an evacuation waiting for standby hosts
    context = {
        "host": host,
        "instances": host.instances.live().select_related("project", "flavor")[:PAGE_SIZE],
        "unmanaged": host.unmanaged_domains.all(),
        "memory": overcommit.summary(host),
        "ballooned": overcommit.ballooned_instances(host),
        "host_operations": Operation.objects.filter(target_type="compute.host", target_id=str(host.pk))[:RECENT],
        "evacuation_wakes": [wake] if wake is not None else [],
    }
    return render(request, "compute/host_detail.html", context)


@staff_member_required
@require_POST
def host_ksm(request, pk):
    host = get_object_or_404(Host.objects.select_related("cluster"), pk=pk)
    fields = ("run", *overcommit.KSM_LIMITS)
    try:
        values = {name: int(request.POST[name]) for name in fields if request.POST.get(name, "") != ""}
        op = overcommit.set_ksm(request.user, host, request=request, **values)
    except (ValueError, *REFUSALS) as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"KSM change queued (operation {op.pk}).")
    return redirect("compute:host-detail", pk=host.pk)


@login_required
def flavors(request):
    table, filterset = table_page(request, FlavorTable, FlavorFilter, Flavor.objects.visible_to(request.user))
    return render(request, "compute/flavors.html", {"table": table, "filter": filterset})


@login_required
def images(request):
    visible = Image.objects.visible_to(request.user).select_related("project")
    table, filterset = table_page(request, ImageTable, ImageFilter, visible)
    return render(request, "compute/images.html", {"table": table, "filter": filterset})
