"""Celery tasks of the scheduler: primary keys in, reload, call one service, record it.

Beat runs the ticks (see apps.py); a tick only fans out per-cluster or per-host tasks.
The hypervisor is called here for liveness probes and CPU baselines, nowhere else.
"""

import logging
import threading
import time

from celery import shared_task
from django.utils import timezone
from lxml import etree

import hypervisor as hv
from compute.choices import HostState, InstanceState, PowerState
from compute.models import Cluster, Host, Instance
from portal import operations
from portal.choices import FINAL_STATUSES, OperationStatus
from portal.errors import ActionError
from portal.tasks import run_operation
from scheduler import choices as c
from scheduler import conf, snapshot, witness
from scheduler.models import ClusterSchedulerSettings, HostPower
from scheduler.services import evc, power, recommendations
from scheduler.tasks import failover, guest_heartbeat

log = logging.getLogger(__name__)
PROBED_STATES = (HostState.UP, HostState.ERROR)
CPU_INCOMPATIBLE = "incompatible"
WAKING_ACTIONS = (c.PowerAction.WAKE, c.PowerAction.ON)
WAKE_PROGRESS = 5  # % of the request's Operation: waking comes before its own work


def probe(host):
    """(alive, error): does the host's libvirt answer? One attempt: the beat is the retry."""
    try:
        hv.host_ping(host.uri)
    except hv.HypervisorError as exc:
        return False, str(exc)
    return True, ""


def reachable(host):
    return probe(host)[0]


def _power_work(op):
    host = Host.objects.select_related("cluster").get(pk=op.target_id)
    return power.do_power(host, op.detail["action"], reachable=reachable)


@shared_task(bind=True)
def power_host(self, op_id):
    return run_operation(op_id, _power_work, self.request.id or "")


def wake_for_request(host, op):
    """compute's host waker (wake-on-demand): wake a standby host for the Operation `op` and
    return once it is up, or raise ActionError naming the host and what happened.

    The power Operation is DPM's own (audit, events), run here rather than queued so a busy
    worker pool cannot leave this task waiting on it; one already active on the host is
    waited for instead. The wait is bounded by NUBES_DPM_WAKE_TIMEOUT.
    """
    host.refresh_from_db()
    if host.state == HostState.UP:
        return
    reason = f"wake-on-demand for {op.kind} {op.target_name} (operation {op.pk})"
    try:
        power_op = power.begin_power(None, host, c.PowerAction.WAKE, reason=reason)
    except operations.TargetBusy as busy:
        power_op = busy.running
        if power_op.detail.get("action") not in WAKING_ACTIONS:
            raise ActionError(f"Host {host.name} cannot be woken now: {busy}") from busy
    operations.progress(op, WAKE_PROGRESS, f"Waking host {host.name} for this request (operation {power_op.pk})")
    run_operation(power_op.pk, _power_work, op.task_id)
    _wait_until_up(host, power_op)
    operations.progress(op, WAKE_PROGRESS, f"Host {host.name} is up")


def _wait_until_up(host, power_op):
    deadline = time.monotonic() + conf.dpm_wake_timeout_s()
    while True:
        host.refresh_from_db()
        if host.state == HostState.UP:
            return
        power_op.refresh_from_db()
        if power_op.status in FINAL_STATUSES and power_op.status != OperationStatus.SUCCEEDED:
            raise ActionError(f"Waking host {host.name} failed: {power_op.message or power_op.status}.")
        if power_op.status == OperationStatus.SUCCEEDED and reachable(host):
            power.mark_awake(host)
            continue
        if time.monotonic() >= deadline:
            raise ActionError(
                f"Host {host.name} was woken but did not come up within "
                f"{conf.dpm_wake_timeout_s():g} s (it is {host.state}; power {power_op.status})."
            )
        time.sleep(conf.dpm_wake_poll_s())


@shared_task(bind=True)
def failover_host(self, op_id):
    def work(op):
        return failover.fail_over(Host.objects.select_related("cluster").get(pk=op.target_id), op)

    return run_operation(op_id, work, self.request.id or "")


@shared_task
def heartbeat():
    """Probe every host that should be alive (and those waking from standby)."""
    waking = HostPower.objects.filter(power_state=c.PowerState.WAKING).values_list("host_id", flat=True)
    hosts = Host.objects.select_related("cluster").filter(state__in=PROBED_STATES) | Host.objects.select_related(
        "cluster"
    ).filter(pk__in=list(waking))
    hosts = list(hosts.distinct())
    verdicts = probe_all(hosts, conf.ha_probe_timeout_s())
    for host in hosts:
        alive, error = verdicts[host.pk]
        witness.note(host, alive)  # the other workers' second signal
        failover.record_heartbeat(host, alive, error)


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


@shared_task
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


@shared_task
def drs_tick():
    now = timezone.now()
    for settings in ClusterSchedulerSettings.objects.filter(drs_enabled=True):
        due = settings.drs_last_run is None or (now - settings.drs_last_run).total_seconds() >= settings.drs_interval_s
        if due:
            run_drs.delay(settings.cluster_id)


@shared_task
def run_drs(cluster_id):
    outcome = recommendations.run_drs(Cluster.objects.get(pk=cluster_id))
    log.info("DRS on cluster %s: %s", cluster_id, outcome.message)


@shared_task
def dpm_tick():
    for cluster_id in ClusterSchedulerSettings.objects.filter(dpm_enabled=True).values_list("cluster_id", flat=True):
        run_dpm.delay(cluster_id)


@shared_task
def run_dpm(cluster_id):
    outcome = recommendations.run_dpm(Cluster.objects.get(pk=cluster_id))
    log.info("DPM on cluster %s: %s", cluster_id, outcome.message)


@shared_task
def sweep_recommendations():
    recommendations.sweep()


def named_cpu_xml(model):
    cpu = etree.Element("cpu", mode="custom", match="exact")
    etree.SubElement(cpu, "model", fallback="forbid").text = model
    return etree.tostring(cpu, encoding="unicode")


@shared_task(bind=True)
def compute_evc(self, op_id):
    def work(op):
        cluster = Cluster.objects.get(pk=op.target_id)
        settings = snapshot.settings_for(cluster)
        hosts = list(Host.objects.filter(cluster=cluster).exclude(state__in=(HostState.DOWN, HostState.ERROR)))
        if not hosts:
            raise ActionError(f"Cluster {cluster.name} has no reachable host to compute a CPU baseline from.")
        if settings.evc_mode == c.EvcMode.NAMED:
            xml = named_cpu_xml(settings.evc_model)
        else:
            xml = hv.cpu_baseline(hosts[0].uri, [hv.host_cpu_xml(h.uri) for h in hosts])
        model = etree.fromstring(xml.encode()).findtext("model") or ""
        blocked = [h for h in hosts if hv.cpu_compare(h.uri, xml) == CPU_INCOMPATIBLE]
        evc.store_baseline(cluster, model, xml, blocked)
        blocking = sorted(h.name for h in blocked)
        note = f"; cannot provide it: {', '.join(blocking)}" if blocking else ""
        return f"CPU baseline {model or '(custom)'} from {len(hosts)} host(s){note}"

    return run_operation(op_id, work, self.request.id or "")


def beat_schedule():
    return {
        "scheduler-heartbeat": {"task": "scheduler.tasks.heartbeat", "schedule": float(conf.heartbeat_interval_s())},
        "scheduler-vm-heartbeat": {
            "task": "scheduler.tasks.vm_heartbeat",
            "schedule": float(conf.vm_heartbeat_interval_s()),
        },
        "scheduler-drs": {"task": "scheduler.tasks.drs_tick", "schedule": float(conf.drs_tick_s())},
        "scheduler-dpm": {"task": "scheduler.tasks.dpm_tick", "schedule": float(conf.dpm_interval_s())},
        "scheduler-sweep": {
            "task": "scheduler.tasks.sweep_recommendations",
            "schedule": float(conf.finalize_interval_s()),
        },
    }
