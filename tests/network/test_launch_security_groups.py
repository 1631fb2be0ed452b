"""Security groups chosen at launch: on OVN the project's chosen groups go on every port of the
new instance (in OVN's port groups too); on the embedded default's libvirt networks there are
none, so the launch form says why and a request naming groups is a 400 that makes nothing."""

import pytest

from compute.models import Instance
from network import services
from network.models import Port
from tests.compute.conftest import add_host, fresh_hosts  # noqa: F401 (autouse: new simulated hosts per test)
from tests.network.conftest import signed_in
from tests.network.test_instance_ports import launch, launchable, make_network, succeeded  # noqa: F401

pytestmark = pytest.mark.django_db


def test_on_ovn_the_chosen_groups_go_on_the_new_instances_port(nb, api, alice, project_a, run_tasks, launchable):
    network = make_network(alice, project_a, run_tasks)
    with run_tasks():
        web, _ = services.create_security_group(alice, project_a, name="web")

    op = succeeded(launch(api, run_tasks, launchable, networks=[network.pk], security_groups=[web.pk]))

    [port] = Port.objects.filter(instance_id=op.target_id)
    assert [g.name for g in port.security_groups.all()] == ["web"]
    [group] = nb.rows("Port_Group", name=web.port_group_name)
    kind, members = group["ports"]  # OVSDB: ["uuid", u] for one member, ["set", [...]] otherwise
    assert kind == "uuid" or len(members) == 1, group["ports"]


def test_another_projects_group_or_groups_without_a_network_are_refused(
    nb, api, alice, charlie, project_a, project_b, run_tasks, launchable
):
    network = make_network(alice, project_a, run_tasks)
    with run_tasks():
        theirs, _ = services.create_security_group(charlie, project_b, name="theirs")
        mine, _ = services.create_security_group(alice, project_a, name="mine")

    foreign = launch(api, run_tasks, launchable, networks=[network.pk], security_groups=[theirs.pk])
    portless = launch(api, run_tasks, launchable, security_groups=[mine.pk])

    assert foreign.status_code == 400 and "security_groups" in foreign.json()
    assert portless.status_code == 400 and "choose a network" in str(portless.json()["security_groups"])
    assert not Instance.objects.exists() and not Port.objects.exists()


def test_the_embedded_default_says_why_and_refuses_groups(api, alice, project_a, run_tasks, launchable, monkeypatch):
    monkeypatch.setenv("NUBES_OVN_NB", "")
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    network = make_network(alice, project_a, run_tasks)

    form = signed_in(alice, project_a).get("/compute/instances/launch/").content.decode()
    response = launch(api, run_tasks, launchable, networks=[network.pk], security_groups=[1])

    assert "has no OVN, so no security groups" in form
    assert response.status_code == 400 and "has no OVN" in str(response.json()["security_groups"])
    assert not Instance.objects.exists() and not Port.objects.exists()
