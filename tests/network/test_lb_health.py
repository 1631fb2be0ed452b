"""Load balancer members show the health OVN's checks found: northd makes a Southbound
Service_Monitor row per health-checked member and ovn-controller writes its status there;
beat reads them all in one go."""

import time

import pytest

from network import services
from network.models import LoadBalancerMember
from network.tasks import status as status_tasks
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
MEMBERS = [{"address": "10.0.0.20", "port": 8080}, {"address": "10.0.0.21", "port": 8080}]
POLL_S = 0.02
ATTEMPTS = 100


def monitor(sb, ip, status, port=8080):
    sb.transact(
        {
            "op": "insert",
            "table": "Service_Monitor",
            "row": {"ip": ip, "port": port, "protocol": "tcp", "logical_port": f"lsp-{ip}", "status": status},
        }
    )


def statuses(lb):
    return {m.address: m.status for m in LoadBalancerMember.objects.filter(load_balancer=lb)}


def refreshed(lb, wanted):
    for _ in range(ATTEMPTS):  # the SB replica learns of the rows asynchronously
        status_tasks.port_status_periodic()
        if statuses(lb) == wanted:
            return True
        time.sleep(POLL_S)
    return False


@pytest.fixture
def lb_factory(nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="n")
        subnet, _ = services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")

    def make(name, **health):
        with run_tasks():
            lb, _ = services.create_load_balancer(
                alice, project_a, subnet, name=name, protocol="tcp", port=80, members=MEMBERS, **health
            )
        return lb

    return make


def test_members_show_online_and_offline_from_the_service_monitors(sb, lb_factory, alice):
    lb = lb_factory("web")
    monitor(sb, "10.0.0.20", "online")
    monitor(sb, "10.0.0.21", "error")
    assert refreshed(lb, {"10.0.0.20": "online", "10.0.0.21": "offline"})
    body = client_for(alice).get(f"/api/v1/load-balancers/{lb.pk}/").json()
    assert {(m["address"], m["status"]) for m in body["members"]} == {("10.0.0.20", "online"), ("10.0.0.21", "offline")}


def test_a_member_that_recovers_goes_back_online(sb, lb_factory):
    lb = lb_factory("web")
    monitor(sb, "10.0.0.20", "offline")
    assert refreshed(lb, {"10.0.0.20": "offline", "10.0.0.21": "no_monitor"})
    sb.transact(
        {"op": "update", "table": "Service_Monitor", "where": [["ip", "==", "10.0.0.20"]], "row": {"status": "online"}}
    )
    assert refreshed(lb, {"10.0.0.20": "online", "10.0.0.21": "no_monitor"})


def test_members_of_a_load_balancer_without_health_checks_are_not_monitored(sb, lb_factory):
    lb = lb_factory("plain", health_check=False)
    monitor(sb, "10.0.0.20", "online")
    time.sleep(POLL_S * 10)
    status_tasks.port_status_periodic()
    assert statuses(lb) == {"10.0.0.20": "no_monitor", "10.0.0.21": "no_monitor"}


def test_without_a_southbound_endpoint_members_stay_not_monitored(lb_factory, monkeypatch):
    monkeypatch.delenv("NUBES_OVN_SB", raising=False)
    lb = lb_factory("web")
    status_tasks.port_status_periodic()
    assert set(statuses(lb).values()) == {"no_monitor"}
