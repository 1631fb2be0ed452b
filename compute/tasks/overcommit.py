"""Celery tasks of memory overcommit: the balloon policy's beat run, the KSM switch, and reading
a host's KSM / swap into its facts (hypervisor.hostmem)."""

import dataclasses
import time

from celery import shared_task

import hypervisor as hv
from compute.choices import KIB_PER_MIB, HostState
from compute.models import Host
from compute.services import overcommit
from portal import operations
from portal.tasks import run_operation

POLICY_TASK = "compute.overcommit_tasks.balloon_policy"


def record_host_memory(host):
    """Read KSM and swap (KSM counters only, over libvirt, on a remote host) into ``host.facts["memory"]``."""
    memory = dataclasses.asdict(hv.host_memory(host.uri))
    Host.objects.filter(pk=host.pk).update(facts={**host.facts, "memory": memory})
    host.facts = {**host.facts, "memory": memory}
    return memory


@shared_task(name="compute.overcommit_tasks.balloon_policy")
def balloon_policy():
    """One pass over every up host; returns {host: number of balloon changes queued}."""
    policy = overcommit.policy_from_env()
    done = {}
    for host in Host.objects.filter(state=HostState.UP):
        try:
            done[host.name] = len(run_on_host(host, policy))
        except hv.HostUnreachable:
            done[host.name] = "unreachable"
    return done


def run_on_host(host, policy, now=None):
    node = hv.node_stats(host.uri)
    if not host.simulated:
        record_host_memory(host)
    guests = overcommit.guests_on(host, now or time.time(), policy)
    changes = overcommit.plan(node.memory_total_kib // KIB_PER_MIB, node.memory_free_kib // KIB_PER_MIB, guests, policy)
    return overcommit.apply(changes)


@shared_task(bind=True, name="compute.overcommit_tasks.set_ksm")
def set_ksm(self, op_id):
    def work(op):
        host = Host.objects.get(pk=op.target_id)
        run, settings = op.detail.get("run"), op.detail.get("settings") or {}
        if settings:
            operations.progress(op, 20, f"Setting KSM's node memory parameters on {host.name} through libvirt")
            hv.ksm_tune(host.uri, settings)
        if run is not None:
            operations.progress(op, 50, f"Writing {run} to /sys/kernel/mm/ksm/run on {host.name}")
            hv.ksm_set_run(host.uri, int(run))
        memory = record_host_memory(host)
        tuned = "".join(f", {name}={memory.get('ksm_' + name)}" for name in settings)
        state = f"KSM run={memory['ksm_run']}" if memory.get("ksm_run") is not None else "KSM"
        return f"{state} on {host.name}{tuned}, {memory['ksm_pages_sharing']} pages sharing"

    return run_operation(op_id, work, self.request.id or "")
