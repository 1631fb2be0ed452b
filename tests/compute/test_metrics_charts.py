"""The metrics charts: a time axis that always spans the chosen range (not Plotly's Jan-Nov 2000
when there is no point), a "No samples yet" note, units on the value axis (B/s with SI prefixes),
and a 1 h / 6 h / 24 h / 7 d selector that reads older ranges from the rollups."""

import json
from decimal import Decimal
from types import SimpleNamespace

import plotly.graph_objects as go
import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from django.utils.html import json_script

from compute.metrics import charts
from compute.models import InstanceSample
from compute.models.metrics import RAW, TEN_MINUTES
from tests.compute.live_helpers import running  # noqa: F401

NOW = 1_800_000_000
HOUR = 3600


def layout_of(chart):
    return chart.figure["layout"]


def test_an_instance_without_samples_gets_an_empty_note_and_an_axis_over_the_last_hour(running):
    cpu = charts.instance_charts(running, now=NOW)[0]

    assert cpu.empty and cpu.range_s == HOUR
    assert layout_of(cpu)["xaxis"]["range"] == ["2027-01-15 07:00:00", "2027-01-15 08:00:00"]
    assert layout_of(cpu)["annotations"][0]["text"] == charts.EMPTY_TEXT


def test_rates_have_si_prefixed_byte_units_and_the_title_names_the_unit(running):
    disk = charts.instance_charts(running, now=NOW)[2]

    yaxis = layout_of(disk)["yaxis"]
    assert (yaxis["tickformat"], yaxis["ticksuffix"]) == ("~s", "B/s")  # 12.5kB/s, 3.1MB/s
    assert layout_of(disk)["title"]["text"] == "Disk (B/s)"


def test_a_longer_range_reads_the_rollups_and_its_axis_shows_the_day(running):
    InstanceSample.objects.create(instance=running, ts=NOW - 3 * 86400, resolution=TEN_MINUTES, cpu_pct=42.0)

    hour = charts.instance_charts(running, now=NOW)[0]
    week = charts.instance_charts(running, now=NOW, range_s=charts.RANGES["7d"][1])[0]

    assert hour.empty
    assert not week.empty and "annotations" not in layout_of(week) or not layout_of(week)["annotations"]
    assert week.figure["data"][0]["y"] == [42.0]
    assert layout_of(week)["xaxis"]["tickformat"] == "%b %d %H:%M"


def test_an_unknown_range_is_the_default():
    assert charts.range_of("1y") == ("1h", HOUR)
    assert charts.range_of("24h") == ("24h", 86400)


def test_the_instance_page_offers_the_ranges_and_draws_the_one_asked_for(alice, running):
    client = Client()
    client.force_login(alice)

    page = client.get(f"/compute/instances/{running.pk}/?range=24h").content.decode()

    for value in charts.RANGES:
        assert f'href="?range={value}#charts"' in page
    assert 'data-range="24h" aria-current="true"' in page
    assert 'data-range-s="86400"' in page and 'data-range-s="3600"' not in page


@pytest.mark.parametrize(
    "points",
    [[], [(1_700_000_000, 1), (1_700_000_010, 2.5), (1_700_000_020, Decimal("3.125")), (1_700_000_030, None)]],
    ids=["empty", "mixed-values"],
)
def test_a_figure_is_the_json_plotly_builds_for_it(points):
    """The figures are plain data built without plotly's classes (they validated every property
    on every page): the same JSON as plotly's own figure, its default template included."""
    now = 1_700_000_100
    chart = charts.chart_of("c", "Disk", "B/s", [("read", points, {}), ("write", points[:1], {})], now, 3600)
    expected = go.Figure(layout=go.Layout(**chart_layout_kwargs("Disk", "B/s", now, 3600, not points)))
    for name, series in (("read", points), ("write", points[:1])):
        expected.add_trace(
            go.Scatter(x=[charts._when(t) for t, _ in series], y=[v for _, v in series], mode="lines", name=name)
        )
    assert json.loads(json.dumps(chart.figure, cls=DjangoJSONEncoder)) == json.loads(expected.to_json())


def chart_layout_kwargs(title, unit, now, range_s, empty):
    layout = charts._layout(title, unit, now, range_s, empty)
    layout.pop("template")  # plotly adds its own
    return layout


@pytest.mark.parametrize("samples", [None, [{"t": 0, "memory_remaining": 3 * 2**30}, {"t": 1.5}]], ids=["none", "two"])
def test_the_migration_figure_is_the_json_plotly_builds_for_it(samples):
    migration = None if samples is None else SimpleNamespace(samples=samples)
    samples = samples or []
    expected = go.Figure(
        layout=go.Layout(
            title={"text": "Memory remaining (MiB)", "font": {"size": 13}},
            height=charts.CHART_HEIGHT,
            margin={"l": 60, "r": 10, "t": 30, "b": 30},
            yaxis={"rangemode": "tozero", **charts.UNIT_AXES["MiB"]},
            xaxis={"type": "linear", "title": "seconds"},
            showlegend=False,
        )
    )
    expected.add_trace(
        go.Scatter(
            x=[s.get("t", 0) for s in samples],
            y=[round(s.get("memory_remaining", 0) / charts.MIB, 1) for s in samples],
            mode="lines+markers",
            name="remaining",
        )
    )
    assert json.loads(json.dumps(charts.migration_figure(migration))) == json.loads(expected.to_json())


def test_the_series_read_as_plain_rows_are_the_orms_values(running):
    """query._points_of reads its averages without Django's per-value converters (session 11):
    the same integer buckets and rounded float averages as the ORM's rows, NULL steps left out."""
    from django.db.models import Avg

    from compute.metrics import query
    from compute.metrics.rollups import bucket_of

    InstanceSample.objects.bulk_create(
        InstanceSample(
            instance=running,
            ts=NOW - 10 * n,
            cpu_pct=n / 3,
            mem_used_mb=n * 7,
            mem_balloon_mb=None if n % 4 else n,
            net_rx_bps=n * 1001,
        )
        for n in range(200)
    )
    metrics = ["cpu_pct", "mem_used_mb", "mem_balloon_mb", "net_rx_bps", "disk_read_bps"]
    request = query.SeriesRequest("instance", running.pk, metrics[0], NOW - HOUR, NOW + 1, 12)
    rows = InstanceSample.objects.filter(instance=running, ts__gte=NOW - HOUR, ts__lt=NOW + 1, resolution=RAW)
    orm = rows.annotate(bucket=bucket_of("ts", 12)).values("bucket")
    orm = orm.annotate(**{metric: Avg(metric) for metric in metrics}).order_by("bucket")
    expected = {m: [[r["bucket"], round(r[m], 3)] for r in orm if r[m] is not None] for m in metrics}

    points = query.points_of_metrics(request, metrics, now=NOW)

    assert points == expected and points["mem_balloon_mb"] and not points["disk_read_bps"]
    assert all(type(b) is int and type(v) is float for series in points.values() for b, v in series)


@pytest.mark.parametrize("which", ["empty", "points", "migration", "own-template"])
def test_figure_script_writes_what_json_script_writes(which):
    """{{ figure|figure_script:id }} writes the shared plotly template from JSON made once
    (session 11): the same script element as json_script, escapes included."""
    points = [(1_700_000_000, 1.5), (1_700_000_010, Decimal("2.25"))]
    if which == "migration":
        figure = charts.migration_figure(SimpleNamespace(samples=[{"t": 0, "memory_remaining": 2**30}]))
    else:
        series = [("a<b>&", points if which != "empty" else [], {})]
        figure = charts.chart_of("c", "CPU", "%", series, 1_700_000_100, 3600).figure
    if which == "own-template":
        figure["layout"]["template"] = {"layout": {"title": "</script>"}}
    assert charts.figure_script(figure, "f-1") == json_script(figure, "f-1")
    assert "\\u0000" not in charts.figure_script(figure, "f-1")
