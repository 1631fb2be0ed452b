"""Host onboarding: the Open_vSwitch external ids ovn-controller needs on every chassis
(system-id, ovn-remote, ovn-encap-type, ovn-encap-ip, ovn-bridge-mappings), read, checked
and set through ovsdbapp's Open_vSwitch API on the host's own OVS database."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ovsdbapp.backend.ovs_idl import transaction
from ovsdbapp.schema.open_vswitch import impl_idl as ovs_impl

from network.ovn import client
from network.ovn.errors import OvnError

OVS_SCHEMA = "Open_vSwitch"
DEFAULT_OVS_DB = "unix:/var/run/openvswitch/db.sock"
REQUIRED = ("system-id", "ovn-remote", "ovn-encap-type", "ovn-encap-ip")
KEYS = (*REQUIRED, "ovn-bridge-mappings")
ENCAP_TYPES = ("geneve", "vxlan")
REMOTE_SCHEMES = ("tcp:", "ssl:", "unix:")
TIMEOUT_S = 5.0


class ChassisConfigError(OvnError):
    """The wanted chassis settings are not valid."""


@dataclass(frozen=True)
class ChassisConfig:
    system_id: str
    ovn_remote: str  # the Southbound DB, e.g. tcp:10.99.0.1:6642
    encap_ip: str
    encap_type: str = "geneve"
    bridge_mappings: dict = field(default_factory=dict)  # {"physnet1": "br-ex"}

    def external_ids(self) -> dict[str, str]:
        if not self.system_id:
            raise ChassisConfigError("system-id must not be empty")
        if not self.ovn_remote.startswith(REMOTE_SCHEMES):
            raise ChassisConfigError(
                f"ovn-remote {self.ovn_remote!r} must start with one of {', '.join(REMOTE_SCHEMES)}"
            )
        if self.encap_type not in ENCAP_TYPES:
            raise ChassisConfigError(f"ovn-encap-type must be one of {', '.join(ENCAP_TYPES)}")
        try:
            ipaddress.ip_address(self.encap_ip)
        except ValueError as exc:
            raise ChassisConfigError(f"ovn-encap-ip {self.encap_ip!r} is not an IP address") from exc
        ids = {
            "system-id": self.system_id,
            "ovn-remote": self.ovn_remote,
            "ovn-encap-type": self.encap_type,
            "ovn-encap-ip": self.encap_ip,
        }
        if self.bridge_mappings:
            ids["ovn-bridge-mappings"] = ",".join(
                f"{net}:{bridge}" for net, bridge in sorted(self.bridge_mappings.items())
            )
        return ids


@dataclass(frozen=True)
class ChassisCheck:
    current: dict
    missing: tuple[str, ...]
    different: dict  # key -> (have, want)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.different

    def describe(self) -> str:
        if self.ok:
            return "The chassis has every external id OVN needs."
        parts = [f"missing {', '.join(self.missing)}"] if self.missing else []
        parts += [f"{key} is {have!r}, want {want!r}" for key, (have, want) in sorted(self.different.items())]
        return "; ".join(parts)


def _with_api(endpoint: str, work):
    api = client.connect_once(endpoint, TIMEOUT_S, OVS_SCHEMA, ovs_impl.OvsdbIdl)
    try:
        with client.translated(endpoint):
            return work(api)
    finally:
        client.close(api)


def chassis_read(endpoint: str = DEFAULT_OVS_DB) -> dict[str, str]:
    """The OVN-related external ids of the host's Open_vSwitch row."""
    ids = _with_api(endpoint, lambda api: api.db_get(OVS_SCHEMA, ".", "external_ids").execute(check_error=True))
    return {key: value for key, value in ids.items() if key in KEYS}


def chassis_check(endpoint: str = DEFAULT_OVS_DB, want: ChassisConfig | None = None) -> ChassisCheck:
    """What is missing (and, given `want`, what differs) for this host to be an OVN chassis."""
    current = chassis_read(endpoint)
    missing = tuple(key for key in REQUIRED if not current.get(key))
    different = {}
    if want is not None:
        for key, value in want.external_ids().items():
            if current.get(key) and current[key] != value:
                different[key] = (current[key], value)
        if "ovn-bridge-mappings" in want.external_ids() and "ovn-bridge-mappings" not in current:
            missing = (*missing, "ovn-bridge-mappings")
    return ChassisCheck(current, missing, different)


def chassis_configure(endpoint: str, config: ChassisConfig) -> ChassisCheck:
    """Set the external ids (other keys untouched); returns the check afterwards."""
    ids = config.external_ids()

    def write(api):
        # A plain transaction, like `ovs-vsctl --no-wait`: external ids need no vswitchd reload,
        # and the Open_vSwitch API's own transaction would wait for one.
        txn = transaction.Transaction(api, api.ovsdb_connection, TIMEOUT_S, check_error=True, log_errors=False)
        txn.add(api.db_set(OVS_SCHEMA, ".", ("external_ids", ids)))
        txn.commit()

    _with_api(endpoint, write)
    return chassis_check(endpoint, config)
