"""HA's tasks: the heartbeat (every host probed at once, the verdicts to failover.py), the
failover Operation, and the guest-agent pings of VM-level HA (verdicts to guest_heartbeat.py)."""

import logging
import threading
import time

from celery import shared_task
from celery.utils.nodenames import worker_direct

import hypervisor as hv
from compute.choices import HostState, InstanceState, PowerState
from compute.models import Host, Instance
from portal import leases
from scheduler import choices as c
from scheduler import conf, witness
from scheduler.models import HostPower
from scheduler.tasks import failover, guest_heartbeat
from scheduler.tasks.power import probe

PROBED_STATES = (HostState.UP, HostState.ERROR)
log = logging.getLogger(__name__)


@shared_task(bind=True, name="scheduler.tasks.heartbeat")
def heartbeat(self):
    """Probe every host that should be alive (and those waking from standby); ask the other
    workers to probe those this worker missed."""
    waking = HostPower.objects.filter(power_state=c.PowerState.WAKING).values_list("host_id", flat=True)
    hosts = Host.objects.select_related("cluster").filter(state__in=PROBED_STATES) | Host.objects.select_related(
        "cluster"
    ).filter(pk__in=list(waking))
    hosts = list(hosts.distinct())
    me = node_name(self.request)
    verdicts = probe_all(hosts, conf.ha_probe_timeout_s())
    for host in hosts:
        alive, error = verdicts[host.pk]
        witness.note(host, alive, worker=me)  # the other workers' second signal
        failover.record_heartbeat(host, alive, error, worker=me)
    ask_others([host for host in hosts if not verdicts[host.pk][0]], me)


@shared_task(bind=True, name="scheduler.tasks.probe_hosts")
def probe_hosts(self, host_ids):
    """Another worker's second opinion on hosts a worker missed (sent to this worker's own queue
    by ask_others): noted for the asker; a host this worker reaches is alive again for HA."""
    me = node_name(self.request)
    hosts = list(Host.objects.select_related("cluster").filter(pk__in=host_ids, state__in=PROBED_STATES))
    verdicts = probe_all(hosts, conf.ha_probe_timeout_s())
    for host in hosts:
        alive, error = verdicts[host.pk]
        witness.note(host, alive, worker=me)
        if alive:
            failover.record_heartbeat(host, True, worker=me)


def node_name(request):
    """This worker's name in the witness: its Celery node name (its direct queue's key), or the
    process's name when run outside a worker (a test, a shell)."""
    return getattr(request, "hostname", None) or leases.worker_name()


def _workers_run_tasks():
    return not probe_hosts.app.conf.task_always_eager  # eager (tests, lab_register): nobody to ask


PING_TIMEOUT_S = 1.0


def live_workers():
    """The node names of the workers answering Celery's ping now (their main processes answer,
    however busy their pools): a worker that never ran a heartbeat is asked too."""
    try:
        replies = probe_hosts.app.control.ping(timeout=PING_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - no answer is no one to ask; the next round tries again
        log.warning("no worker answered the ping: %s", exc)
        return set()
    return {name for reply in replies for name in reply}


def ask_others(missed, me):
    """Send probe_hosts for `missed` to every other worker that probed them or answers the ping,
    each through its own direct queue (CELERY_WORKER_DIRECT), expiring within a heartbeat
    interval, and note the ask (the asked worker is awaited from then on): which worker runs
    beat's heartbeat is the broker's choice (on the fleet it went to one worker for minutes), so
    the others' verdicts must be asked for."""
    if not missed or not _workers_run_tasks():
        return
    live = live_workers()
    asked = {}
    for host in missed:
        for other in sorted(set(witness.known_workers(host, worker=me)) | live):
            if "@" in other and other != me:  # a Celery node name; older notes named a process
                witness.asked(host, other)
                asked.setdefault(other, []).append(host.pk)
    for other, ids in asked.items():
        try:
            probe_hosts.apply_async(args=[ids], queue=worker_direct(other), expires=conf.heartbeat_interval_s())
        except Exception as exc:  # noqa: BLE001 - a broker hiccup costs one ask; the next heartbeat asks again
            log.warning("could not ask %s to probe hosts %s: %s", other, ids, exc)


def guest_verdict(instance):
    """(verdict, detail) of one guest-agent ping of a running instance; None when its host
    does not answer (host HA's business, not the guest's)."""
    uri, uuid = instance.host.uri, str(instance.uuid)
    try:
        if hv.domain_state(uri, uuid).state != PowerState.RUNNING:
            return guest_heartbeat.Verdict.NOT_RUNNING, ""
        hv.guest_ping(uri, uuid, timeout=conf.vm_heartbeat_timeout_s())
    except (hv.GuestAgentTimeout, hv.GuestAgentUnavailable) as exc:
        return guest_heartbeat.Verdict.SILENT, str(exc)[:200]
    except hv.HypervisorError:
        return None
    return guest_heartbeat.Verdict.ANSWERED, ""


@shared_task(name="scheduler.tasks.vm_heartbeat")
def vm_heartbeat():
    """VM-level HA for hung guests: ping each protected running instance's guest agent."""
    running = Instance.objects.filter(state=InstanceState.ACTIVE, host__state=HostState.UP).select_related("host")
    for instance in running.order_by("pk"):
        if not guest_heartbeat.protected(instance):
            continue
        verdict = guest_verdict(instance)
        if verdict is not None:
            guest_heartbeat.record(instance, *verdict)


PROBE_BATCH = 32  # threads at once


def probe_all(hosts, timeout_s):
    """{host pk: (alive, error)}: every host probed at once, each within timeout_s (a dead
    host no longer delays the others). A probe still hanging at the deadline counts as a miss;
    its daemon thread ends when the connection attempt does."""
    verdicts = {}
    for start in range(0, len(hosts), PROBE_BATCH):
        batch = hosts[start : start + PROBE_BATCH]
        threads = []
        for host in batch:
            thread = threading.Thread(target=_probe_into, args=(host, verdicts), name=f"probe-{host.pk}", daemon=True)
            thread.start()
            threads.append(thread)
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    missing = (False, f"no answer within {timeout_s:g} s")
    return {host.pk: verdicts.get(host.pk, missing) for host in hosts}


def _probe_into(host, verdicts):
    verdicts[host.pk] = probe(host)
