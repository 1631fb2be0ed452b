"""IMC / EVC: the cluster CPU baseline as set logic over CPU feature sets.

The libvirt side (`baselineHypervisorCPU`, the hosts' CPU definitions) lives in the
hypervisor gateway; here a baseline is a model name plus the features it guarantees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CUSTOM_BASELINE = "custom"


@dataclass(frozen=True, slots=True)
class CpuModel:
    name: str
    features: frozenset[str]


@dataclass(frozen=True, slots=True)
class Compatibility:
    compatible: bool
    missing: frozenset[str]

    @property
    def reason(self) -> str:
        if self.compatible:
            return "host provides the baseline"
        return f"host lacks {', '.join(sorted(self.missing))}"


def common_features(host_features: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """The features every host has (the intersection); empty for no hosts."""
    sets = iter(host_features.values())
    first = next(sets, None)
    if first is None:
        return frozenset()
    common = set(first)
    for features in sets:
        common &= features
    return frozenset(common)


def pick_baseline(host_features: Mapping[str, frozenset[str]], known_models: Iterable[CpuModel] = ()) -> CpuModel:
    """The richest named model all hosts can provide, else the raw intersection.

    "Richest" is the model with the most features; ties go to the name, for a stable pick.
    """
    common = common_features(host_features)
    fitting = [m for m in known_models if m.features <= common]
    if fitting:
        return max(fitting, key=lambda m: (len(m.features), m.name))
    return CpuModel(CUSTOM_BASELINE, common)


def check_host(features: frozenset[str], baseline: CpuModel) -> Compatibility:
    """Can a host with these features provide the baseline (join the cluster, take migrations)?"""
    missing = baseline.features - features
    return Compatibility(not missing, frozenset(missing))


def hosts_blocking(host_features: Mapping[str, frozenset[str]], baseline: CpuModel) -> dict[str, frozenset[str]]:
    """Hosts that cannot provide a chosen baseline, with what each lacks."""
    blocking = {}
    for host_id, features in host_features.items():
        missing = baseline.features - features
        if missing:
            blocking[host_id] = frozenset(missing)
    return blocking
