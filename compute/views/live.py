"""Pages of migration and monitoring. They read the database; changes go through
compute.migration; charts start from stored samples and continue over the websocket."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from compute.forms import MigrateForm
from compute.metrics import charts
from compute.models import Alarm, AlarmRule, Host, Instance, Migration
from compute.models.metrics import AlarmState
from compute.services import migration as service
from compute.services.evacuation import evacuate_host
from portal.errors import ActionError
from portal.operations import TargetBusy

PAGE_SIZE = 50
REFUSALS = (ActionError, TargetBusy)
MIGRATION_RELATED = ("instance", "source", "target", "requester", "operation")


@login_required
def migrations(request):
    queryset = Migration.objects.visible_to(request.user).select_related(*MIGRATION_RELATED)
    if request.GET.get("active"):
        queryset = queryset.active()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "compute/live/migrations.html", {"page": page, "active_only": bool(request.GET.get("active"))}
    )


@login_required
def migration_detail(request, pk):
    migration = get_object_or_404(Migration.objects.visible_to(request.user).select_related(*MIGRATION_RELATED), pk=pk)
    context = {"migration": migration, "figure": charts.migration_figure(migration), "window": charts.WINDOW}
    return render(request, "compute/live/migration_detail.html", context)


def _refusal(request, exc):
    messages.error(request, str(exc))


def _migration_verb(request, pk, verb, done):
    migration = get_object_or_404(Migration, pk=pk)
    try:
        verb(migration, request.user, request)
        messages.info(request, done)
    except REFUSALS as exc:
        _refusal(request, exc)
    return redirect("compute:migration-detail", pk=pk)


@staff_member_required
@require_POST
def migration_cancel(request, pk):
    return _migration_verb(request, pk, service.cancel_migration, "Cancel requested; the instance stays on its source.")


@staff_member_required
@require_POST
def migration_postcopy(request, pk):
    return _migration_verb(request, pk, service.switch_to_postcopy, "Switching to post-copy.")


@staff_member_required
@require_POST
def instance_migrate(request, pk):
    """The instance page's migrate form; a refusal is shown on the form, at its field."""
    instance = get_object_or_404(Instance.objects.live().select_related("host"), pk=pk)
    form = MigrateForm(request.POST, instance=instance)
    if form.is_valid():
        data = form.cleaned_data
        try:
            op = service.start_migration(
                instance,
                target_host=data["target_host"],
                user=request.user,
                live=data["live"],
                options=form.options(),
                reason=data["reason"],
                request=request,
            )
        except ActionError as exc:
            form.add_action_error(exc)
        except TargetBusy as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("compute:migration-detail", pk=op.migration.pk)
    return render(request, "compute/live/instance_migrate.html", {"instance": instance, "form": form}, status=400)


@staff_member_required
@require_POST
def host_evacuate(request, pk):
    host = get_object_or_404(Host, pk=pk)
    try:
        evacuation = evacuate_host(host, user=request.user, batch=int(request.POST.get("batch") or 2), request=request)
    except (ValueError, *REFUSALS) as exc:
        _refusal(request, exc)
        return redirect("compute:host-detail", pk=pk)
    if evacuation.wake is not None:
        # The host page shows the wake's progress; the migrations start after it.
        messages.info(
            request,
            f"Evacuating {host.name}: waking {', '.join(evacuation.waking)} first (operation "
            f"{evacuation.wake.pk}); {evacuation.waiting} migration(s) start once it is up.",
        )
        return redirect("compute:host-detail", pk=pk)
    messages.info(
        request,
        f"Evacuating {host.name}: {len(evacuation.started)} migration(s) started, "
        f"{evacuation.waiting} wait their turn.",
    )
    return redirect(f"{reverse('compute:migrations')}?active=1")


@login_required
def alarms(request):
    context = {
        "alarms": Alarm.objects.visible_to(request.user)
        .exclude(state=AlarmState.PENDING)
        .select_related("rule")[:PAGE_SIZE],
        "rules": AlarmRule.objects.visible_to(request.user).select_related("project"),
    }
    return render(request, "compute/live/alarms.html", context)
