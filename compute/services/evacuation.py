"""Evacuation (maintenance mode): every instance off a host, a batch at a time, standby hosts
woken first when the powered-on ones cannot take them all. Each move is an ordinary migration
started through `migration.launch` (its pre-checks, placement and Operation)."""

from dataclasses import dataclass

from django.db import transaction

from compute.choices import HostState
from compute.models import Host, Instance, Migration, MigrationState
from compute.models.migration import QEMU_DEFAULT_DOWNTIME_MS
from compute.services import placement
from compute.services.migration import COLD_STATES, INSTANCE_RELATED, LIVE_STATES, demand_of, launch, may_migrate
from compute.tasks import evacuation as evacuation_tasks
from compute.tasks.migration import close
from portal import audit, operations
from portal.errors import ActionError, Conflict

EVACUATION_WAKE_KIND = "host.evacuation_wake"
MAX_EVACUATION_BATCH = 16
DEFAULT_EVACUATION_BATCH = 2
BATCH_KEY = "evacuation_batch"  # kept in a waiting migration's options; not a libvirt option


@dataclass(frozen=True)
class Evacuation:
    """What evacuate_host set going: the migrations started now, how many wait their turn,
    and the host.evacuation_wake Operation when standby hosts are woken first."""

    started: list
    waiting: int
    wake: object = None  # portal Operation or None

    @property
    def waking(self):
        """Names of the standby hosts the wake Operation wakes."""
        return [w["host_name"] for w in self.wake.detail["wakes"]] if self.wake is not None else []


def evacuate_host(host, *, user=None, batch=DEFAULT_EVACUATION_BATCH, request=None):
    """Put the host in maintenance and move every instance off it, ``batch`` at a time.

    Each instance gets a Migration now; the first ``batch`` start at once, the others wait
    and start as earlier ones end (advance_evacuation). When the powered-on hosts cannot take
    them all, standby hosts are woken first (a host.evacuation_wake Operation) and the
    migrations start after it. Returns an Evacuation."""
    may_migrate(user)
    if not 1 <= batch <= MAX_EVACUATION_BATCH:
        raise ActionError(f"batch is 1 to {MAX_EVACUATION_BATCH}.", field="batch")
    host = Host.objects.get(pk=host.pk)
    if host.state not in (HostState.UP, HostState.MAINTENANCE):
        raise Conflict(f"Host {host.name} is {host.state}: running instances cannot be migrated off it.")
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(state=HostState.MAINTENANCE, state_reason="Evacuating")
        moving = Migration.objects.active().filter(instance__host=host).values_list("instance_id", flat=True)
        instances = list(
            Instance.objects.filter(host=host, state__in=LIVE_STATES + COLD_STATES)
            .exclude(pk__in=list(moving))
            .select_related("flavor")
            .order_by("-ram_mb", "pk")
        )
        Migration.objects.bulk_create(
            [
                Migration(
                    instance=instance,
                    source=host,
                    live=instance.state in LIVE_STATES,
                    evacuating=host,
                    state=MigrationState.WAITING,
                    reason=f"evacuating {host.name}"[:255],
                    options={"max_downtime_ms": QEMU_DEFAULT_DOWNTIME_MS, BATCH_KEY: batch},
                    requester=user if user is not None and user.is_authenticated else None,
                )
                for instance in instances
            ]
        )
        wakes = placement.evacuation_wakes(host, [(i.pk, demand_of(i)) for i in instances])
        wake = _begin_wakes(host, user, wakes) if wakes else None
    audit.record(user, "host.evacuate", host, request=request, batch=batch)
    # With a wake, its task starts the migrations once the standby hosts are up.
    started = [] if wake is not None else advance_evacuation(host, user=user)
    waiting = Migration.objects.filter(evacuating=host, state=MigrationState.WAITING).count()
    return Evacuation(started=started, waiting=waiting, wake=wake)


def active_wake(host):
    """The evacuation's wake Operation still running on ``host``, or None."""
    running = operations.active_on(host)
    return running if running is not None and running.kind == EVACUATION_WAKE_KIND else None


def _begin_wakes(host, user, wakes):
    """Queue the wake of the standby hosts the evacuation needs (DPM's wake path, one per host)."""

    op = operations.begin(
        EVACUATION_WAKE_KIND,
        host,
        user=user,
        project=None,
        detail={"wakes": [{"host": target.pk, "host_name": target.name, "instances": pks} for target, pks in wakes]},
    )
    operations.send_after_commit(evacuation_tasks.wake_for_evacuation, op)
    return op


def advance_evacuation(host, user=None):
    """Start waiting migrations off ``host`` while fewer than its batch run; returns their
    Operations. A waiting migration whose pre-checks fail is marked failed with the reason."""
    started = []
    with transaction.atomic():
        Host.objects.select_for_update().filter(pk=host.pk).first()  # one advancer at a time
        ours = Migration.objects.filter(evacuating=host)
        running = ours.filter(state__in=(MigrationState.QUEUED, MigrationState.RUNNING)).count()
        for migration in ours.filter(state=MigrationState.WAITING).order_by("pk").select_related("instance"):
            batch = migration.options.get(BATCH_KEY, DEFAULT_EVACUATION_BATCH)
            if running >= batch:
                break
            instance = Instance.objects.select_related(*INSTANCE_RELATED).get(pk=migration.instance_id)
            options = {k: v for k, v in migration.options.items() if k != BATCH_KEY}
            try:
                with transaction.atomic():
                    op = launch(instance, None, user, migration.live, options, migration.reason, waiting=migration)
            except (ActionError, operations.TargetBusy) as exc:
                close(migration, MigrationState.FAILED, str(exc))
                continue
            started.append(op)
            running += 1
    return started
