"""Celery tasks of compute's hosts: reading a host's facts, and the reconciler that makes the
database say what each host runs (the beat runs it)."""

import dataclasses

from celery import shared_task
from django.db import transaction
from django.utils import timezone

import hypervisor as hv
from compute import domain
from compute.choices import (
    KIB_PER_MIB,
    STATE_FOR_POWER,
    TRANSIENT_STATES,
    EventSource,
    HostState,
    InstanceState,
    PowerState,
)
from compute.models import Host, Instance, UnmanagedDomain
from compute.tasks.instances import INSTANCE_RELATED, set_state
from compute.tasks.lifecycle import RECONCILED_HOST_STATES, ensure_watch, note_io_error, report_unexpected_stop
from portal import operations
from portal.choices import ACTIVE_STATUSES
from portal.errors import ActionError
from portal.models import Operation
from portal.tasks import run_operation

UNREACHABLE_PREFIX = "Unreachable: "


@shared_task(bind=True, name="compute.tasks.refresh_host")
def refresh_host(self, op_id):
    def work(op):
        host = Host.objects.get(pk=op.target_id)
        operations.progress(op, 20, f"Reading facts from {host.uri}")
        try:
            facts = hv.host_facts(host.uri)
        except hv.HostUnreachable as exc:
            Host.objects.filter(pk=host.pk).update(
                state=HostState.ERROR, state_reason=f"{UNREACHABLE_PREFIX}{exc}"[:500]
            )
            raise
        apply_facts(host, facts)
        ensure_watch(host)
        refused = baseline_refusal(host)
        if refused:
            Host.objects.filter(pk=host.pk).update(state=HostState.ERROR, state_reason=refused[:500])
            raise ActionError(refused)
        return f"{host.name}: {facts.cpus} CPUs, {facts.memory_total_kib // KIB_PER_MIB} MB, {facts.cpu_model or 'CPU model unknown'}"

    return run_operation(op_id, work, self.request.id or "")


def baseline_refusal(host):
    """A host that cannot provide its cluster's CPU baseline (EVC) cannot join: the reason, or ''."""
    cluster = host.cluster
    if not cluster.cpu_baseline_xml:
        return ""
    if hv.cpu_compare(host.uri, cluster.cpu_baseline_xml) == "incompatible":
        return (
            f"{host.name} cannot provide cluster {cluster.name}'s CPU baseline "
            f"{cluster.cpu_baseline_model or '(custom)'}; it cannot join the cluster."
        )
    return ""


def active_pools(uri):
    """Sorted libvirt names of the host's active storage pools (not the serial consoles' own)."""
    return sorted(p.name for p in hv.list_pools(uri) if p.active and not p.name.startswith(hv.SERIAL_LOG_POOL_PREFIX))


def _note_pools(host):
    """Keep the host's reported pools current (a pool defined or stopped outside Nubes)."""
    try:
        pools = active_pools(host.uri)
    except hv.HypervisorError:
        return
    facts = host.facts or {}
    if facts.get("pools") != pools:
        Host.objects.filter(pk=host.pk).update(facts={**facts, "pools": pools})
        host.facts = {**facts, "pools": pools}


def apply_facts(host, facts):
    host.facts = {
        "hostname": facts.hostname,
        "cpu_model": facts.cpu_model,
        "cpu_vendor": facts.cpu_vendor,
        "cpu_features": list(facts.cpu_features),
        "sockets": facts.sockets,
        "cores": facts.cores,
        "threads": facts.threads,
        "mhz": facts.mhz,
        "cpus": facts.cpus,
        "numa_cells": [{"id": c.id, "cpus": list(c.cpus), "memory_kib": c.memory_kib} for c in facts.numa_cells],
        "memory_total_kib": facts.memory_total_kib,
        "memory_free_kib": facts.memory_free_kib,
        "hypervisor_type": facts.hypervisor_type,
        "hypervisor_version": facts.hypervisor_version,
        "libvirt_version": facts.libvirt_version,
        "domain_types": list(facts.domain_types),
        "memory": dataclasses.asdict(hv.host_memory(host.uri)),  # KSM and swap (compute.overcommit)
        "pools": active_pools(host.uri),  # placement's root-disk-pool filter
    }
    host.cpus, host.mhz = facts.cpus, facts.mhz
    host.memory_mb = facts.memory_total_kib // KIB_PER_MIB
    host.numa_nodes = max(len(facts.numa_cells), 1)
    host.simulated, host.kvm_usable, host.kvm_note = facts.simulated, facts.kvm_usable, facts.kvm_note[:500]
    host.refreshed = timezone.now()
    if host.state in (HostState.DOWN, HostState.ERROR):
        host.state, host.state_reason = HostState.UP, ""
    host.save()


# --- the reconciler ------------------------------------------------------------------------


@shared_task(name="compute.tasks.reconcile_all")
def reconcile_all():
    """Fix drift on every host; the beat schedule runs it (ComputeConfig.ready)."""
    summary = {}
    for host in Host.objects.filter(state__in=RECONCILED_HOST_STATES):
        summary[host.name] = reconcile_host(host)
    return summary


def _busy_instance_ids():
    return set(
        Operation.objects.filter(target_type="compute.instance", status__in=ACTIVE_STATUSES).values_list(
            "target_id", flat=True
        )
    )


def reconcile_host(host):
    """Make the database say what the host runs. Returns counts of what changed."""
    try:
        domains = {d.uuid: d for d in hv.list_domains(host.uri)}
    except hv.HostUnreachable as exc:
        if host.state == HostState.UP:
            Host.objects.filter(pk=host.pk).update(
                state=HostState.ERROR, state_reason=f"{UNREACHABLE_PREFIX}{exc}"[:500]
            )
        return {"unreachable": 1}
    if host.state == HostState.ERROR and host.state_reason.startswith(UNREACHABLE_PREFIX):
        Host.objects.filter(pk=host.pk).update(state=HostState.UP, state_reason="")
    ensure_watch(host)
    _note_pools(host)
    busy = _busy_instance_ids()
    counts = {"drift": 0, "vanished": 0, "unchanged": 0, "unmanaged": 0}
    ours = Instance.objects.select_related(*INSTANCE_RELATED).filter(host=host).exclude(state=InstanceState.DELETED)
    for instance in ours:
        dom = domains.pop(str(instance.uuid), None)
        if str(instance.pk) in busy or instance.state in TRANSIENT_STATES:
            continue
        counts[_reconcile_one(instance, dom)] += 1
    counts["unmanaged"] = _record_unmanaged(host, domains.values())
    return counts


def _reconcile_one(instance, dom):
    if dom is None:
        if instance.power_state == PowerState.VANISHED:
            return "vanished"
        domain.record_event(instance, EventSource.RECONCILER, "vanished", f"no domain on {instance.host.name}")
        set_state(instance, InstanceState.ERROR, PowerState.VANISHED, "The domain vanished from its host.")
        return "vanished"
    power = PowerState(dom.state)
    state = STATE_FOR_POWER[power]
    if power != instance.power_state or state != instance.state:
        was = instance.state
        domain.record_event(
            instance,
            EventSource.RECONCILER,
            "drift",
            f"database said {instance.state}/{instance.power_state}, host says {power}",
        )
        set_state(instance, state, power)
        report_unexpected_stop(instance, was, power, f"reconciler: found {power} on {instance.host.name}")
        if power == PowerState.PAUSED and hv.domain_disk_errors(instance.host.uri, str(instance.uuid)):
            note_io_error(instance)  # its event was missed: the disks say why it paused
        return "drift"
    return "unchanged"


def _record_unmanaged(host, domains):
    """Domains on the host that no live instance owns: listed for an admin, never touched."""
    seen = []
    with transaction.atomic():
        for dom in domains:
            seen.append(dom.uuid)
            UnmanagedDomain.objects.update_or_create(
                host=host, uuid=dom.uuid, defaults={"name": dom.name[:255], "power_state": PowerState(dom.state)}
            )
        UnmanagedDomain.objects.filter(host=host).exclude(uuid__in=seen).delete()
    return len(seen)


def read_facts_now(host):
    """Read a host's facts in this process (the demo seed, which has no worker)."""
    apply_facts(host, hv.host_facts(host.uri))
    return host
