"""A project's default security group goes with the project, port group and all."""

import pytest

from network import backends, services
from network.models import SecurityGroup, SecurityGroupRule
from portal.models import Operation, Project
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_deleting_a_project_removes_its_default_group_and_its_port_group(nb, admin_user, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="n")
    with run_tasks():
        services.delete_network(alice, network)
    group = SecurityGroup.objects.get(project=project_a, is_default=True)
    backends.configured().realise_security_group(group)
    assert nb.rows("Port_Group", name=group.port_group_name)
    with run_tasks():
        response = client_for(admin_user).delete(f"/api/v1/projects/{project_a.pk}/")
    assert response.status_code == 204, response.content
    assert not Project.objects.filter(pk=project_a.pk).exists()
    assert not SecurityGroup.objects.filter(pk=group.pk).exists()
    assert not SecurityGroupRule.objects.filter(group_id=group.pk).exists()
    assert nb.rows("Port_Group", name=group.port_group_name) == []
    op = Operation.objects.get(kind="security_group.delete", detail__port_group=group.port_group_name)
    assert op.status == "succeeded"


def test_a_project_with_networks_keeps_its_default_group_when_the_delete_is_refused(
    nb, admin_user, alice, project_a, run_tasks
):
    with run_tasks():
        services.create_network(alice, project_a, name="n")
    response = client_for(admin_user).delete(f"/api/v1/projects/{project_a.pk}/")
    assert response.status_code == 409 and "networks" in str(response.json())
    assert SecurityGroup.objects.filter(project=project_a, is_default=True).exists()
