"""`make lab`'s registration (`manage.py lab_register --provider-network`) makes the lab's provider
network an external flat network on physnet1 with a floating pool at the top of lab.json's range,
realised in the lab's OVN; a tenant then takes a floating IP from it without reading lab.json.
Run twice, it makes nothing twice; it prints the line that starts the portal on the lab. The
network is deleted through the API after (OVN objects included)."""

import io
import ipaddress

import pytest
from django.core.management import call_command

from network.lab import PROVIDER_NETWORK, PROVIDER_POOL_SIZE
from network.models import FloatingIP, Network
from portal.models import Operation
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def done(response):
    """A network API write that went through: its Operation (if it started one) succeeded."""
    assert response.status_code in (201, 202, 204), response.content
    body = response.json() if response.content else {}
    op_id = body.get("operation") if response.status_code == 201 else body.get("id")
    if op_id is not None:
        op = Operation.objects.get(pk=op_id)
        assert op.status == "succeeded", f"{op.kind}: {op.error or op.message}"
    return body


def lab_register():
    out = io.StringIO()
    call_command("lab_register", "--provider-network", stdout=out)
    return out.getvalue()


def test_make_lab_registers_the_provider_network_a_tenant_takes_a_floating_ip_from(
    lab, admin_user, alice, project_a, monkeypatch
):
    for name in ("NUBES_OVN_NB", "NUBES_OVN_SB", "NUBES_OVN_ENCAP", "NUBES_OVN_GATEWAY_CHASSIS"):
        monkeypatch.delenv(name, raising=False)  # the environment would win over the registration
    printed = lab_register()
    network = Network.objects.get(name=PROVIDER_NETWORK)
    admin = client_for(admin_user)
    try:
        provider = lab["provider"]
        assert network.external and network.segment_type == "flat"
        assert network.physical_network == provider["physnet"] and network.state == "active", network.state_reason
        assert network.backend == "ovn", network.backend  # realised in the lab's OVN NB
        subnet = network.subnets.get()
        assert (subnet.cidr, str(subnet.gateway_ip), subnet.enable_dhcp) == (
            provider["cidr"],
            provider["gateway"],
            False,
        )
        last = ipaddress.ip_address(provider["floating_ip_range"][1])
        assert subnet.allocation_pools == [[str(last - PROVIDER_POOL_SIZE + 1), str(last)]]
        assert f"provider network {PROVIDER_NETWORK}: external, flat on {provider['physnet']}" in printed
        assert "Start the portal on the lab: make run" in printed

        assert PROVIDER_NETWORK in lab_register()  # again: reported, not made twice
        assert Network.objects.filter(name=PROVIDER_NETWORK).count() == 1

        tenant = client_for(alice)
        listed = tenant.get("/api/v1/networks/").json()
        rows = listed["results"] if isinstance(listed, dict) else listed
        assert network.pk in [row["id"] for row in rows if row["external"]], rows
        body = done(
            tenant.post("/api/v1/floating-ips/", {"project": project_a.pk, "network": network.pk}, format="json")
        )
        fip = FloatingIP.objects.get(pk=body["id"])
        assert last - PROVIDER_POOL_SIZE < ipaddress.ip_address(fip.allocation.address) <= last
        done(tenant.delete(f"/api/v1/floating-ips/{fip.pk}/"))
    finally:
        for subnet in network.subnets.all():
            done(admin.delete(f"/api/v1/subnets/{subnet.pk}/"))
        done(admin.delete(f"/api/v1/networks/{network.pk}/"))
