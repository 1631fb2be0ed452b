"""network's part in registering the lab (portal.lab): the lab's OVN endpoints become the
portal's OVN deployment, and each host's OVS database is checked for what OVN needs."""

from network import services as network_services
from network.models import Network
from network.ovn.chassis import ChassisConfig, chassis_check
from network.ovn.errors import OvnError
from portal.models import Project

LAB_ORDER = 30  # after compute's hosts and storage's pools


def register_ovn(user, lab):
    """Save the lab's OVN endpoints as the portal's OVN deployment, so the network app uses
    them without environment variables (NUBES_OVN_* variables, when set, still win)."""
    gateways = [host["chassis"] for host in lab["hosts"] if host.get("gateway")]
    return network_services.update_deployment(
        user,
        nb_connection=lab["ovn"]["nb"],
        sb_connection=lab["ovn"]["sb"],
        gateway_chassis=",".join(gateways),
        encap_type=lab["ovn"]["encap_type"],
    )


def check_chassis(lab):
    """{host name: what its OVS database lacks for OVN (ChassisCheck.describe())}, each host
    checked against what lab.json says it should be."""
    report = {}
    for host in lab["hosts"]:
        mappings = dict(item.split(":", 1) for item in (host.get("bridge_mappings") or "").split(",") if item)
        want = ChassisConfig(host["chassis"], lab["ovn"]["sb"], host["encap_ip"], lab["ovn"]["encap_type"], mappings)
        try:
            report[host["name"]] = chassis_check(host["ovs_db"], want).describe()
        except OvnError as exc:
            report[host["name"]] = f"cannot read its OVS database {host['ovs_db']}: {exc}"
    return report


def register(user, lab, made, provider_network=False, **options):
    made["ovn"] = register_ovn(user, lab)
    made["chassis"] = check_chassis(lab)
    if provider_network:
        made["provider_network"] = register_provider(user, lab)


PROVIDER_NETWORK = "lab-provider"
PROVIDER_PROJECT = "lab-admin"
PROVIDER_POOL_SIZE = 20  # the top of lab.json's floating range


def register_provider(user, lab):
    """The lab's provider network as an external flat network on ``physnet1`` (owned by project
    lab-admin), its subnet without DHCP, and a floating pool at the top of lab.json's range, so a
    tenant's router gets a gateway and floating IPs without reading lab.json. Returns the network;
    nothing is made twice. Only `manage.py lab_register` asks for it (``provider_network=True``):
    the lab tier makes its own."""
    provider = lab["provider"]
    existing = Network.objects.filter(name=PROVIDER_NETWORK, external=True).first()
    if existing is not None:
        return existing
    project, _made = Project.objects.get_or_create(name=PROVIDER_PROJECT)
    network, _op = network_services.create_network(
        user,
        project,
        name=PROVIDER_NETWORK,
        segment_type="flat",
        physical_network=provider["physnet"],
        external=True,
        description="The lab's provider network (lab.json 'provider'), for router gateways and floating IPs",
    )
    base, last = provider["floating_ip_range"][1].rsplit(".", 1)
    first = f"{base}.{int(last) - PROVIDER_POOL_SIZE + 1}"
    network_services.create_subnet(
        user,
        network,
        name=f"{PROVIDER_NETWORK}-subnet",
        cidr=provider["cidr"],
        gateway_ip=provider["gateway"],
        enable_dhcp=False,
        allocation_pools=[[first, provider["floating_ip_range"][1]]],
    )
    network.refresh_from_db()
    return network
