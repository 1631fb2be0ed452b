"""Collect one host: ONE getAllDomainStats call (hypervisor.bulk_domain_stats) plus the node's
CPU and memory, rates against the host's last counters, samples written in bulk, alarms
evaluated, and every value published to the instance, host and cluster groups."""

import logging
import time
from dataclasses import dataclass

from django.db import transaction

import hypervisor as hv
from compute.metrics import alarms, maths
from compute.models import HostSample, Instance, InstanceSample, MetricCursor
from compute.models.metrics import Scope
from portal import realtime

log = logging.getLogger(__name__)
ACTIVE_STATES = ("running", "blocked", "paused")
BULK_BATCH = 500
METRICS_EVENT = "metrics"


@dataclass(frozen=True)
class Collection:
    host_id: int
    ts: int
    instances: int
    domains: int
    simulated: bool
    seconds: float


def collect_host(host, at=None, publish=True):
    """Collect, store and publish one host's metrics; returns what was done."""
    started = time.perf_counter()
    stats = hv.bulk_domain_stats(host.uri, at)
    node = hv.node_stats(host.uri, at)
    ts = int(node.timestamp)
    cursor, _ = MetricCursor.objects.get_or_create(host=host)
    owners = {
        str(uuid): (pk, project_id, name)
        for pk, uuid, project_id, name in Instance.objects.filter(uuid__in=[s.uuid for s in stats]).values_list(
            "pk", "uuid", "project_id", "name"
        )
    }
    readings, samples, per_instance = {}, [], {}
    for record in stats:
        current = maths.reading(record, maths.DOMAIN_FIELDS)
        readings[record.uuid] = current
        owner = owners.get(record.uuid)
        if owner is None or record.state not in ACTIVE_STATES:
            continue
        values = maths.derive_instance(cursor.domains.get(record.uuid), current)
        samples.append(InstanceSample(instance_id=owner[0], ts=ts, simulated=record.simulated, **values))
        per_instance[owner[0]] = (owner[2], owner[1], values)
    running = sum(1 for record in stats if record.state in ACTIVE_STATES)
    node_reading = maths.reading(node, maths.NODE_FIELDS)
    host_values = maths.derive_host(cursor.node or None, node_reading, running)
    with transaction.atomic():
        InstanceSample.objects.bulk_create(samples, batch_size=BULK_BATCH)
        HostSample.objects.create(host=host, ts=ts, simulated=node.simulated, **host_values)
        cursor.at, cursor.node, cursor.domains = node.timestamp, node_reading, readings
        cursor.latest = {
            "ts": ts,
            "simulated": node.simulated,
            "host": host_values,
            "instances": {str(pk): values for pk, (_n, _p, values) in per_instance.items()},
        }
        cursor.save()
    alarms.evaluate(Scope.INSTANCE, per_instance, ts)
    alarms.evaluate(Scope.HOST, {host.pk: (host.name, None, host_values)}, ts)
    if publish:
        publish_collection(host, ts, node.simulated, host_values, per_instance)
    return Collection(host.pk, ts, len(samples), len(stats), node.simulated, time.perf_counter() - started)


def publish_collection(host, ts, simulated, host_values, per_instance):
    """Every instance's values to its group, the host's to the host's and cluster's: one
    realtime.publish_many for the lot (one event loop and connection, not one per message)."""
    message = {
        "scope": Scope.HOST,
        "id": host.pk,
        "name": host.name,
        "ts": ts,
        "simulated": simulated,
        "values": host_values,
    }
    realtime.publish_many(
        [
            (
                f"compute.instance.{pk}",
                METRICS_EVENT,
                {"scope": Scope.INSTANCE, "id": pk, "ts": ts, "simulated": simulated, "values": values},
            )
            for pk, (_name, _project, values) in per_instance.items()
        ]
        + [(host.group, METRICS_EVENT, message), (f"compute.cluster.{host.cluster_id}", METRICS_EVENT, message)]
    )
