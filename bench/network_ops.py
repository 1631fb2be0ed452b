"""Network realisation against a private OVN NB ovsdb-server (started here, stopped by PID):
time from the API call to the rows committed in NB for a network with a subnet, a port, a
security-group rule change on a group of 200 ports, and the sync over 2,000 ports.

    .venv/bin/python bench/network_ops.py [--group-ports 200] [--sync-ports 2000]

Prints figures; asserts nothing."""

import argparse
import ipaddress
import os
import tempfile
import time
from pathlib import Path

import django_env  # noqa: F401  (sets Django up first; the OVN endpoint is read when asked)

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from network.models import IPAllocation, Network, Port, SecurityGroup, Subnet
from network.ovn import client
from network.ovn.local_server import NbServer, missing_tools
from network.tasks.sync import run_sync
from portal.models import Membership, Project


def timed(label, call, check):
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    assert response.status_code in (201, 202), response.content
    print(f"  {label:<46} {elapsed * 1000:9.1f} ms   (NB: {check(response.json())})")
    return response.json()


def bench_mac(n):
    return "02:be:00:" + ":".join(f"{(n >> shift) & 0xFF:02x}" for shift in (16, 8, 0))


def bulk_ports(network, subnet, count, group):
    """Port rows written straight to the database (not realised): the sync's work load."""
    taken = set(IPAllocation.objects.filter(subnet=subnet).values_list("address", flat=True))
    hosts = (
        str(a) for a in ipaddress.ip_network(subnet.cidr).hosts() if str(a) not in taken and str(a) != subnet.gateway_ip
    )
    start = Port.objects.count()
    ports = Port.objects.bulk_create(
        Port(project=network.project, network=network, mac_address=bench_mac(start + n)) for n in range(count)
    )
    IPAllocation.objects.bulk_create(IPAllocation(subnet=subnet, port=p, address=next(hosts)) for p in ports)
    Port.security_groups.through.objects.bulk_create(
        Port.security_groups.through(port_id=p.pk, securitygroup_id=group.pk) for p in ports
    )
    return ports


def sync_once(label):
    started = time.perf_counter()
    message, _ = run_sync()
    print(f"  {label:<46} {(time.perf_counter() - started) * 1000:9.1f} ms   ({message})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group-ports", type=int, default=200)
    parser.add_argument("--sync-ports", type=int, default=2000)
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    server = NbServer(Path(tempfile.mkdtemp(prefix="nubes-nb-")))
    server.start()
    os.environ["NUBES_OVN_NB"] = server.endpoint
    try:
        run(server, args)
    finally:
        client.close_all()
        server.stop()


def run(server, args):
    project = Project.objects.create(name="bench")
    user = get_user_model().objects.create_user("bench", password="x")
    Membership.objects.create(project=project, user=user, role="member")
    api = APIClient()
    api.force_authenticate(user)
    print(f"OVN NB: ovsdb-server at {server.endpoint}")
    net = timed(
        "network (API call -> Logical_Switch)",
        lambda: api.post("/api/v1/networks/", {"name": "n1"}, format="json"),
        lambda b: len(server.rows("Logical_Switch", name=f"nubes-{b['uuid']}")),
    )
    timed(
        "subnet (API call -> DHCP_Options)",
        lambda: api.post(
            "/api/v1/subnets/", {"network": net["id"], "cidr": "10.0.0.0/16", "gateway_ip": "10.0.0.1"}, format="json"
        ),
        lambda b: len(server.rows("DHCP_Options")),
    )
    timed(
        "port (API call -> LSP + port groups)",
        lambda: api.post("/api/v1/ports/", {"network": net["id"]}, format="json"),
        lambda b: len(server.rows("Logical_Switch_Port", name=b["interface_id"])),
    )

    network, subnet = Network.objects.get(pk=net["id"]), Subnet.objects.get(network_id=net["id"])
    group = SecurityGroup.objects.get(project=project, is_default=True)
    bulk_ports(network, subnet, args.group_ports, group)
    sync_once(f"sync realising {args.group_ports} new ports")
    timed(
        f"rule added to a group of {args.group_ports + 1} ports",
        lambda: api.post(
            "/api/v1/security-group-rules/",
            {"group": group.pk, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
            format="json",
        ),
        lambda b: f"{len(server.rows('ACL'))} ACLs",
    )

    bulk_ports(network, subnet, args.sync_ports - args.group_ports - 1, group)
    total = network.ports.count()
    sync_once(f"sync realising up to {total} ports (first time)")
    sync_once(f"sync of {total} ports, nothing drifted")
    server.transact({"op": "delete", "table": "Logical_Switch", "where": [["name", "==", network.switch_name]]})
    sync_once(f"sync of {total} ports after their switch was deleted")
    print(f"  NB now holds {len(server.rows('Logical_Switch_Port'))} logical switch ports")


if __name__ == "__main__":
    main()
