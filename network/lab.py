"""network's part in registering the lab (portal.lab): the lab's OVN endpoints become the
portal's OVN deployment, and each host's OVS database is checked for what OVN needs."""

from network import services as network_services
from network.ovn.chassis import ChassisConfig, chassis_check
from network.ovn.errors import OvnError

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


def register(user, lab, made, **options):
    made["ovn"] = register_ovn(user, lab)
    made["chassis"] = check_chassis(lab)
