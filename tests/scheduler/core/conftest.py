"""Builders for scheduler-core snapshots: small, explicit clusters named after what they show."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scheduler.core.model import HostPowerState, HostState, InstanceState

HOST_CPUS = 16
HOST_MHZ = 2000.0
HOST_MEMORY_MB = 65536


@pytest.fixture
def make_host() -> Callable[..., HostState]:
    def build(host_id: str, **fields) -> HostState:
        fields.setdefault("cluster", "c1")
        fields.setdefault("cpus", HOST_CPUS)
        fields.setdefault("mhz", HOST_MHZ)
        fields.setdefault("memory_mb", HOST_MEMORY_MB)
        fields.setdefault("state", HostPowerState.UP)
        return HostState(id=host_id, **fields)

    return build


@pytest.fixture
def make_instance() -> Callable[..., InstanceState]:
    def build(instance_id: str, host: str | None, demand: float = 1000.0, **fields) -> InstanceState:
        fields.setdefault("vcpus", 2)
        fields.setdefault("memory_mb", 4096)
        fields.setdefault("cpu_demand_mhz", (demand,) * 12)
        fields.setdefault("active_memory_mb", 0.0)
        return InstanceState(id=instance_id, host=host, **fields)

    return build
