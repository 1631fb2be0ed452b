"""Is a chassis's ovn-controller alive? Asked through the central OVN databases only, so the
answer does not depend on the link between the asking worker and the host (HA's second signal).

The way `ovn-nbctl --wait=hv sync` works: bump NB_Global.nb_cfg; ovn-northd copies it to
SB_Global.nb_cfg; every ovn-controller that has processed that Southbound state writes it back
to its own Chassis_Private.nb_cfg. The chassis is "alive" when its Chassis_Private.nb_cfg
reaches the bumped value within the wait, "dead" when northd passed the value on and the chassis
did not catch up, "unknown" when this cannot be told (no such chassis, no Chassis_Private row,
the NB or SB unreachable, northd not passing nb_cfg on)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ovsdbapp.backend.ovs_idl import command

from network.ovn import client
from network.ovn.errors import OvnError
from network.ovn.specs import Endpoint

ALIVE, DEAD, UNKNOWN = "alive", "dead", "unknown"
POLL_S = 0.02


@dataclass(frozen=True)
class ChassisLiveness:
    verdict: str  # ALIVE | DEAD | UNKNOWN
    detail: str
    chassis: str = ""
    seconds: float = 0.0  # how long the question took


class _BumpNbCfg(command.BaseCommand):
    """NB_Global.nb_cfg += 1, as ovn-nbctl does (verified: a concurrent bump makes ovsdbapp retry
    on the fresh value); result: the new value, or None when there is no NB_Global row (northd
    makes it). Not Row.increment(): python-ovs sends an increment only along with other updates."""

    def run_idl(self, txn):
        row = next(iter(self.api.tables["NB_Global"].rows.values()), None)
        self.result = None
        if row is not None:
            row.verify("nb_cfg")
            self.result = row.nb_cfg + 1
            row.nb_cfg = self.result


def _chassis_state(api, names):
    """(chassis name or "", its Chassis_Private.nb_cfg or None, SB_Global.nb_cfg or None)."""
    chassis = sorted(row.name for row in api.tables["Chassis"].rows.values() if {row.name, row.hostname} & names)
    sb_global = next(iter(api.tables["SB_Global"].rows.values()), None)
    sb_cfg = sb_global.nb_cfg if sb_global is not None else None
    if not chassis:
        return "", None, sb_cfg
    private = [row.nb_cfg for row in api.tables["Chassis_Private"].rows.values() if row.name == chassis[0]]
    return chassis[0], (private[0] if private else None), sb_cfg


def chassis_liveness(nb: Endpoint, sb: Endpoint, names, wait_s: float) -> ChassisLiveness:
    """Whether the chassis named (Chassis.name or .hostname) one of `names` catches up with a
    fresh NB_Global.nb_cfg within wait_s."""
    names = {name for name in names if name}
    started = time.monotonic()

    def result(verdict, detail, chassis=""):
        return ChassisLiveness(verdict, detail, chassis, time.monotonic() - started)

    chassis = ""
    try:
        chassis, _cfg, _sb_cfg = client.sb_read(sb.address, sb.timeout, lambda api: _chassis_state(api, names))
        if not chassis:
            return result(UNKNOWN, f"no OVN chassis named {' or '.join(sorted(names))}")
        target = client.execute(nb.address, nb.timeout, lambda api: [_BumpNbCfg(api)])
        if target is None:
            return result(UNKNOWN, "the Northbound database has no NB_Global row (ovn-northd never ran)", chassis)
        deadline = started + wait_s
        while True:
            _name, cfg, sb_cfg = client.sb_read(sb.address, sb.timeout, lambda api: _chassis_state(api, names))
            if cfg is not None and cfg >= target:
                return result(ALIVE, f"chassis {chassis} caught up with nb_cfg {target}", chassis)
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
    except OvnError as exc:
        return result(UNKNOWN, f"the OVN databases did not answer: {exc}", chassis)
    if cfg is None:
        return result(UNKNOWN, f"chassis {chassis} has no Chassis_Private row", chassis)
    if sb_cfg is None or sb_cfg < target:
        return result(UNKNOWN, f"ovn-northd did not pass nb_cfg {target} on within {wait_s:g} s", chassis)
    return result(
        DEAD,
        f"chassis {chassis}'s ovn-controller did not catch up with nb_cfg {target} within {wait_s:g} s "
        f"(still at {cfg})",
        chassis,
    )
