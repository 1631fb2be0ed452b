"""The CloudSim 3.0.3 power examples' hosts and VMs, as the README gives them."""

from __future__ import annotations

import math

from scheduler.core.model import HostState, PowerCurve

HOST_CPUS = 2
HOST_MIPS = (1860.0, 2660.0)  # HP ProLiant ML110 G4, G5 (per core)
HOST_RAM_MB = 4096
HOST_POWER = (
    PowerCurve((86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117)),
    PowerCurve((93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135)),
)
HOST_BANDWIDTH_MBIT_S = 1000.0
VM_BANDWIDTH_MBIT_S = 100.0
MIGRATION_SHARE_OF_BANDWIDTH = 0.5
BITS_PER_BYTE = 8
MIGRATION_BANDWIDTH_MB_S = HOST_BANDWIDTH_MBIT_S * MIGRATION_SHARE_OF_BANDWIDTH / BITS_PER_BYTE
VM_MIPS = (2500.0, 2000.0, 1000.0, 500.0)
VM_RAM_MB = (870, 1740, 1740, 613)
VM_TYPES = len(VM_MIPS)
STEP_S = 300
DAY_S = 86_400
CLUSTER = "planetlab"


def make_hosts(count: int) -> list[HostState]:
    return [
        HostState(
            id=f"host-{i:04d}",
            cluster=CLUSTER,
            cpus=HOST_CPUS,
            mhz=HOST_MIPS[i % 2],
            memory_mb=HOST_RAM_MB,
            power_curve=HOST_POWER[i % 2],
        )
        for i in range(count)
    ]


def vm_type(index: int, count: int) -> int:
    return index // math.ceil(count / VM_TYPES)


def migration_time_s(ram_mb: float) -> float:
    return ram_mb / MIGRATION_BANDWIDTH_MB_S
