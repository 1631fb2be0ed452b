"""The HA event log: restarts, restart limits and admission-control refusals are stored and
published live to the cluster's group and the instance's; tenants see only their own
instances' events (pages and websocket groups), cloud admins all of them."""

import pytest

from compute.choices import InstanceState
from compute.models import Flavor
from compute.services import instances as compute_services
from portal import realtime
from portal.errors import ActionError
from scheduler import choices as c
from scheduler.models import HaEvent
from scheduler.services import recommendations
from scheduler.tasks import failover


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr(realtime, "publish", lambda group, event, data: sent.append((group, event, data)))
    monkeypatch.setattr(
        realtime, "publish_many", lambda messages: sent.extend((group, event, data) for group, event, data in messages)
    )
    return sent


@pytest.fixture
def ha_on(cluster):
    recommendations.update_settings(None, cluster, ha_enabled=True)
    return cluster


def test_a_restart_limit_is_stored_and_published_to_the_cluster_and_the_instance(
    ha_on, hosts, make_instance, published, run_tasks
):
    recommendations.update_settings(None, ha_on, ha_restart_limit=0)
    instance = make_instance(hosts[0], "db-1", state=InstanceState.SHUTOFF)
    with run_tasks():
        assert failover.restart_crashed(instance, "crashed") is None
    event = HaEvent.objects.get(kind=c.HaEventKind.RESTART_LIMIT)
    assert event.instance == instance and "crashed" in event.detail
    groups = {group for group, name, data in published if name == "ha_event" and data["id"] == event.pk}
    assert groups == {f"scheduler.cluster.{ha_on.pk}", f"compute.instance.{instance.pk}"}
    [data] = {d["id"]: d for _, _, d in published}.values()
    assert data["kind_label"] == "Restart limit reached" and data["instance_name"] == "db-1"


def test_an_admission_control_refusal_of_a_create_is_stored(ha_on, hosts, make_instance, image, project_a, admin_user):
    make_instance(hosts[0], "big-a", ram_gb=80)
    make_instance(hosts[1], "big-b", ram_gb=70)  # 150 of the 160 GiB left after losing host-a
    flavor = Flavor.objects.create(name="m1.medium", vcpus=1, ram_mb=16 * 1024, disk_gb=10)
    with pytest.raises(ActionError, match="admission control"):
        compute_services.create_instance(admin_user, project_a, name="one-more", flavor=flavor, image=image)
    event = HaEvent.objects.get(kind=c.HaEventKind.ADMISSION_REFUSED)
    assert event.cluster == ha_on and event.instance is None and "m1.medium" in event.detail


def test_an_admission_control_refusal_of_a_start_names_the_instance(ha_on, hosts, make_instance, alice):
    make_instance(hosts[0], "big-a", ram_gb=80)
    make_instance(hosts[1], "big-b", ram_gb=70)
    stopped = make_instance(hosts[2], "stopped", ram_gb=16, state=InstanceState.SHUTOFF)
    with pytest.raises(ActionError, match="admission control"):
        compute_services.act(alice, stopped, "start")
    assert HaEvent.objects.filter(kind=c.HaEventKind.ADMISSION_REFUSED, instance=stopped).exists()


@pytest.fixture
def two_tenants_events(cluster, hosts, make_instance, project_a, project_b):
    ours = make_instance(hosts[0], "ours")
    theirs = make_instance(hosts[1], "theirs", project=project_b)
    failover.event(hosts[0], c.HaEventKind.RESTART, "ours -> host-b", instance=ours)
    failover.event(hosts[1], c.HaEventKind.RESTART, "theirs -> host-a", instance=theirs)
    failover.event(hosts[1], c.HaEventKind.FENCED, "powered off")  # a host event: admins only
    return ours, theirs


def names(events):
    return sorted(e.instance.name if e.instance else e.kind for e in events)


def test_tenants_see_only_their_own_instances_events_and_admins_all(
    two_tenants_events, alice, bob, charlie, admin_user, api
):
    assert names(HaEvent.objects.visible_to(alice)) == ["ours"]
    assert names(HaEvent.objects.visible_to(bob)) == ["ours"]  # a reader of the project
    assert names(HaEvent.objects.visible_to(charlie)) == ["theirs"]
    assert names(HaEvent.objects.visible_to(admin_user)) == ["fenced", "ours", "theirs"]
    assert api["alice"].get("/api/v1/ha-events/").status_code == 403  # the API stays the cloud admins'


def test_only_admins_join_a_cluster_s_events_and_tenants_only_their_instances(
    two_tenants_events, cluster, alice, charlie, admin_user
):
    ours, _theirs = two_tenants_events
    assert realtime.may_join(admin_user, f"scheduler.cluster.{cluster.pk}")
    assert not realtime.may_join(alice, f"scheduler.cluster.{cluster.pk}")
    assert realtime.may_join(alice, ours.group)
    assert not realtime.may_join(charlie, ours.group)
