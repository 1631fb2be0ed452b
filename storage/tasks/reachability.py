"""A whole array that stops answering, as QEMU never reports it. When an iSCSI target goes away
entirely (set offline in tgtd, its service or node stopped) QEMU's libiscsi gets no SCSI status,
has no command timeout (libvirt sets none and cannot: see the README), and the guest's I/O waits
for ever with the domain "running": no I/O error, no pause, so storage.tasks.outage never hears
of it. So a beat task asks every LUN pool's array itself, on each host of the pool, every
NUBES_POOL_PROBE_INTERVAL seconds (hv.pool_probe: a transient copy of the pool logs in and reads
the LUNs), each probe in a daemon thread that the task waits for NUBES_POOL_PROBE_TIMEOUT
seconds at most: a login to a portal that answers nothing waits as long as the host's TCP stack
lets it, and must not hold a worker. A probe still running is not started again.

A pool whose array refuses or does not answer in time is put in error ("Unreachable: ..."), and
its running instances with a disk on it on the failing hosts say "I/O stalled: pool X
unreachable ..." (their reason; compute.tasks.lifecycle). Once every host's probe answers, the
pool is active again, the notes go, and instances QEMU paused on an I/O error meanwhile resume."""

import threading
import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

import hypervisor as hv
from compute.choices import HostState, InstanceState
from compute.models import Instance
from compute.tasks import lifecycle
from storage.choices import LUN_POOL_TYPES, POOL_UNREACHABLE, PoolState
from storage.models import StoragePool
from storage.tasks import outage

PROBE_TASK = "storage.tasks.probe_lun_pools"
PROBED_HOST_STATES = (HostState.UP, HostState.MAINTENANCE)
_running = {}  # (host uri, pool) -> the probe thread last started for it
_lock = threading.Lock()


class Probe(threading.Thread):
    """One hv.pool_probe; ``answered`` only once it returned without an error."""

    def __init__(self, uri, pool):
        super().__init__(name=f"pool-probe {pool}", daemon=True)
        self.uri, self.pool = uri, pool
        self.began = time.monotonic()
        self.answered, self.error = False, None

    def run(self):
        try:
            hv.pool_probe(self.uri, self.pool)
            self.answered = True
        except Exception as exc:  # noqa: BLE001 - any failure is the probe's answer, read by the task
            self.error = exc


def start_probe(uri, pool):
    """A new probe of ``pool`` on the host, or the one still running there from an earlier round."""
    with _lock:
        probe = _running.get((uri, pool))
        if probe is None or not probe.is_alive():
            probe = _running[(uri, pool)] = Probe(uri, pool)
            probe.start()
        return probe


def outcome(probe, deadline):
    """None when the probe answered by ``deadline`` (a monotonic time), else why not; the host's
    own unreachability is raised (the host's failure handling owns that, not the pool's)."""
    probe.join(max(0.0, deadline - time.monotonic()))
    if probe.is_alive():
        return f"no answer within {time.monotonic() - probe.began:.0f} s"
    if isinstance(probe.error, hv.HostUnreachable):
        raise probe.error
    if not probe.answered:
        return str(probe.error or "the probe failed")[:200]
    return None


def _failing_hosts(pools, timeout):
    """{pool: ({host: why} of the hosts whose probe failed, number of hosts that answered)}."""
    started = [
        (pool, host, start_probe(host.uri, pool.libvirt_name))
        for pool in pools
        for host in pool.hosts.all()
        if host.state in PROBED_HOST_STATES
    ]
    deadline = time.monotonic() + timeout
    found = {pool: ({}, 0) for pool in pools}
    for pool, host, probe in started:
        try:
            why = outcome(probe, deadline)
        except hv.HostUnreachable:
            continue
        failing, answered = found[pool]
        if why:
            failing[host] = why
        found[pool] = (failing, answered + (why is None))
    return found


def _flag_instances(pool, hosts, at):
    """Note the stall on the running instances of ``hosts`` with a disk on the pool."""
    flagged = []
    for instance in Instance.objects.select_related("host", "project").filter(
        host__in=hosts, state=InstanceState.ACTIVE, state_reason=""
    ):
        try:
            devs = sorted(dev for dev, (held, _source) in outage.disks_of(instance).items() if held.pk == pool.pk)
        except hv.HypervisorError:
            continue
        detail = f"since {at}: the array does not answer and {', '.join(devs)} wait (QEMU reports no error)."
        if devs and lifecycle.note_io_stall(instance, pool.name, detail):
            flagged.append(instance.name)
    return flagged


def _unreachable(pool, failing):
    at = timezone.now().strftime("%H:%M:%S UTC")
    if pool.state == PoolState.ACTIVE:
        why = "; ".join(f"{host.name}: {text}" for host, text in sorted(failing.items(), key=lambda i: i[0].name))
        reason = (
            f"{POOL_UNREACHABLE}: the array does not answer since {at} ({why}); "
            f"asked every {settings.NUBES_POOL_PROBE_INTERVAL} s."
        )
        StoragePool.objects.filter(pk=pool.pk, state=PoolState.ACTIVE).update(
            state=PoolState.ERROR, state_reason=reason[:500]
        )
    return _flag_instances(pool, list(failing), at)


def _answers(pool):
    """Every host's probe answered: the pool is active, its stall notes go, and instances QEMU
    paused on an I/O error of it meanwhile resume (as storage.tasks.outage does)."""
    paused = outage.paused_on(pool)
    StoragePool.objects.filter(pk=pool.pk, state=PoolState.ERROR, state_reason__startswith=POOL_UNREACHABLE).update(
        state=PoolState.ACTIVE, state_reason="", refreshed=timezone.now()
    )
    lifecycle.clear_io_stall(pool.name)
    outage.resume_paused(pool, paused)


@shared_task(name=PROBE_TASK)
def probe_lun_pools():
    """Beat: ask each LUN pool's array on each of its hosts; {pool name: "unreachable" or
    "back"} of the pools whose state this round changed or kept in error."""
    pools = [
        pool
        for pool in StoragePool.objects.filter(type__in=LUN_POOL_TYPES).prefetch_related("hosts")
        if pool.state == PoolState.ACTIVE
        or (pool.state == PoolState.ERROR and pool.state_reason.startswith(POOL_UNREACHABLE))
    ]
    summary = {}
    for pool, (failing, answered) in _failing_hosts(pools, float(settings.NUBES_POOL_PROBE_TIMEOUT)).items():
        if failing:
            _unreachable(pool, failing)
            summary[pool.name] = "unreachable"
        elif answered and pool.state == PoolState.ERROR:
            _answers(pool)
            summary[pool.name] = "back"
    return summary
