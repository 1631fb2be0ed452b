"""Series for the API and the charts: one metric of an instance, a host or a cluster over a
time range, averaged into steps, read from the finest resolution that still covers the
range. Cluster series combine the cluster's hosts per step."""

import time
from dataclasses import dataclass, replace

from django.db import connections
from django.db.models import Avg

from compute.metrics.rollups import bucket_of, retention
from compute.models import HostSample, InstanceSample
from compute.models.metrics import HOST_METRICS, INSTANCE_METRICS, METRIC_ALIASES, RESOLUTIONS, Scope
from portal.errors import ActionError

MAX_POINTS = 11_000  # what one request may ask for (Prometheus' limit)
MIN_STEP_S = 1
DEFAULT_RANGE_S = 3600
# Cluster series: percentages and loads average over hosts, amounts add up.
CLUSTER_AVERAGED = ("cpu_pct",)


@dataclass(frozen=True)
class SeriesRequest:
    scope: str
    object_id: int
    metric: str
    start: int
    end: int
    step: int


def parse(params, now=None):
    """A SeriesRequest from query parameters, or ActionError naming the bad one."""
    now = int(now if now is not None else time.time())
    scope = params.get("scope", Scope.INSTANCE)
    if scope not in Scope.values:
        raise ActionError(f"scope is one of {', '.join(Scope.values)}.", field="scope")
    metric = METRIC_ALIASES.get(params.get("metric", "cpu"), params.get("metric", "cpu"))
    known = INSTANCE_METRICS if scope == Scope.INSTANCE else HOST_METRICS
    if metric not in known:
        raise ActionError(f"A {scope} metric is one of {', '.join(known)}.", field="metric")
    numbers = {}
    for name, default in (("id", None), ("start", now - DEFAULT_RANGE_S), ("end", now), ("step", None)):
        raw = params.get(name)
        if raw in (None, ""):
            numbers[name] = default
            continue
        try:
            numbers[name] = int(float(raw))
        except ValueError:
            raise ActionError(f"{name} is a number (unix seconds for start and end).", field=name) from None
    if numbers["id"] is None:
        raise ActionError("Name the object: id=<pk>.", field="id")
    start, end = numbers["start"], numbers["end"]
    if start < 0 or end <= start:
        raise ActionError("start must come before end.", field="start")
    step = numbers["step"] or max(MIN_STEP_S, (end - start) // 300)
    if step < MIN_STEP_S:
        raise ActionError(f"step is at least {MIN_STEP_S} second.", field="step")
    if (end - start) / step > MAX_POINTS:
        raise ActionError(f"At most {MAX_POINTS} points per request: raise step.", field="step")
    return SeriesRequest(scope, numbers["id"], metric, start, end, step)


def resolution_for(request, now=None):
    """The finest resolution, at most one step wide, whose retention reaches back to start;
    when none does, the finest that reaches back at all."""
    now = time.time() if now is None else now
    covering = [r for r in RESOLUTIONS if now - retention(r) <= request.start]
    fine_enough = [r for r in covering if r <= request.step]
    if fine_enough:
        return fine_enough[0]
    return covering[0] if covering else RESOLUTIONS[-1]


def _rows_in_range(request, resolution):
    if request.scope == Scope.INSTANCE:
        rows = InstanceSample.objects.filter(instance_id=request.object_id)
    elif request.scope == Scope.HOST:
        rows = HostSample.objects.filter(host_id=request.object_id)
    else:
        rows = HostSample.objects.filter(host__cluster_id=request.object_id)
    return rows.filter(resolution=resolution, ts__gte=request.start, ts__lt=request.end)


def series(request, now=None):
    resolution = resolution_for(request, now)
    rows = _rows_in_range(request, resolution)
    if request.scope != Scope.CLUSTER:
        points = _points_of(rows, request.step, [request.metric])[request.metric]
        return {**_described(request, resolution), "points": points}
    # First per host and step, then across hosts: a sum must not add a host's repeats.
    per_host = (
        rows.annotate(bucket=bucket_of("ts", request.step))
        .values("host_id", "bucket")
        .annotate(v=Avg(request.metric))
        .order_by()
    )
    points = {}
    for row in per_host:
        if row["v"] is not None:
            points.setdefault(row["bucket"], []).append(row["v"])
    averaged = request.metric in CLUSTER_AVERAGED
    values = sorted((bucket, sum(vs) / len(vs) if averaged else sum(vs)) for bucket, vs in points.items())
    return {**_described(request, resolution), "points": [[bucket, round(value, 3)] for bucket, value in values]}


def _described(request, resolution):
    unit = (INSTANCE_METRICS if request.scope == Scope.INSTANCE else HOST_METRICS)[request.metric][0]
    return {
        "scope": request.scope,
        "id": request.object_id,
        "metric": request.metric,
        "unit": unit,
        "start": request.start,
        "end": request.end,
        "step": request.step,
        "resolution": resolution,
    }


def _points_of(rows, step, metrics):
    """{metric: [[bucket, average]]} of the rows' metrics per step, in one query (a bucket
    whose average is NULL is left out of that metric's points, as no sample)."""
    averages = [f"avg_{metric}" for metric in metrics]
    averaged = (
        rows.annotate(bucket=bucket_of("ts", step))
        .values("bucket")
        .annotate(**{name: Avg(metric) for name, metric in zip(averages, metrics, strict=True)})
        .order_by("bucket")
        .values_list("bucket", *averages)
    )
    # Its rows read as the database gives them, converted here as Django would (an integer
    # bucket, float averages): Django's converters, one call per value, cost an instance page's
    # seven series of 300 steps more than the query itself.
    sql, params = averaged.query.sql_with_params()
    with connections[averaged.db].cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    if not found:
        return {metric: [] for metric in metrics}
    buckets, *columns = zip(*found, strict=True)
    buckets = [int(bucket) for bucket in buckets]
    return {
        metric: [
            [bucket, round(float(value), 3)] for bucket, value in zip(buckets, column, strict=True) if value is not None
        ]
        for metric, column in zip(metrics, columns, strict=True)
    }


def points_of_metrics(request, metrics, now=None):
    """{metric: points as series() gives them} for several metrics of the request's instance or
    host over its range and step: one query for them all (an instance page's charts ask for 7)."""
    if request.scope == Scope.CLUSTER:
        return {metric: series(replace(request, metric=metric), now)["points"] for metric in metrics}
    return _points_of(_rows_in_range(request, resolution_for(request, now)), request.step, metrics)
