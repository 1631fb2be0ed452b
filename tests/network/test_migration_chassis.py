"""The network pre-check of a migration (network registers it in compute.hooks): an instance with
ports on OVN networks moves only to a host that is an OVN chassis in the Southbound database;
otherwise compute refuses with the reason and nothing moves. Simulated hosts, a real NB and SB."""

import time

import pytest

from compute.models import Migration
from compute.services import migration as service
from network import services
from network.choices import DeviceOwner
from portal.errors import ActionError
from portal.models import Operation
from tests.compute.conftest import cluster, flavor, fresh_hosts, host_a, hosts, image, launch  # noqa: F401
from tests.compute.live_helpers import baseline, instant, running  # noqa: F401

pytestmark = pytest.mark.django_db
COPY = {"copy_storage": True}
REPLICA_POLL_S = 0.01
REPLICA_ATTEMPTS = 300


def register_chassis(sb, name, hostname="", encap_ip="10.99.1.9"):
    """What ovn-controller writes when a chassis joins (each with its own tunnel address)."""
    sb.transact(
        {
            "op": "insert",
            "table": "Encap",
            "uuid-name": "encap",
            "row": {"type": "geneve", "ip": encap_ip, "chassis_name": name},
        },
        {
            "op": "insert",
            "table": "Chassis",
            "row": {"name": name, "hostname": hostname, "encaps": ["named-uuid", "encap"]},
        },
    )


@pytest.fixture
def ovn_port(nb, alice, project_a, run_tasks, running):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
        services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    with run_tasks():
        port, _ = services.create_port(alice, project_a, network, device_owner=DeviceOwner.INSTANCE, instance=running)
    return port


def refused(instance, target, user, match):
    before = Operation.objects.count()
    with pytest.raises(ActionError, match=match) as caught:
        service.start_migration(instance, target_host=target, user=user, options=COPY)
    assert caught.value.field == "target_host"
    assert Operation.objects.count() == before and not Migration.objects.exists()


def wait_for_chassis(name):
    """The pooled SB replica learns of new rows asynchronously."""
    from network import backends
    from network.choices import Backend

    for _ in range(REPLICA_ATTEMPTS):
        if name in backends.for_name(Backend.OVN).chassis_names():
            return
        time.sleep(REPLICA_POLL_S)
    raise AssertionError(f"chassis {name} never showed in the SB replica")


def test_it_refuses_a_target_that_is_not_an_ovn_chassis(sb, ovn_port, running, hosts, baseline, admin_user):
    register_chassis(sb, "host-a")
    wait_for_chassis("host-a")
    refused(running, hosts[1], admin_user, "host-b is not an OVN chassis")


def test_a_chassis_target_takes_the_instance(sb, ovn_port, running, hosts, baseline, admin_user, instant):
    register_chassis(sb, "chassis-7", hostname="host-b")  # found by its hostname too
    wait_for_chassis("host-b")
    op = service.start_migration(running, target_host=hosts[1], user=admin_user, options=COPY)
    assert Migration.objects.get(operation=op).target == hosts[1]


def test_the_scheduler_skips_hosts_that_are_not_chassis(sb, ovn_port, running, hosts, baseline, admin_user):
    register_chassis(sb, "host-a")
    wait_for_chassis("host-a")
    with pytest.raises(ActionError, match="No host can take .*host-b is not an OVN chassis"):
        service.start_migration(running, user=admin_user)


def test_without_a_southbound_endpoint_it_refuses_with_why(ovn_port, running, hosts, baseline, admin_user, monkeypatch):
    monkeypatch.delenv("NUBES_OVN_SB", raising=False)
    refused(running, hosts[1], admin_user, "Southbound endpoint is not configured")


def test_an_unreachable_southbound_is_a_refusal_with_the_reason(
    ovn_port, running, hosts, baseline, admin_user, monkeypatch
):
    monkeypatch.setenv("NUBES_OVN_SB", "tcp:127.0.0.1:1")
    monkeypatch.setenv("NUBES_OVN_TIMEOUT", "0.2")
    refused(running, hosts[1], admin_user, "Cannot check that host-b is an OVN chassis")


def test_an_instance_without_ovn_ports_needs_no_chassis(nb, running, hosts, baseline, admin_user, instant, monkeypatch):
    monkeypatch.delenv("NUBES_OVN_SB", raising=False)
    op = service.start_migration(running, target_host=hosts[1], user=admin_user, options=COPY)
    assert Migration.objects.get(operation=op).target == hosts[1]


def port_options(nb, port):
    [row] = nb.rows("Logical_Switch_Port", name=port.interface_id)
    return dict(row["options"][1])


def test_a_live_migration_holds_the_ports_on_the_source_until_it_ends(
    nb, sb, ovn_port, running, hosts, baseline, admin_user, instant, run_tasks
):
    from compute import hooks

    register_chassis(sb, "host-a")
    register_chassis(sb, "chassis-7", hostname="host-b", encap_ip="10.99.1.10")
    wait_for_chassis("host-b")
    during = []

    def look(sender, instance, **kwargs):
        during.append(port_options(nb, ovn_port))

    hooks.instance_migrating.connect(look, dispatch_uid="test-look")
    try:
        with run_tasks():
            op = service.start_migration(running, target_host=hosts[1], user=admin_user, options=COPY)
    finally:
        hooks.instance_migrating.disconnect(dispatch_uid="test-look")
    assert Operation.objects.get(pk=op.pk).status == "succeeded"
    assert during == [{"requested-chassis": "host-a"}]
    assert port_options(nb, ovn_port) == {}
