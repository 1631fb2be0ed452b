"""Reads from the OVN Southbound database: what ovn-controller reports back."""

from __future__ import annotations

from dataclasses import dataclass

from network.ovn import client
from network.ovn.specs import Endpoint

SERVICE_MONITOR = "Service_Monitor"


@dataclass(frozen=True)
class ServiceMonitorState:
    """One load balancer member health-checked by ovn-controller."""

    ip: str
    port: int
    protocol: str
    logical_port: str
    status: str  # online | offline | error | "" (not probed yet)


def service_monitors(sb: Endpoint) -> list[ServiceMonitorState]:
    """Every Service_Monitor row (northd makes one per health-checked member)."""

    def fn(api):
        return [
            ServiceMonitorState(
                row.ip, row.port, (row.protocol or ["tcp"])[0], row.logical_port, (row.status or [""])[0]
            )
            for row in api.tables[SERVICE_MONITOR].rows.values()
        ]

    return client.sb_read(sb.address, sb.timeout, fn)


CHASSIS = "Chassis"


def chassis_names(sb: Endpoint) -> set[str]:
    """The names and hostnames of every chassis ovn-controller registered."""

    def fn(api):
        return {name for row in api.tables[CHASSIS].rows.values() for name in (row.name, row.hostname) if name}

    return client.sb_read(sb.address, sb.timeout, fn)
