"""A host's liveness as OVN sees it (HA's second signal, scheduler/tasks/failover.py): whether
the host's ovn-controller still catches up with the central databases (network/ovn/liveness.py),
a path that does not go through the worker's link to the host."""

from network import conf as net_settings
from network.ovn import liveness
from network.ovn.liveness import ALIVE, DEAD, UNKNOWN, ChassisLiveness  # noqa: F401  (the verdicts)
from network.ovn.specs import Endpoint


def host_chassis_liveness(host, wait_s):
    """ChassisLiveness of the chassis OVN knows `host` by (its name, else the hostname in its
    facts, as migration_check matches). UNKNOWN without a real OVN deployment (no NB / SB
    configured, or the embedded default's NB, which has no northd and no chassis)."""
    nb, sb = net_settings.ovn_nb_endpoint(), net_settings.ovn_sb_endpoint()
    if not nb or not sb or net_settings.embedded_nb():
        return ChassisLiveness(UNKNOWN, "no OVN Southbound database is configured")
    timeout = min(net_settings.ovn_timeout(), wait_s)  # an unreachable NB costs the wait, no more
    names = {host.name, (host.facts or {}).get("hostname") or ""}
    return liveness.chassis_liveness(Endpoint(nb, timeout), Endpoint(sb, timeout), names, wait_s)
