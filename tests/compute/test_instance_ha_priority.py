"""An instance's HA restart priority through the API: cloud admins and project admins set it
(it claims failover room in the whole cluster); members, readers and outsiders cannot."""

import pytest

from compute.models import Instance
from portal.choices import Role
from portal.models import AuditEvent, Membership


@pytest.fixture
def instance(launch):
    response, made = launch()
    assert response.status_code == 202
    return made


def set_ha(client, instance, value):
    return client.post(f"/api/v1/instances/{instance.pk}/set-ha/", {"ha_priority": value}, format="json")


def test_a_cloud_admin_turns_ha_off_and_on(api, instance):
    assert api["admin"].get(f"/api/v1/instances/{instance.pk}/").json()["ha_priority"] == 2
    response = set_ha(api["admin"], instance, 0)
    assert response.status_code == 200 and response.json()["ha_priority"] == 0
    assert Instance.objects.get(pk=instance.pk).ha_priority == 0
    assert set_ha(api["admin"], instance, 3).json()["ha_priority"] == 3
    assert AuditEvent.objects.filter(action="instance.set_ha").count() == 2


def test_a_project_admin_may_set_it(api, alice, instance, project_a):
    Membership.objects.filter(user=alice, project=project_a).update(role=Role.ADMIN)
    assert set_ha(api["alice"], instance, 1).status_code == 200


@pytest.mark.parametrize(("who", "status"), [("alice", 403), ("bob", 403), ("charlie", 404), ("anon", 401)])
def test_others_cannot(api, instance, who, status):
    assert set_ha(api[who], instance, 0).status_code == status
    assert Instance.objects.get(pk=instance.pk).ha_priority == 2


def test_an_unknown_priority_is_a_field_error(api, instance):
    response = set_ha(api["admin"], instance, 7)
    assert response.status_code == 400 and "ha_priority" in response.json()
