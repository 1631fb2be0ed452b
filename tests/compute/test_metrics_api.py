"""/api/v1/metrics/, /api/v1/alarm-rules/, /api/v1/alarms/ and /metrics (Prometheus)."""

import pytest
from django.test import RequestFactory

from compute.metrics import collector, prometheus
from compute.models import Alarm, AlarmRule, HostSample, InstanceSample
from compute.models.metrics import AlarmState
from tests.compute.live_helpers import running  # noqa: F401

T0 = 1_790_000_000
URL = "/api/v1/metrics/"


@pytest.fixture
def samples(running):
    for n, cpu in enumerate((10.0, 20.0, 30.0, 40.0)):
        InstanceSample.objects.create(instance=running, ts=T0 + 10 * n, cpu_pct=cpu)
    return running


def test_an_instance_series_is_averaged_into_steps(api, samples, settings):
    settings.NUBES_METRICS_RAW_RETENTION = 10**10  # T0 is in the future of no one: keep raw
    response = api["alice"].get(
        URL, {"scope": "instance", "id": samples.pk, "metric": "cpu", "start": T0, "end": T0 + 40, "step": 20}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["metric"] == "cpu_pct" and body["unit"] == "%" and body["resolution"] == 0
    assert body["points"] == [[T0, 15.0], [T0 + 20, 35.0]]


def test_outsiders_get_a_404_and_tenants_no_host_series(api, samples, hosts):
    params = {"scope": "instance", "id": samples.pk, "start": T0, "end": T0 + 40}
    assert api["charlie"].get(URL, params).status_code == 404
    assert api["bob"].get(URL, params).status_code == 200
    host = {"scope": "host", "id": hosts[0].pk, "start": T0, "end": T0 + 40}
    assert api["alice"].get(URL, host).status_code == 404
    assert api["admin"].get(URL, host).status_code == 200
    assert api["anon"].get(URL, params).status_code in (401, 403)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"scope": "galaxy", "id": 1}, "scope"),
        ({"metric": "happiness", "id": 1}, "metric"),
        ({}, "id"),
        ({"id": 1, "start": "yesterday"}, "start"),
        ({"id": 1, "start": 200, "end": 100}, "start"),
        ({"id": 1, "start": 0, "end": 10**6, "step": 1}, "step"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(api, params, field):
    response = api["admin"].get(URL, params)
    assert response.status_code == 400 and field in response.json()


def test_a_cluster_series_adds_host_memory_and_averages_cpu(api, hosts, settings):
    settings.NUBES_METRICS_RAW_RETENTION = 10**10
    for host, cpu in zip(hosts, (20.0, 60.0), strict=True):
        HostSample.objects.create(host=host, ts=T0, cpu_pct=cpu, mem_used_mb=1000.0)
    params = {"scope": "cluster", "id": hosts[0].cluster_id, "start": T0, "end": T0 + 10, "step": 10}
    assert api["admin"].get(URL, {**params, "metric": "cpu_pct"}).json()["points"] == [[T0, 40.0]]
    assert api["admin"].get(URL, {**params, "metric": "mem_used_mb"}).json()["points"] == [[T0, 2000.0]]


def test_members_keep_rules_on_their_project_only(api, running, project_a, project_b):
    rule = {
        "name": "busy",
        "project": project_a.pk,
        "metric": "cpu_pct",
        "comparison": "gt",
        "threshold": 90,
        "duration_s": 60,
    }
    assert api["alice"].post("/api/v1/alarm-rules/", rule, format="json").status_code == 201
    assert api["bob"].post("/api/v1/alarm-rules/", rule, format="json").status_code == 400  # not writable by a reader
    assert (
        api["alice"].post("/api/v1/alarm-rules/", {**rule, "project": project_b.pk}, format="json").status_code == 400
    )
    assert api["alice"].post("/api/v1/alarm-rules/", {**rule, "project": None}, format="json").status_code == 400
    assert api["alice"].post("/api/v1/alarm-rules/", {**rule, "metric": "mood"}, format="json").status_code == 400
    assert api["charlie"].get("/api/v1/alarm-rules/").json()["results"] == []
    assert len(api["bob"].get("/api/v1/alarm-rules/").json()["results"]) == 1


def test_alarms_are_listed_to_their_project(api, running):
    rule = AlarmRule.objects.create(name="busy", project=running.project, metric="cpu_pct", threshold=1)
    Alarm.objects.create(
        rule=rule,
        project=running.project,
        scope="instance",
        object_id=running.pk,
        state=AlarmState.RAISED,
        breach_since=T0,
        value=99,
    )
    assert [a["state"] for a in api["alice"].get("/api/v1/alarms/").json()["results"]] == ["raised"]
    assert api["charlie"].get("/api/v1/alarms/").json()["results"] == []


def scrape(settings, remote="127.0.0.1", token=None, allowed=("127.0.0.0/8",), configured_token="s3cret"):
    settings.NUBES_METRICS_TOKEN = configured_token
    settings.NUBES_METRICS_ALLOWED_NETWORKS = list(allowed)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return prometheus.metrics_view(RequestFactory().get("/metrics", REMOTE_ADDR=remote, **headers))


def test_prometheus_export_is_open_to_allowed_networks_or_the_token(settings, db):
    assert scrape(settings).status_code == 200
    assert scrape(settings, remote="192.0.2.9").status_code == 403
    assert scrape(settings, remote="192.0.2.9", token="wrong").status_code == 403
    assert scrape(settings, remote="192.0.2.9", token="s3cret").status_code == 200
    assert scrape(settings, remote="192.0.2.9", token="s3cret", configured_token="").status_code == 403


def test_prometheus_export_has_counters_durations_and_gauges(settings, running):
    collector.collect_host(running.host, at=T0, publish=False)
    collector.collect_host(running.host, at=T0 + 10, publish=False)
    text = scrape(settings).content.decode()
    assert "# TYPE nubes_operations_total counter" in text
    assert 'nubes_operations_total{kind="instance.create",status="succeeded"} 1' in text
    assert 'nubes_operation_duration_seconds_count{kind="instance.create"} 1' in text
    assert 'nubes_instances{state="active"} 1' in text
    assert 'nubes_host_running_instances{host="host-a",cluster="demo",simulated="true"} 1' in text
    assert f'nubes_instance_cpu_pct{{instance="web-1",uuid="{running.uuid}",project="acme",host="host-a"}}' in text


def test_label_values_are_escaped(settings, running):
    running.name = 'we"b\\1\nx'
    running.save()
    collector.collect_host(running.host, at=T0, publish=False)
    assert 'instance="we\\"b\\\\1\\nx"' in scrape(settings).content.decode()
