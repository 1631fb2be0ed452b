"""Initial Plotly figures, built on the server with the plotly package from stored samples;
the browser then appends points from websocket messages (static/js/live_charts.js) with
Plotly.extendTraces, keeping at most WINDOW points per trace.

A chart shows one of RANGES (1 h to 7 d, read from the rollups: the query picks the finest
resolution that still reaches back), with its time axis always spanning that range (an empty
chart showed Plotly's default Jan-Nov 2000), values with their unit (B/s as kB/s, MB/s), and a
"No samples yet" note until a point arrives."""

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, lru_cache

import plotly.graph_objects as go
from django.utils.html import json_script
from django.utils.safestring import mark_safe

from compute.metrics import query
from compute.models.metrics import HOST_METRICS, INSTANCE_METRICS, Scope

WINDOW = 360  # points kept per trace: an hour at the default 10 s interval
POINTS_PER_RANGE = 300  # history points per trace at most: the step is the range / 300
CHART_HEIGHT = 220
MIB = 1024 * 1024
RANGES = {"1h": ("1 h", 3600), "6h": ("6 h", 6 * 3600), "24h": ("24 h", 86400), "7d": ("7 d", 7 * 86400)}
DEFAULT_RANGE = "1h"
EMPTY_TEXT = "No samples yet: points appear as the collector reports them."
# Axis formats (d3): SI prefixes for rates (12.5kB/s, 3.1MB/s), plain numbers otherwise.
UNIT_AXES = {
    "B/s": {"tickformat": "~s", "ticksuffix": "B/s", "hoverformat": ".3~s"},
    "%": {"ticksuffix": " %", "hoverformat": ".1f"},
    "MiB": {"ticksuffix": " MiB", "hoverformat": ",.0f"},
    "": {"hoverformat": ",.0f"},
}
INSTANCE_CHARTS = (
    ("CPU", "%", ("cpu_pct",)),
    ("Memory", "MiB", ("mem_used_mb", "mem_balloon_mb")),
    ("Disk", "B/s", ("disk_read_bps", "disk_write_bps")),
    ("Network", "B/s", ("net_rx_bps", "net_tx_bps")),
)
HOST_CHARTS = (
    ("CPU", "%", ("cpu_pct",)),
    ("Memory", "MiB", ("mem_used_mb", "mem_free_mb")),
    ("Running instances", "", ("running_instances",)),
)


@dataclass(frozen=True)
class Chart:
    dom_id: str
    title: str
    figure: dict  # Plotly's JSON as plain data (the template writes it with json_script)
    traces: list  # [{group, id, metric}], one per trace, in order
    range_s: int  # the time axis spans this many seconds up to now (the browser moves it on)
    empty: bool  # no stored point in the range

    @property
    def window(self):
        return WINDOW


def range_of(key):
    """(key, seconds) of a range selector value; an unknown one is the default."""
    key = key if key in RANGES else DEFAULT_RANGE
    return key, RANGES[key][1]


@lru_cache(maxsize=8192)
def _when(ts):
    # Plotly reads zone-less timestamps; the browser appends the same UTC form. Cached: an
    # instance page's seven traces share their steps' timestamps, and the next page most of them.
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _time_axis(now, range_s):
    # Hours and minutes within a day; the day too over longer ranges.
    tickformat = "%H:%M" if range_s <= RANGES["24h"][1] else "%b %d %H:%M"
    return {
        "type": "date",
        "range": [_when(now - range_s), _when(now)],
        "tickformat": tickformat,
        "hoverformat": "%Y-%m-%d %H:%M:%S UTC",
    }


def _layout(title, unit, now, range_s, empty):
    return {
        "title": {"text": f"{title} ({unit})" if unit else title, "font": {"size": 13}},
        "height": CHART_HEIGHT,
        "margin": {"l": 60, "r": 10, "t": 30, "b": 30},
        "yaxis": {"rangemode": "tozero", **UNIT_AXES.get(unit, UNIT_AXES[""])},
        "xaxis": _time_axis(now, range_s),
        "legend": {"orientation": "h", "y": -0.25},
        "showlegend": True,
        "template": _template(),
        # The browser removes the note with the first live point.
        **({"annotations": [_empty_note()]} if empty else {}),
    }


@cache
def _template_json():
    """_template() as json_script writes it (escaped JSON), made once per process."""
    script = json_script(_template())
    return script[script.index(">") + 1 : -len("</script>")]


TEMPLATE_MARK = "\x00plotly template"  # where figure_script writes _template_json()


def figure_script(figure, element_id):
    """json_script(figure, element_id), the shared plotly template (half of a figure's JSON, in
    each of an instance page's five) written from its JSON made once rather than again."""
    layout = figure["layout"]
    if layout.get("template") is not _template():
        return json_script(figure, element_id)
    marked = json_script({**figure, "layout": {**layout, "template": TEMPLATE_MARK}}, element_id)
    return mark_safe(marked.replace(json.dumps(TEMPLATE_MARK), _template_json(), 1))


@cache
def _template():
    """The plotly package's default template, as its figures carry it in their JSON; built once
    per process (shared by every figure: never changed after). Building each figure with
    plotly's classes validated every property again: 20 ms of an instance page's four charts."""
    return json.loads(go.Figure().to_json())["layout"]["template"]


def _empty_note():
    return {"text": EMPTY_TEXT, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False}


def _range_request(scope, object_id, metric, now, range_s):
    step = max(query.MIN_STEP_S, range_s // POINTS_PER_RANGE)
    end = math.ceil(now)  # and start no earlier than now - range_s: the raw samples' retention covers it
    return query.SeriesRequest(scope, object_id, metric, end - range_s, end + 1, step)


def _history(scope, object_id, metric, now, range_s):
    return query.series(_range_request(scope, object_id, metric, now, range_s), now)["points"]


def build(dom_id, title, unit, lines, now=None, range_s=RANGES[DEFAULT_RANGE][1]):
    """lines: [(scope, object id, metric, trace name)] -> Chart with their history over range_s."""
    now = time.time() if now is None else now
    return chart_of(
        dom_id,
        title,
        unit,
        [
            (
                name,
                _history(scope, object_id, metric, now, range_s),
                {"group": f"compute.{scope}.{object_id}", "id": object_id, "metric": metric},
            )
            for scope, object_id, metric, name in lines
        ],
        now,
        range_s,
    )


def chart_of(dom_id, title, unit, series, now, range_s):
    """A Chart from points another app read: series = [(trace name, [(ts, value)], its live
    source {group, id, metric}: websocket "metrics" messages of that group append to it)]."""
    histories = [points[-WINDOW:] for _, points, _ in series]
    empty = not any(histories)
    figure = {
        "data": [
            {
                "mode": "lines",
                "name": name,
                "x": [_when(ts) for ts, _ in points],
                # as plotly's JSON encoder writes them: PostgreSQL's averages may come as Decimal
                "y": [float(v) if type(v) is Decimal else v for _, v in points],
                "type": "scatter",
            }
            for (name, _, _), points in zip(series, histories, strict=True)
        ],
        "layout": _layout(title, unit, now, range_s, empty),
    }
    traces = [source for _, _, source in series]
    return Chart(dom_id, title, figure, traces, range_s, empty)


def _object_charts(scope, object_id, charts, names, now, range_s):
    """An instance's or a host's charts, their metrics' history read in one query."""
    now = time.time() if now is None else now
    metrics = [metric for _, _, chart_metrics in charts for metric in chart_metrics]
    history = query.points_of_metrics(_range_request(scope, object_id, metrics[0], now, range_s), metrics, now)
    group = f"compute.{scope}.{object_id}"
    return [
        chart_of(
            f"chart-{scope}-{object_id}-{index}",
            title,
            unit,
            [
                (names[metric][1], history[metric], {"group": group, "id": object_id, "metric": metric})
                for metric in chart_metrics
            ],
            now,
            range_s,
        )
        for index, (title, unit, chart_metrics) in enumerate(charts)
    ]


def instance_charts(instance, now=None, range_s=RANGES[DEFAULT_RANGE][1]):
    return _object_charts(Scope.INSTANCE, instance.pk, INSTANCE_CHARTS, INSTANCE_METRICS, now, range_s)


def host_charts(host, now=None, range_s=RANGES[DEFAULT_RANGE][1]):
    return _object_charts(Scope.HOST, host.pk, HOST_CHARTS, HOST_METRICS, now, range_s)


def overview_chart(dom_id, title, objects, scope, metric="cpu_pct", now=None):
    """One trace per object (hosts for admins, instances for tenants) on the dashboard."""
    return build(dom_id, title, "%", [(scope, obj.pk, metric, obj.name) for obj in objects], now)


def migration_figure(migration):
    """Remaining memory (MiB) over the migration's seconds, from its stored samples (plain data,
    as chart_of's; every instance page draws it)."""
    samples = (migration.samples or []) if migration is not None else []
    return {
        "data": [
            {
                "mode": "lines+markers",
                "name": "remaining",
                "x": [s.get("t", 0) for s in samples],
                "y": [round(s.get("memory_remaining", 0) / MIB, 1) for s in samples],
                "type": "scatter",
            }
        ],
        "layout": {
            "title": {"text": "Memory remaining (MiB)", "font": {"size": 13}},
            "height": CHART_HEIGHT,
            "margin": {"l": 60, "r": 10, "t": 30, "b": 30},
            "yaxis": {"rangemode": "tozero", **UNIT_AXES["MiB"]},
            "xaxis": {"type": "linear", "title": {"text": "seconds"}},
            "showlegend": False,
            "template": _template(),
        },
    }
