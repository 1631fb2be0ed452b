"""An instance's HA on its page: settings (enabled, priority; the cluster's restart limit)
that project admins and cloud admins change, as the API allows, and its HA events; the
cluster's page lists every event and follows the cluster's group."""

import pytest
from django.test import Client

from compute.models import HaPriority, Instance
from portal.choices import Role
from portal.models import Membership
from scheduler import choices as c
from scheduler.tasks import failover


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def guest(cluster, hosts, make_instance):
    instance = make_instance(hosts[0], "db-1", ha_priority=HaPriority.MEDIUM)
    failover.event(hosts[0], c.HaEventKind.VM_RESTART, "db-1: crashed", instance=instance)
    return instance


@pytest.fixture
def project_admin(alice, project_a):
    Membership.objects.filter(user=alice, project=project_a).update(role=Role.ADMIN)
    return alice


def priority_of(instance):
    return Instance.objects.get(pk=instance.pk).ha_priority


def test_the_instance_page_shows_its_ha_settings_and_events(guest, alice):
    page = client_for(alice).get(f"/compute/instances/{guest.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="instance-ha"' in html and "enabled, priority medium" in html
    assert "Crashed instance restarted" in html and "db-1: crashed" in html
    assert f'data-subscribe="compute.instance.{guest.pk}"' in html
    assert "restart(s) within" in html
    assert 'id="instance-ha-form"' not in html  # a member may not change it, as in the API


@pytest.mark.parametrize("who", ["project_admin", "admin_user"])
def test_project_admins_and_cloud_admins_change_it(guest, who, request):
    client = client_for(request.getfixturevalue(who))
    assert 'id="instance-ha-form"' in client.get(f"/compute/instances/{guest.pk}/").content.decode()
    response = client.post(f"/scheduler/instances/{guest.pk}/ha/", {"enabled": "on", "priority": HaPriority.HIGH})
    assert response.status_code == 302 and priority_of(guest) == HaPriority.HIGH
    client.post(f"/scheduler/instances/{guest.pk}/ha/", {"priority": HaPriority.LOW})  # unchecked: off
    assert priority_of(guest) == HaPriority.DISABLED


def test_a_member_is_refused_and_nothing_changes(guest, alice, bob):
    for user in (alice, bob):
        response = client_for(user).post(f"/scheduler/instances/{guest.pk}/ha/", {"enabled": "on", "priority": 3})
        assert response.status_code == 403
    assert priority_of(guest) == HaPriority.MEDIUM


def test_the_panel_lists_only_this_instance_s_events(guest, hosts, make_instance, project_b, alice):
    other = make_instance(hosts[1], "theirs", project=project_b)
    failover.event(hosts[1], c.HaEventKind.RESTART, "theirs -> host-a", instance=other)
    html = client_for(alice).get(f"/scheduler/instances/{guest.pk}/ha/").content.decode()
    assert "db-1: crashed" in html and "theirs -> host-a" not in html


def test_another_tenant_gets_not_found(guest, charlie):
    assert client_for(charlie).get(f"/scheduler/instances/{guest.pk}/ha/").status_code == 404
    assert client_for(charlie).post(f"/scheduler/instances/{guest.pk}/ha/", {"priority": 1}).status_code == 404


def test_a_bad_priority_is_a_field_error(guest, project_admin):
    response = client_for(project_admin).post(f"/scheduler/instances/{guest.pk}/ha/", {"enabled": "on", "priority": 9})
    assert response.status_code == 400
    assert 'data-error-for="priority"' in response.content.decode()
    assert priority_of(guest) == HaPriority.MEDIUM


def test_the_cluster_page_lists_the_events_and_follows_the_cluster_group(guest, cluster, admin_user):
    html = client_for(admin_user).get(f"/scheduler/clusters/{cluster.pk}/").content.decode()
    assert "db-1: crashed" in html and f'data-subscribe="scheduler.cluster.{cluster.pk}"' in html
