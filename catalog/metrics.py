"""A service's metrics from inside its guest: the template's metrics hook (for PostgreSQL,
client connections, commits + rollbacks since the statistics began, the databases' size) run
through the guest agent on the metrics beat, turned into a sample (transactions per second
from the difference with the previous reading), stored, published to the service's websocket
group and charted on its page with compute's chart code. A guest whose agent or database does
not answer makes the service degraded with the reason; the next answer makes it active again."""

import math
import time

from django.db.models import Avg

import hypervisor as hv
from catalog import tasks
from catalog.models import SERVICE_METRICS, ServiceSample, ServiceState
from compute.metrics import charts
from compute.metrics.rollups import bucket_of, retention
from compute.models.metrics import RAW
from portal import realtime

METRICS_EVENT = "metrics"
HOOK = "metrics"
TIMEOUT_S = 60  # one reading under TCG on a loaded host
MIB = 1024 * 1024
# Reasons this collection sets, cleared by its next answer.
DOWN_REASONS = ("guest agent:", "database:")
SERVICE_CHARTS = (
    ("Connections", "", ("connections",)),
    ("Transactions", "1/s", ("xact_per_s",)),
    ("Database size", "MiB", ("size_mib",)),
)


def group_of(service):
    return f"catalog.service.{service.pk}"


def _rate(previous, reading, ts):
    """Transactions per second since the previous reading, or None (the first one, or the
    server restarted and its counters began again)."""
    if not previous or previous.get("started") != reading.get("started"):
        return None
    elapsed = ts - previous.get("ts", ts)
    delta = reading.get("xact_total", 0) - previous.get("xact_total", 0)
    if elapsed <= 0 or delta < 0:
        return None
    return round(delta / elapsed, 3)


def collect(service, now=None):
    """Read the service's metrics through the agent and store a sample; the sample, or None when
    the guest did not answer (the service is then degraded, saying why)."""
    now = time.time() if now is None else now
    try:
        result = tasks._run(service, service.template.hooks[HOOK], {}, timeout=TIMEOUT_S)
    except tasks.AGENT_DOWN as exc:
        tasks._set_state(service, ServiceState.DEGRADED, f"guest agent: {exc}")
        return None
    except hv.GuestScriptFailed as exc:
        tasks._set_state(service, ServiceState.DEGRADED, f"database: {exc}")
        return None
    if service.state == ServiceState.DEGRADED and service.status_reason.startswith(DOWN_REASONS):
        tasks._set_state(service, ServiceState.ACTIVE)
    reading, ts = result.output, int(now)
    values = {
        "connections": reading.get("connections"),
        "xact_per_s": _rate(service.inventory.get("metrics"), reading, now),
        "size_mib": round(reading["size_bytes"] / MIB, 2) if reading.get("size_bytes") is not None else None,
    }
    tasks._remember(
        service,
        "metrics",
        {
            "ts": now,
            "started": reading.get("started"),
            "xact_total": reading.get("xact_total", 0),
            "max_connections": reading.get("max_connections"),
            "databases": reading.get("databases", []),
            **values,
        },
    )
    sample = ServiceSample.objects.create(service=service, ts=ts, **values)
    replication(service)
    realtime.publish_many([(group_of(service), METRICS_EVENT, {"id": service.pk, "ts": ts, "values": values})])
    return sample


def replication(service):
    """A replica's lag (or a primary's replicas) through the replica-status hook, kept in the
    service's inventory for its page and the API; nothing for a service without replication."""
    if "replica-status" not in service.template.hooks:
        return None
    if service.replica_of_id is None and not service.replicas.exists():
        return None
    try:
        output = tasks._run(service, service.template.hooks["replica-status"], {}, timeout=TIMEOUT_S).output
    except (hv.GuestScriptFailed, *tasks.AGENT_DOWN):
        return None
    tasks._remember(service, "replication", {"output": output})
    return output


def prune(now=None):
    """Drop samples older than compute's raw samples are kept."""
    now = time.time() if now is None else now
    return ServiceSample.objects.filter(ts__lt=int(now - retention(RAW))).delete()[0]


def points(service, metric, now, range_s):
    """[(ts, value)] of ``metric`` over the last ``range_s`` seconds, averaged per step (at most
    charts.POINTS_PER_RANGE points)."""
    step = max(1, range_s // charts.POINTS_PER_RANGE)
    end = math.ceil(now)
    rows = (
        ServiceSample.objects.filter(service=service, ts__gte=end - range_s, ts__lte=end)
        .annotate(bucket=bucket_of("ts", step))
        .values("bucket")
        .annotate(v=Avg(metric))
        .order_by("bucket")
    )
    return [(row["bucket"], round(row["v"], 3)) for row in rows if row["v"] is not None]


def service_charts(service, now=None, range_s=charts.RANGES[charts.DEFAULT_RANGE][1]):
    now = time.time() if now is None else now
    return [
        charts.chart_of(
            f"chart-service-{service.pk}-{index}",
            title,
            unit,
            [
                (
                    SERVICE_METRICS[metric][1],
                    points(service, metric, now, range_s),
                    {"group": group_of(service), "id": service.pk, "metric": metric},
                )
                for metric in metrics
            ],
            now,
            range_s,
        )
        for index, (title, unit, metrics) in enumerate(SERVICE_CHARTS)
    ]
