"""A Compute server create's `security_groups` go through compute's create_instance, as the native
API's do: the project's groups on every port, or a refusal that leaves nothing behind (no
instance, no port, quota as it was). A name the project has no group by, another project's
group included, is a 400 badRequest naming it: what Nova answers (SecurityGroupNotFound is in
its create's 400 list; Tempest's test_create_with_nonexistent_security_group expects BadRequest)."""

import pytest

from compute.models import Instance
from network import services
from network.models import Port
from portal import quotas
from tests.network.conftest import nb, nb_server  # noqa: F401 (a real OVN Northbound database)
from tests.network.test_instance_ports import make_network

NOVA = "/openstack/compute/v2.1"


def server(flavor, image, groups, network=None):
    body = {"name": "web-1", "imageRef": str(image.pk), "flavorRef": str(flavor.pk), "security_groups": groups}
    if network is not None:
        body["networks"] = [{"uuid": str(network.uuid)}]
    return {"server": body}


def in_use(project):
    return {name: row["in_use"] for name, row in quotas.usage(project).items()}


def refused(cloud, run_tasks, project, body):
    """The create's answer, after checking it left nothing behind."""
    before = in_use(project)
    with run_tasks():
        response = cloud.call("POST", f"{NOVA}/servers", body)
    assert not Instance.objects.exists() and not Port.objects.filter(instance__isnull=False).exists()
    assert in_use(project) == before
    return response


def test_the_projects_groups_go_on_the_port_others_are_400s_naming_them(
    nb, clouds, alice, charlie, project_a, project_b, hosts, flavor, image, run_tasks
):
    network = make_network(alice, project_a, run_tasks)
    with run_tasks():
        web, _ = services.create_security_group(alice, project_a, name="web")
        theirs, _ = services.create_security_group(charlie, project_b, name="theirs")
    cloud = clouds["alice"]

    for ref in ("theirs", str(theirs.uuid), "nope"):
        response = refused(cloud, run_tasks, project_a, server(flavor, image, [{"name": ref}], network))
        assert response.status_code == 400, response.content
        assert response.data["badRequest"]["message"] == f"Security group {ref} not found for project {project_a.pk}."
    response = refused(cloud, run_tasks, project_a, server(flavor, image, [{"name": "web"}]))
    assert response.status_code == 400 and "security_groups: " in response.data["badRequest"]["message"]
    assert "choose a network" in response.data["badRequest"]["message"]  # create_instance's own refusal

    with run_tasks():
        made = cloud.call("POST", f"{NOVA}/servers", server(flavor, image, [{"name": "web"}], network))
    assert made.status_code == 202, made.content
    assert made.data["server"]["security_groups"] == [{"name": "web"}]
    [port] = Port.objects.filter(instance__uuid=made.data["server"]["id"])
    assert [g.name for g in port.security_groups.all()] == ["web"]
    listed = cloud.call("GET", f"{NOVA}/servers/{made.data['server']['id']}/os-security-groups")
    assert [g["name"] for g in listed.data["security_groups"]] == ["web"]


def test_without_ovn_a_chosen_group_is_a_400_and_nothing_is_made(
    nb, clouds, alice, project_a, hosts, flavor, image, run_tasks, monkeypatch
):
    with run_tasks():
        services.create_security_group(alice, project_a, name="web")  # made while OVN was configured
    monkeypatch.setenv("NUBES_OVN_NB", "")  # then the embedded default (libvirt networks)
    network = make_network(alice, project_a, run_tasks)
    cloud = clouds["alice"]

    response = refused(cloud, run_tasks, project_a, server(flavor, image, [{"name": "web"}], network))

    assert response.status_code == 400, response.content
    message = response.data["badRequest"]["message"]
    assert message.startswith("security_groups: ") and "has no OVN, so no security groups" in message
    with run_tasks():
        default = cloud.call("POST", f"{NOVA}/servers", server(flavor, image, [{"name": "default"}], network))
    assert default.status_code == 202, default.content  # the group every port has anyway: nothing to refuse
    assert default.data["server"]["security_groups"] == [{"name": "default"}]


@pytest.mark.parametrize("groups", [[{}], [{"name": ""}], ["web"], [{"name": ["web"]}]])
def test_a_malformed_group_is_a_400(clouds, project_a, hosts, flavor, image, run_tasks, groups):
    response = refused(clouds["alice"], run_tasks, project_a, server(flavor, image, groups))
    assert response.status_code == 400 and "Each security group" in response.data["badRequest"]["message"]
