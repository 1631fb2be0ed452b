"""IPv6 router advertisements on the lab's OVN: a tenant's IPv6 subnet in SLAAC mode behind a
router, and a namespace plugged into host A's br-int as the port's NIC (tests/integration/
netns.py). The kernel there configures itself from the router's advertisements alone: its
SLAAC address must be the EUI-64 one the portal recorded for the port, its default route must
point at the router port's link-local address, and the router must answer it. No guests."""

import ipaddress
import random
import uuid

import pytest

from network import ipam, segments
from tests.conftest import client_for
from tests.integration import netns
from tests.integration.conftest import register_lab

pytestmark = pytest.mark.integration

RA_TIMEOUT_S = 60
REALISE_TIMEOUT_S = 45
PREFIX_LEN = 64
TUNNEL_KEY_BASE = (100_000, 16_000_000)  # the lab's NB is shared with other test sessions
LINK_LOCAL = ipaddress.ip_network("fe80::/64")


def ok(response, status=201):
    assert response.status_code == status, f"{response.status_code} {response.content[:500]}"
    return response.json()


def lsp_up(nb, name):
    result = netns.run("ovn-nbctl", f"--db={nb}", "--timeout=20", "lsp-get-up", name, check=False)
    return result.stdout.strip() == "up"


@pytest.fixture
def slaac_probe(lab, transactional_db, admin_user, alice, project_a, run_tasks, monkeypatch):
    """Alice's IPv6-only network (a random ULA /64, slaac / slaac) with a router interface,
    and a SLAAC probe on it; the namespace and every NB row of ours are removed at the end."""
    monkeypatch.setattr(segments, "TUNNEL_KEY_MIN", random.randrange(*TUNNEL_KEY_BASE))
    register_lab(admin_user, lab, monkeypatch)
    api, made, probe = client_for(alice), [], None
    cidr = ipaddress.ip_network(
        f"fd{random.randrange(256):02x}:{random.randrange(2**16):x}:"
        f"{random.randrange(2**16):x}:{random.randrange(2**16):x}::/64"
    )
    try:
        with run_tasks():
            network = ok(
                api.post(
                    "/api/v1/networks/",
                    {"project": project_a.pk, "name": f"it-v6-{uuid.uuid4().hex[:6]}"},
                    format="json",
                )
            )
        made.append(network["uuid"])
        with run_tasks():
            subnet = ok(
                api.post(
                    "/api/v1/subnets/",
                    {
                        "network": network["id"],
                        "cidr": str(cidr),
                        "gateway_ip": str(cidr[1]),
                        "ipv6_ra_mode": "slaac",
                        "ipv6_address_mode": "slaac",
                    },
                    format="json",
                )
            )
            router = ok(api.post("/api/v1/routers/", {"project": project_a.pk, "name": "it-v6"}, format="json"))
        made += [subnet["uuid"], router["uuid"]]
        with run_tasks():
            ok(api.post(f"/api/v1/routers/{router['id']}/add-interface/", {"subnet": subnet["id"]}, format="json"), 202)
            port = ok(api.post("/api/v1/ports/", {"network": network["id"], "name": "slaac probe"}, format="json"))
        made.append(port["uuid"])
        interface = ok(api.get(f"/api/v1/ports/?network={network['id']}&device_owner=router_interface"), 200)
        probe = netns.Probe("v6", port, PREFIX_LEN, slaac=True).up()
        yield {
            "probe": probe,
            "cidr": cidr,
            "gateway": str(cidr[1]),
            "router_lla": str(ipam.eui64(LINK_LOCAL, interface["results"][0]["mac_address"])),
        }
    finally:
        if probe is not None:
            probe.down()
        netns.nb_destroy(lab["ovn"]["nb"], netns.nb_rows_of(lab["ovn"]["nb"], made))


def test_a_namespace_configures_itself_from_the_routers_advertisements(lab, slaac_probe):
    probe, cidr = slaac_probe["probe"], slaac_probe["cidr"]
    expected = probe.ip  # the EUI-64 address the portal recorded for the port
    assert ipaddress.ip_address(expected) in cidr
    netns.eventually(
        lambda: lsp_up(lab["ovn"]["nb"], probe.port["interface_id"]),
        REALISE_TIMEOUT_S,
        "the probe's port bound on host A",
    )
    probe.solicit()  # solicitations sent before the port was bound went nowhere

    def configured():
        addresses, routes = probe.ipv6_state()
        return f"inet6 {expected}/{PREFIX_LEN}" in addresses and f"via {slaac_probe['router_lla']} " in routes

    try:
        netns.eventually(
            configured, RA_TIMEOUT_S, f"SLAAC address {expected} and a default route via {slaac_probe['router_lla']}"
        )
    except AssertionError:
        addresses, routes = probe.ipv6_state()
        raise AssertionError(f"the probe holds:\n{addresses}\n{routes}") from None
    addresses, routes = probe.ipv6_state()
    assert "dynamic" in addresses and "proto ra" in routes, (addresses, routes)
    # The address is usable: port security lets it out and the router answers it.
    netns.eventually(
        lambda: probe.ping(slaac_probe["gateway"]), REALISE_TIMEOUT_S, f"ping {slaac_probe['gateway']} from {expected}"
    )
