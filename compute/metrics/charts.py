"""Initial Plotly figures, built on the server with the plotly package from stored samples;
the browser then appends points from websocket messages (static/js/live_charts.js) with
Plotly.extendTraces, keeping at most WINDOW points per trace."""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import plotly.graph_objects as go

from compute.metrics import query
from compute.models.metrics import HOST_METRICS, INSTANCE_METRICS, Scope

WINDOW = 360  # points kept per trace: an hour at the default 10 s interval
HISTORY_S = 900
CHART_HEIGHT = 220
MIB = 1024 * 1024
INSTANCE_CHARTS = (
    ("CPU %", ("cpu_pct",)),
    ("Memory MiB", ("mem_used_mb", "mem_balloon_mb")),
    ("Disk B/s", ("disk_read_bps", "disk_write_bps")),
    ("Network B/s", ("net_rx_bps", "net_tx_bps")),
)
HOST_CHARTS = (
    ("CPU %", ("cpu_pct",)),
    ("Memory MiB", ("mem_used_mb", "mem_free_mb")),
    ("Running instances", ("running_instances",)),
)


@dataclass(frozen=True)
class Chart:
    dom_id: str
    title: str
    figure: dict  # Plotly's JSON as plain data (the template writes it with json_script)
    traces: list  # [{group, id, metric}], one per trace, in order

    @property
    def window(self):
        return WINDOW


def _when(ts):
    # Plotly reads zone-less timestamps; the browser appends the same UTC form.
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _layout(title, y_title):
    return go.Layout(
        title={"text": title, "font": {"size": 13}},
        height=CHART_HEIGHT,
        margin={"l": 50, "r": 10, "t": 30, "b": 30},
        yaxis={"title": y_title, "rangemode": "tozero"},
        xaxis={"type": "date"},
        legend={"orientation": "h", "y": -0.25},
        showlegend=True,
    )


def _history(scope, object_id, metric, now):
    request = query.SeriesRequest(scope, object_id, metric, int(now - HISTORY_S), int(now) + 1, 1)
    return query.series(request, now)["points"]


def build(dom_id, title, lines, now=None):
    """lines: [(scope, object id, metric, trace name)] -> Chart with their recent history."""
    now = time.time() if now is None else now
    figure = go.Figure(layout=_layout(title, title.split(" ")[-1]))
    traces = []
    for scope, object_id, metric, name in lines:
        points = _history(scope, object_id, metric, now)[-WINDOW:]
        figure.add_trace(
            go.Scatter(x=[_when(ts) for ts, _ in points], y=[v for _, v in points], mode="lines", name=name)
        )
        traces.append({"group": f"compute.{scope}.{object_id}", "id": object_id, "metric": metric})
    return Chart(dom_id, title, json.loads(figure.to_json()), traces)


def instance_charts(instance, now=None):
    return [
        build(
            f"chart-instance-{instance.pk}-{index}",
            title,
            [(Scope.INSTANCE, instance.pk, metric, INSTANCE_METRICS[metric][1]) for metric in metrics],
            now,
        )
        for index, (title, metrics) in enumerate(INSTANCE_CHARTS)
    ]


def host_charts(host, now=None):
    return [
        build(
            f"chart-host-{host.pk}-{index}",
            title,
            [(Scope.HOST, host.pk, metric, HOST_METRICS[metric][1]) for metric in metrics],
            now,
        )
        for index, (title, metrics) in enumerate(HOST_CHARTS)
    ]


def overview_chart(dom_id, title, objects, scope, metric="cpu_pct", now=None):
    """One trace per object (hosts for admins, instances for tenants) on the dashboard."""
    return build(dom_id, title, [(scope, obj.pk, metric, obj.name) for obj in objects], now)


def migration_figure(migration):
    """Remaining memory (MiB) over the migration's seconds, from its stored samples."""
    samples = (migration.samples or []) if migration is not None else []
    figure = go.Figure(layout=_layout("Memory remaining MiB", "MiB"))
    figure.update_layout(xaxis={"type": "linear", "title": "seconds"}, showlegend=False)
    figure.add_trace(
        go.Scatter(
            x=[s.get("t", 0) for s in samples],
            y=[round(s.get("memory_remaining", 0) / MIB, 1) for s in samples],
            mode="lines+markers",
            name="remaining",
        )
    )
    return json.loads(figure.to_json())
