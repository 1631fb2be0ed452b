"""Tenant networks on the lab's OVN (two chassis), driven through the API as tenants: OVN DHCP,
Geneve across hosts, tenant isolation on overlapping CIDRs, security groups, a router, a
floating IP from the provider namespace and a load balancer. The guests cannot be logged
into: traffic comes from namespaces plugged into host A's br-int as ports of the same
switches (tests/integration/netns.py). Two guests at most run at once; the module boots them
once and every check reuses them, in file order."""

import random
import time
import uuid

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection
from django.test.utils import setup_databases, teardown_databases

from compute.models import Instance
from network import segments
from network.models import Port
from portal.choices import Role
from portal.models import Membership, Operation, Project
from tests.conftest import client_for, make_user
from tests.integration import netns
from tests.integration.conftest import domain_names, register_lab

pytestmark = pytest.mark.integration

LEASE_TIMEOUT_S = 150
REALISE_TIMEOUT_S = 45
CLEANUP_ATTEMPTS = 30
CLEANUP_WAIT_S = 2
LB_TIMEOUT_S = 60
BLOCKED_ATTEMPTS = 3
TUNNEL_KEY_BASE = (100_000, 16_000_000)  # the lab's NB is shared with other test sessions
NET_A = "10.77.1.0/24"
NET_A2 = "10.77.2.0/24"
PREFIX = 24
GUEST_PORT = 8080
FIP_POOL_SIZE = 10
SNAT_PORTS = (20_000, 60_000)


def gw(cidr):
    return cidr.rsplit(".", 1)[0] + ".1"


class Cloud:
    """What the module made, through the API; every object id is kept for the cleanup."""

    def __init__(self, lab, made, sfx):
        self.lab, self.made, self.sfx = lab, made, sfx
        self.nb = lab["ovn"]["nb"]
        self.hosts = {host.name: host for host in made["hosts"]}
        self.admin = make_user(f"itnetadmin{sfx}", staff=True)
        self.projects, self.clients = {}, {"admin": client_for(self.admin)}
        for tenant in ("a", "b", "ext"):
            project = self.projects[tenant] = Project.objects.create(name=f"it-net-{tenant}-{sfx}")
            user = make_user(f"itnet{tenant}{sfx}")
            Membership.objects.create(user=user, project=project, role=Role.MEMBER)
            self.clients[tenant] = client_for(user)
        Membership.objects.create(user=self.admin, project=self.projects["ext"], role=Role.ADMIN)
        self.instances, self.probes, self.state = {}, [], {}

    def post(self, who, path, body, status=201):
        response = self.clients[who].post(f"/api/v1/{path}", body, format="json")
        assert response.status_code == status, f"POST {path}: {response.status_code} {response.content[:500]}"
        body = response.json()
        op = body.get("operation") if status == 201 else body["id"]
        if op:
            operation = Operation.objects.get(pk=op)
            assert operation.status == "succeeded", f"{operation.kind}: {operation.error or operation.message}"
        return body

    def delete(self, who, path):
        response = self.clients[who].delete(f"/api/v1/{path}")
        assert response.status_code == 202, f"DELETE {path}: {response.status_code} {response.content[:500]}"
        operation = Operation.objects.get(pk=response.json()["id"])
        assert operation.status == "succeeded", f"{operation.kind}: {operation.error or operation.message}"

    def network(self, tenant, name, cidr, **subnet):
        net = self.post(tenant, "networks/", {"project": self.projects[tenant].pk, "name": f"{name}-{self.sfx}"})
        sub = self.post(tenant, "subnets/", {"network": net["id"], "cidr": cidr, "gateway_ip": gw(cidr), **subnet})
        return net, sub

    def boot(self, key, tenant, network, host):
        """A lab guest of `tenant` on `network`, placed on `host` (an admin's hint)."""
        op = self.post(
            "admin",
            "instances/",
            {
                "project": self.projects[tenant].pk,
                "name": f"itnet-{key}-{self.sfx}",
                "flavor": self.made["flavor"].pk,
                "image": self.made["image"].pk,
                "host": self.hosts[host].pk,
                "networks": [network["id"]],
            },
            status=202,
        )
        instance = self.instances[key] = Instance.objects.get(pk=op["target_id"])
        return instance

    def port_of(self, key):
        return Port.objects.get(instance=self.instances[key])

    def address_of(self, key):
        return self.port_of(key).ip_allocations.get().address

    def hostname_of(self, key):
        # The lab guest names itself after its SMBIOS UUID, which is the domain's (the instance's).
        return f"nubes-{str(self.instances[key].uuid)[:8]}"

    def remove_instance(self, key):
        instance = self.instances.pop(key)
        self.delete("admin", f"instances/{instance.pk}/")
        assert instance.domain_name not in domain_names(instance.host.uri)

    def probe(self, tenant, tag, network, gateway=None):
        port = self.post(
            tenant, "ports/", {"project": self.projects[tenant].pk, "network": network["id"], "name": f"probe {tag}"}
        )
        probe = netns.Probe(tag, port, PREFIX, gateway)
        self.probes.append(probe)
        return probe.up()

    def object_uuids(self):
        from network.models import FloatingIP, LoadBalancer, Network, Router, SecurityGroup, Subnet

        projects = list(self.projects.values())
        return {
            str(u)
            for model in (Network, Subnet, Port, Router, SecurityGroup, LoadBalancer, FloatingIP)
            for u in model.objects.filter(project__in=projects).values_list("uuid", flat=True)
        }


@pytest.fixture(scope="module")
def module_db(django_db_setup, django_db_blocker):
    """The test database for a whole module, without the per-test flush (the tests share two
    booted guests). pytest-django creates it only when some collected test is marked django_db;
    when this module runs alone it is made here."""
    with django_db_blocker.unblock():
        made = None
        if connection.settings_dict["NAME"] != connection.settings_dict["TEST"]["NAME"]:
            made = setup_databases(verbosity=0, interactive=False, aliases={DEFAULT_DB_ALIAS})
        try:
            yield
        finally:
            call_command("flush", interactive=False, verbosity=0)
            if made is not None:
                teardown_databases(made, verbosity=0)


@pytest.fixture(scope="module")
def cloud(lab, module_db):
    """Tenant A's network with two guests (host A and host B) and a probe namespace on host A.
    The module keeps its rows and removes everything itself at the end."""
    sfx = uuid.uuid4().hex[:6]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(segments, "TUNNEL_KEY_MIN", random.randrange(*TUNNEL_KEY_BASE))
        try:
            admin = make_user(f"itnetlab{sfx}", staff=True)
            c = Cloud(lab, register_lab(admin, lab, mp), sfx)
            c.state["net_a"], c.state["sub_a"] = c.network("a", "it-a", NET_A)
            c.boot("vm1", "a", c.state["net_a"], "nubes-hosta")
            c.boot("vm2", "a", c.state["net_a"], "nubes-hostb")
            c.state["probe_a"] = c.probe("a", "a", c.state["net_a"])
            yield c
        finally:
            _cleanup(locals().get("c"))


def _cleanup(c):
    """Guests first (at most two of ours may run), then namespaces, then any NB row left of ours."""
    if c is None:
        return
    for key in list(c.instances):
        instance = c.instances.pop(key)
        c.clients["admin"].delete(f"/api/v1/instances/{instance.pk}/")
        _remove_domain(instance)
    for probe in c.probes:
        probe.down()
    netns.nb_destroy(c.nb, netns.nb_rows_of(c.nb, c.object_uuids()))


def _remove_domain(instance, attempts=CLEANUP_ATTEMPTS):
    """What the portal could not remove (another session may be restarting a libvirtd)."""
    uri, pool = instance.host.uri, instance.image.pool
    for _ in range(attempts):
        virsh = ["virsh", "-c", uri]
        if netns.run(*virsh, "list", "--all", "--name", check=False).returncode != 0:
            time.sleep(CLEANUP_WAIT_S)
            continue
        if instance.domain_name in domain_names(uri):
            netns.run(*virsh, "destroy", instance.domain_name, check=False)
            netns.run(*virsh, "undefine", instance.domain_name, check=False)
        if instance.root_volume in netns.run(*virsh, "vol-list", pool, check=False).stdout:
            netns.run(*virsh, "vol-delete", instance.root_volume, "--pool", pool, check=False)
        return


def test_registration_finds_every_lab_host_a_complete_ovn_chassis(cloud):
    assert set(cloud.made["chassis"]) == set(cloud.hosts)
    for host, check in cloud.made["chassis"].items():
        assert check == "The chassis has every external id OVN needs.", f"{host}: {check}"
    assert cloud.made["ovn"].gateway_chassis == "nubes-hosta"


def test_registration_makes_the_labs_ovn_the_portals_network_backend(cloud):
    from network import backends
    from network import conf as net_settings

    assert net_settings.ovn_nb_endpoint() == cloud.lab["ovn"]["nb"]
    assert net_settings.ovn_sb_endpoint() == cloud.lab["ovn"]["sb"]
    assert backends.configured().name == "ovn"


def test_both_guests_get_their_port_addresses_from_ovn_dhcp(cloud):
    for key in ("vm1", "vm2"):
        lease = netns.wait_for_lease(cloud.instances[key].serial_log_path, LEASE_TIMEOUT_S)
        assert lease == f"{cloud.address_of(key)}/{PREFIX}", key


def chassis_of(lab, logical_port):
    sb = ["ovn-sbctl", f"--db={lab['ovn']['sb']}", "--timeout=20", "--bare"]
    chassis = netns.run(*sb, "--columns=chassis", "find", "Port_Binding", f"logical_port={logical_port}").stdout
    if not chassis.strip():
        return None
    return netns.run(*sb, "--columns=name", "list", "Chassis", chassis.strip()).stdout.strip()


def test_guests_on_two_hosts_answer_across_the_geneve_tunnel(cloud):
    probe = cloud.state["probe_a"]
    for key, chassis in (("vm1", "nubes-hosta"), ("vm2", "nubes-hostb")):
        netns.eventually(
            lambda k=key: chassis_of(cloud.lab, cloud.port_of(k).interface_id) is not None,
            REALISE_TIMEOUT_S,
            f"{key}'s port bound to a chassis",
        )
        assert chassis_of(cloud.lab, cloud.port_of(key).interface_id) == chassis
    assert chassis_of(cloud.lab, probe.port["interface_id"]) == "nubes-hosta"
    for key in ("vm2", "vm1"):  # vm2 is behind the tunnel from the probe on host A
        netns.eventually(lambda k=key: probe.ping(cloud.address_of(k)), REALISE_TIMEOUT_S, f"ping {key}")
        assert probe.tcp(cloud.address_of(key), GUEST_PORT) == cloud.hostname_of(key)


def _default_group(cloud, tenant):
    groups = cloud.clients[tenant].get(f"/api/v1/security-groups/?project={cloud.projects[tenant].pk}").json()
    return next(g for g in groups["results"] if g["is_default"])


def test_removing_and_adding_a_security_group_rule_blocks_and_allows_ping(cloud):
    probe, vm1 = cloud.state["probe_a"], cloud.address_of("vm1")
    group = _default_group(cloud, "a")
    [from_group] = [r for r in group["rules"] if r["summary"].startswith("ingress IPv4 any group")]
    assert probe.ping(vm1)

    cloud.delete("a", f"security-group-rules/{from_group['id']}/")
    netns.eventually(lambda: not probe.ping(vm1), REALISE_TIMEOUT_S, "ping blocked once the rule is gone")
    assert probe.tcp(vm1, GUEST_PORT) == ""

    cloud.post(
        "a",
        "security-group-rules/",
        {"group": group["id"], "direction": "ingress", "protocol": "icmp", "remote_cidr": f"{probe.ip}/32"},
    )
    netns.eventually(lambda: probe.ping(vm1), REALISE_TIMEOUT_S, "ping allowed by the new ICMP rule")
    assert probe.tcp(vm1, GUEST_PORT) == "", "the ICMP rule let TCP in"

    cloud.post(
        "a", "security-group-rules/", {"group": group["id"], "direction": "ingress", "remote_group": group["id"]}
    )
    netns.eventually(
        lambda: probe.tcp(vm1, GUEST_PORT) == cloud.hostname_of("vm1"),
        REALISE_TIMEOUT_S,
        "TCP allowed again from the group",
    )


def test_a_router_joins_two_subnets(cloud):
    net2, sub2 = cloud.state["net_a2"], cloud.state["sub_a2"] = cloud.network("a", "it-a2", NET_A2)
    router = cloud.state["router"] = cloud.post(
        "a", "routers/", {"project": cloud.projects["a"].pk, "name": f"r-{cloud.sfx}"}
    )
    probe2 = cloud.state["probe_a2"] = cloud.probe("a", "a2", net2, gateway=gw(NET_A2))
    vm1 = cloud.address_of("vm1")
    assert not probe2.ping(vm1), "reached the other subnet without a router"
    for subnet in (cloud.state["sub_a"], sub2):
        cloud.post("a", f"routers/{router['id']}/add-interface/", {"subnet": subnet["id"]}, status=202)
    netns.eventually(lambda: probe2.ping(vm1), REALISE_TIMEOUT_S, "ping across the router")
    assert probe2.tcp(vm1, GUEST_PORT) == cloud.hostname_of("vm1")


def test_a_load_balancer_spreads_tcp_over_both_guests(cloud):
    members = [{"address": cloud.address_of(k), "port": GUEST_PORT} for k in ("vm1", "vm2")]
    lb = cloud.post(
        "a",
        "load-balancers/",
        {
            "project": cloud.projects["a"].pk,
            "name": f"lb-{cloud.sfx}",
            "subnet": cloud.state["sub_a"]["id"],
            "protocol": "tcp",
            "port": GUEST_PORT,
            "members": members,
        },
    )
    cloud.state["lb"] = lb
    # No port holds the VIP: the router port on the subnet (from the test above) answers ARP for
    # it (arp_proxy), so a client in the VIP's own subnet reaches it with no route of its own.
    expected = {cloud.hostname_of("vm1"), cloud.hostname_of("vm2")}
    seen = []

    def both_answered():
        reply = cloud.state["probe_a"].tcp(lb["vip_address"], GUEST_PORT)
        if reply:
            seen.append(reply)
        return set(seen) == expected

    netns.eventually(both_answered, LB_TIMEOUT_S, f"both backends answer on the VIP (saw {seen})")
    assert set(seen) <= expected


def test_a_floating_ip_makes_a_guest_reachable_from_the_provider_namespace(cloud):
    provider = cloud.lab["provider"]
    low = int(provider["floating_ip_range"][0].rsplit(".", 1)[1])
    high = int(provider["floating_ip_range"][1].rsplit(".", 1)[1])
    start = random.randrange(low, high - FIP_POOL_SIZE + 2)  # a slice: other sessions share the provider net
    base = provider["cidr"].rsplit(".", 1)[0]
    ext = cloud.post(
        "admin",
        "networks/",
        {
            "project": cloud.projects["ext"].pk,
            "name": f"ext-{cloud.sfx}",
            "external": True,
            "segment_type": "flat",
            "physical_network": provider["physnet"],
        },
    )
    cloud.post(
        "admin",
        "subnets/",
        {
            "network": ext["id"],
            "cidr": provider["cidr"],
            "gateway_ip": provider["gateway"],
            "enable_dhcp": False,
            "allocation_pools": [[f"{base}.{start}", f"{base}.{start + FIP_POOL_SIZE - 1}"]],
        },
    )
    router = cloud.state["router"]
    response = cloud.clients["a"].patch(
        f"/api/v1/routers/{router['id']}/", {"external_network": ext["id"]}, format="json"
    )
    assert response.status_code == 200, response.content
    group = _default_group(cloud, "a")
    for rule in ({"protocol": "icmp"}, {"protocol": "tcp", "port_range_min": GUEST_PORT, "port_range_max": GUEST_PORT}):
        cloud.post(
            "a",
            "security-group-rules/",
            {"group": group["id"], "direction": "ingress", "remote_cidr": provider["cidr"], **rule},
        )
    fip = cloud.post(
        "a", "floating-ips/", {"project": cloud.projects["a"].pk, "network": ext["id"], "port": cloud.port_of("vm1").pk}
    )
    address = fip["floating_ip_address"]
    assert not netns.ping(cloud.address_of("vm1"), provider["netns"]), "the fixed IP is reachable from outside"
    netns.eventually(
        lambda: netns.ping(address, provider["netns"]), REALISE_TIMEOUT_S, f"ping {address} from {provider['netns']}"
    )
    assert netns.tcp(address, GUEST_PORT, provider["netns"]) == cloud.hostname_of("vm1")
    cloud.state["fip"] = fip


def test_a_port_behind_the_router_reaches_the_provider_through_snat(cloud):
    """Outbound SNAT: the provider namespace sees the router's external address as the source.
    A one-shot server there answers each connection with the peer address it saw."""
    provider, probe = cloud.lab["provider"], cloud.state["probe_a"]
    gateway_ip = cloud.clients["a"].get(f"/api/v1/routers/{cloud.state['router']['id']}/").json()["gateway_ip"]
    assert gateway_ip, "the router has no external gateway (needs the floating IP test above)"
    probe.route("default", gw(NET_A))
    port = random.randrange(*SNAT_PORTS)  # the provider namespace is shared with other sessions
    server = netns.peer_echo_server(provider["netns"], provider["gateway"], port)
    try:
        seen = []

        def answered():
            reply = probe.tcp(provider["gateway"], port)
            seen.append(reply)
            return bool(reply)

        netns.eventually(answered, REALISE_TIMEOUT_S, f"a TCP answer from {provider['gateway']}:{port}")
    finally:
        netns.stop(server)
    assert seen[-1] == gateway_ip, f"the provider saw {seen[-1]!r}, not the router's external IP {gateway_ip}"
    assert seen[-1] != probe.ip


def test_a_tenant_b_guest_on_an_overlapping_cidr_is_not_reachable_from_tenant_a(cloud):
    cloud.remove_instance("vm2")  # two guests at most
    net_b, _ = cloud.network("b", "it-b", NET_A, allocation_pools=[["10.77.1.200", "10.77.1.220"]])
    cloud.boot("vmb", "b", net_b, "nubes-hostb")
    address = cloud.address_of("vmb")
    assert netns.wait_for_lease(cloud.instances["vmb"].serial_log_path, LEASE_TIMEOUT_S) == f"{address}/{PREFIX}"
    probe_b = cloud.probe("b", "b", net_b)
    netns.eventually(lambda: probe_b.ping(address), REALISE_TIMEOUT_S, "tenant B reaches its own guest")
    probe_a = cloud.state["probe_a"]
    assert not any(probe_a.ping(address) for _ in range(BLOCKED_ATTEMPTS))
    assert probe_a.tcp(address, GUEST_PORT) == ""
    assert not probe_a.ping(probe_b.ip) and not probe_b.ping(cloud.address_of("vm1"))


def test_deleting_everything_through_the_api_leaves_no_row_of_ours_in_ovn(cloud):
    owned = cloud.object_uuids()
    for key in list(cloud.instances):
        port = cloud.port_of(key).interface_id
        cloud.remove_instance(key)
        assert not Port.objects.filter(uuid=port).exists()
    for name in ("fip", "lb"):
        if name in cloud.state:
            path = "floating-ips" if name == "fip" else "load-balancers"
            cloud.delete("a", f"{path}/{cloud.state[name]['id']}/")
    router = cloud.state.get("router")
    if router:
        for subnet in ("sub_a", "sub_a2"):
            cloud.post(
                "a", f"routers/{router['id']}/remove-interface/", {"subnet": cloud.state[subnet]["id"]}, status=202
            )
        cloud.delete("a", f"routers/{router['id']}/")
    for probe in cloud.probes:
        probe.down()
        tenant = "a" if Port.objects.get(uuid=probe.port["interface_id"]).project == cloud.projects["a"] else "b"
        cloud.delete(tenant, f"ports/{probe.port['id']}/")
    from network.models import Network, SecurityGroup

    # A default security group lives as long as its project (the teardown removes its port group).
    owned -= {str(u) for u in SecurityGroup.objects.filter(is_default=True).values_list("uuid", flat=True)}
    for network in Network.objects.filter(project__in=cloud.projects.values()).order_by("external"):
        tenant = next(t for t, p in cloud.projects.items() if p.pk == network.project_id)
        who = "admin" if tenant == "ext" else tenant
        for subnet in network.subnets.all():
            cloud.delete(who, f"subnets/{subnet.pk}/")
        cloud.delete(who, f"networks/{network.pk}/")
    assert netns.nb_rows_of(cloud.nb, owned) == {}
