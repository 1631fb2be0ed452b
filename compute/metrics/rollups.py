"""Retention and downsampling: raw samples for an hour, 1-minute averages for a day,
10-minute averages for 30 days (each a setting). Rollups only cover complete buckets and
continue from the newest bucket already written, so running them again adds nothing."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, BigIntegerField, Count, ExpressionWrapper, F, Max, Min, Q, Value
from django.db.models.functions import Mod

from compute.models import HostSample, InstanceSample
from compute.models.metrics import HOST_METRICS, INSTANCE_METRICS, ONE_MINUTE, RAW, TEN_MINUTES
from portal.env import env_int

HOUR_S = 3600
DAY_S = 86_400
MIN_RETENTION_S = 60
BULK_BATCH = 1000
# resolution -> (setting / environment variable, default seconds kept)
RETENTION = {
    RAW: ("NUBES_METRICS_RAW_RETENTION", HOUR_S),
    ONE_MINUTE: ("NUBES_METRICS_1M_RETENTION", DAY_S),
    TEN_MINUTES: ("NUBES_METRICS_10M_RETENTION", 30 * DAY_S),
}
ROLLUPS = ((RAW, ONE_MINUTE), (ONE_MINUTE, TEN_MINUTES))


@dataclass(frozen=True)
class Series:
    model: type
    key: str
    metrics: tuple


SERIES = (
    Series(InstanceSample, "instance_id", tuple(INSTANCE_METRICS)),
    Series(HostSample, "host_id", tuple(HOST_METRICS)),
)


def retention(resolution):
    """Seconds samples of this resolution are kept: a Django setting, else the environment."""
    name, default = RETENTION[resolution]
    value = getattr(settings, name, None)
    return int(value) if value is not None else env_int(name, default, MIN_RETENTION_S)


def bucket_of(field, size):
    return ExpressionWrapper(F(field) - Mod(F(field), Value(size)), output_field=BigIntegerField())


def rollup(series, source, target, now):
    """Average complete ``target``-second buckets of ``source`` samples; returns rows written."""
    model = series.model
    end = int(now) // target * target
    newest = model.objects.filter(resolution=target).aggregate(ts=Max("ts"))["ts"]
    if newest is not None:
        start = newest + target
    else:
        oldest = model.objects.filter(resolution=source).aggregate(ts=Min("ts"))["ts"]
        if oldest is None:
            return 0
        start = oldest // target * target
    if start >= end:
        return 0
    rows = (
        model.objects.filter(resolution=source, ts__gte=start, ts__lt=end)
        .annotate(bucket=bucket_of("ts", target))
        .values(series.key, "bucket")
        .annotate(sim=Count("pk", filter=Q(simulated=True)), **{f"avg_{m}": Avg(m) for m in series.metrics})
        .order_by()
    )
    made = [
        model(
            **{series.key: row[series.key]},
            ts=row["bucket"],
            resolution=target,
            simulated=row["sim"] > 0,
            **{m: row[f"avg_{m}"] for m in series.metrics},
        )
        for row in rows
    ]
    model.objects.bulk_create(made, batch_size=BULK_BATCH)
    return len(made)


def prune(now):
    """Delete samples older than their resolution's retention; returns rows deleted."""
    deleted = 0
    for series in SERIES:
        for resolution in RETENTION:
            cutoff = int(now) - retention(resolution)
            deleted += series.model.objects.filter(resolution=resolution, ts__lt=cutoff).delete()[0]
    return deleted


def rollup_and_prune(now):
    """Rollups first, so no raw sample is pruned before its minute is averaged."""
    written = 0
    with transaction.atomic():
        for series in SERIES:
            for source, target in ROLLUPS:
                written += rollup(series, source, target, now)
    return {"written": written, "deleted": prune(now)}
