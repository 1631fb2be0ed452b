"""A purge against a real OVN Northbound database: after it, no row carries the project's id."""

import json

import pytest

from network import services
from network.ovn.specs import PROJECT_KEY
from portal.models import Operation, Project
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in the worker


def rows_of_project(nb, project_id):
    schema = json.loads(nb.SCHEMA_FILE.read_text())
    tables = [name for name, table in schema["tables"].items() if "external_ids" in table["columns"]]
    return [
        (table, row["_uuid"])
        for table in tables
        for row in nb.rows(table)
        if dict(row["external_ids"][1]).get(PROJECT_KEY) == str(project_id)
    ]


@pytest.fixture
def everything(nb, port, alice, admin_user, project_a, project_b, run_tasks):
    """alice's port (the `port` fixture) behind a router with a floating IP, a load balancer and
    two security groups naming each other; the external network belongs to another project."""
    subnet = port.network.subnets.get()
    with run_tasks():
        public, _ = services.create_network(
            admin_user, project_b, name="public", segment_type="flat", physical_network="physnet1", external=True
        )
        services.create_subnet(admin_user, public, cidr="172.24.4.0/24", gateway_ip="172.24.4.1")
        router, _ = services.create_router(alice, project_a, name="r1", external_network=public)
    with run_tasks():
        services.add_interface(alice, router, subnet)
    with run_tasks():
        services.create_floating_ip(alice, project_a, public, port=port)
        services.create_load_balancer(
            alice,
            project_a,
            subnet,
            name="web",
            protocol="tcp",
            port=80,
            members=[{"address": "10.0.0.20", "port": 8080}],
        )
        web, _ = services.create_security_group(alice, project_a, name="web")
        db, _ = services.create_security_group(alice, project_a, name="db")
    with run_tasks():
        services.create_rule(alice, web, direction="ingress", ethertype="IPv4", remote_group=db)
        services.create_rule(alice, db, direction="ingress", ethertype="IPv4", remote_group=web)
    with run_tasks():
        services.update_port(alice, port, security_groups=[web])
    return public


def test_a_purge_leaves_no_northbound_row_of_the_project(nb, everything, admin_user, project_a, run_tasks):
    assert len(rows_of_project(nb, project_a.pk)) > 10
    with run_tasks():
        response = client_for(admin_user).post(f"/api/v1/projects/{project_a.pk}/purge/")
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert op.detail["owned"] == {
        "floating IPs": 1,
        "router interfaces": 1,
        "routers": 1,
        "load balancers": 1,
        "ports": 1,
        "subnets": 1,
        "networks": 1,
        "security group rules naming other groups": 2,
        "security groups": 2,
    }
    assert not Project.objects.filter(pk=project_a.pk).exists()
    assert rows_of_project(nb, project_a.pk) == []
    assert nb.rows("Logical_Switch", name=everything.switch_name)  # the other project's network stays
