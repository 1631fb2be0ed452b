"""The storage UI: volumes (tenants), their snapshots as a tree, pools (cloud admins).
Pages read the database; every change goes through storage.services."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from compute.models import Instance
from portal.api.base import current_project
from portal.errors import ActionError
from portal.models import Operation, Project
from portal.operations import TargetBusy
from portal.quotas import QuotaExceeded
from portal.tables import BulkAction, bulk, table_page
from storage import forms, services
from storage.models import Snapshot, StoragePool, Volume
from storage.views.tables import SnapshotFilter, SnapshotTable, VolumeFilter, VolumeTable

RECENT_OPERATIONS = 10
BULK_ACTIONS = {
    "delete": BulkAction(
        "Delete", lambda user, volume, request: services.delete_volume(user, volume, request=request), True
    )
}


def _visible(request):
    return Volume.objects.visible_to(request.user).select_related("pool", "instance", "project")


@login_required
def index(request):
    form = forms.VolumeCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = current_project(request)
        if project is None:
            messages.error(request, "Choose a project you may create volumes in.")
        elif _do(request, lambda: services.create_volume(request.user, project, request=request, **form.cleaned_data)):
            return redirect("storage:index")
    writable = Project.objects.writable_by(request.user).exists()
    table, filterset = table_page(request, VolumeTable, VolumeFilter, _visible(request), writable=writable)
    context = {"table": table, "filter": filterset, "form": form, "bulk_actions": BULK_ACTIONS if writable else {}}
    return render(request, "storage/volumes.html", context, status=400 if form.errors else 200)


@login_required
def snapshots(request):
    visible = Snapshot.objects.visible_to(request.user).select_related("project", "volume", "instance")
    table, filterset = table_page(request, SnapshotTable, SnapshotFilter, visible)
    return render(request, "storage/snapshots.html", {"table": table, "filter": filterset})


@login_required
@require_POST
def volume_bulk(request):
    """Delete the selected volumes (after a confirmation page); each refusal named."""
    return bulk(request, _visible(request), BULK_ACTIONS, reverse("storage:index"))


def _do(request, call):
    """Run a service verb; its refusals become a message instead of an error page."""
    try:
        call()
    except (ActionError, TargetBusy, QuotaExceeded) as exc:
        messages.error(request, str(exc))
        return False
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return False
    messages.success(request, "Started; follow the progress below.")
    return True


def _operations(obj):
    return Operation.objects.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk))[:RECENT_OPERATIONS]


@login_required
def volume_detail(request, pk):
    volume = get_object_or_404(Volume.objects.visible_to(request.user).select_related("pool", "instance"), pk=pk)
    snapshots = list(volume.snapshots.all())
    instances = services.instances_for(request.user, volume.project)
    return render(
        request,
        "storage/volume_detail.html",
        {
            "volume": volume,
            "tree": services.snapshot_tree(snapshots),
            "operations": _operations(volume),
            "attach_form": forms.AttachForm(instances=instances),
            "resize_form": forms.ResizeForm(),
            "snapshot_form": forms.SnapshotForm(),
            "clone_form": forms.CloneForm(),
            "migrate_form": forms.MigrateForm(),
        },
    )


@login_required
@require_POST
def volume_action(request, pk, action):
    volume = get_object_or_404(Volume.objects.visible_to(request.user), pk=pk)
    user, post = request.user, request.POST
    calls = {
        "detach": lambda: services.detach_volume(user, volume, request=request),
        "delete": lambda: services.delete_volume(user, volume, wipe=bool(post.get("wipe")), request=request),
        "flatten": lambda: services.flatten_volume(user, volume, request=request),
        "reclaim": lambda: services.reclaim_space(user, volume, request=request),
        "template": lambda: services.set_template(user, volume, not volume.is_template, request=request),
    }
    form_calls = {
        "attach": (
            forms.AttachForm(post, instances=services.instances_for(user, volume.project)),
            lambda d: services.attach_volume(user, volume, request=request, **d),
        ),
        "resize": (
            forms.ResizeForm(post),
            lambda d: services.resize_volume(user, volume, d["size_gb"], request=request),
        ),
        "snapshot": (
            forms.SnapshotForm(post),
            lambda d: services.create_snapshot(user, volume=volume, name=d["name"], request=request),
        ),
        "clone": (
            forms.CloneForm(post),
            lambda d: services.create_volume(
                user,
                volume.project,
                name=d["name"],
                pool=volume.pool,
                source="volume",
                source_volume=volume,
                clone_mode=d["mode"],
                format=volume.format,
                request=request,
            ),
        ),
        "migrate": (
            forms.MigrateForm(post),
            lambda d: services.migrate_volume(user, volume, d["pool"], request=request),
        ),
    }
    if action in calls:
        _do(request, calls[action])
    elif action in form_calls:
        form, call = form_calls[action]
        if form.is_valid():
            _do(request, lambda: call(form.cleaned_data))
        else:
            messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    else:
        messages.error(request, f"Unknown action {action!r}.")
    if action == "delete" and not Volume.objects.filter(pk=pk, state__in=("available", "error")).exists():
        return redirect("storage:index")
    return redirect("storage:volume", pk=pk)


@login_required
@require_POST
def snapshot_action(request, pk, action):
    snapshot = get_object_or_404(Snapshot.objects.visible_to(request.user), pk=pk)
    if action == "revert":
        _do(request, lambda: services.revert_snapshot(request.user, snapshot, request=request))
    elif action == "delete":
        _do(request, lambda: services.delete_snapshot(request.user, snapshot, request=request))
    if snapshot.volume_id:
        return redirect("storage:volume", pk=snapshot.volume_id)
    return redirect("storage:instance-snapshots", pk=snapshot.instance_id)


@login_required
def instance_snapshots(request, pk):
    instance = get_object_or_404(Instance.objects.visible_to(request.user), pk=pk)
    form = forms.InstanceSnapshotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _do(
            request,
            lambda: services.create_snapshot(
                request.user,
                instance=instance,
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"] or None,
                request=request,
            ),
        )
        return redirect("storage:instance-snapshots", pk=pk)
    snapshots = list(instance.snapshots.all())
    return render(
        request,
        "storage/instance_snapshots.html",
        {
            "instance": instance,
            "tree": services.snapshot_tree(snapshots),
            "form": form,
            "operations": _operations(instance),
        },
    )


@staff_member_required
def pools(request):
    rows = StoragePool.objects.prefetch_related("hosts")
    return render(request, "storage/pools.html", {"pools": rows})


@staff_member_required
@require_POST
def pool_action(request, pk, action):
    pool = get_object_or_404(StoragePool, pk=pk)
    if action == "delete":
        _do(request, lambda: services.delete_pool(request.user, pool, request=request))
    else:
        _do(request, lambda: services.pool_action(request.user, pool, action, request=request))
    return redirect("storage:pools")
