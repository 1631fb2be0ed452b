"""PlanetLab traces and the README's reference results, read straight from the shared data.

The archives are read with `tarfile` in memory: nothing is written next to the data.
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

SAMPLES_PER_DAY = 288
PERCENT = 100.0
REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "NUBES_PLANETLAB_DATA"


def default_data_dir() -> Path:
    """$NUBES_PLANETLAB_DATA, else shared/data/planetlab beside the checkout (or beside the
    directory of worktrees it sits in)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    for parent in (REPO.parent, REPO.parent.parent):
        candidate = parent / "shared" / "data" / "planetlab"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "data" / "planetlab"


def available_days(data_dir: Path) -> list[str]:
    return sorted(p.name.removesuffix(".tar.gz") for p in data_dir.glob("*.tar.gz"))


def load_day(data_dir: Path, day: str, by_name: bool = False) -> list[list[int]]:
    """One list of 288 CPU percentages per VM, in the archive's order: the order CloudSim's
    `File.listFiles()` gave the reference runs (VM i gets trace i, and its type from i), as
    DVFS-only shows: it lands on CloudSim's energy to the 10 Wh in that order, 5 % off in
    file-name order (`by_name`)."""
    traces: list[tuple[str, list[int]]] = []
    with tarfile.open(data_dir / f"{day}.tar.gz", "r:gz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            values = [int(line) for line in handle.read().split()[:SAMPLES_PER_DAY]]
            if len(values) < SAMPLES_PER_DAY:
                values += [values[-1] if values else 0] * (SAMPLES_PER_DAY - len(values))
            traces.append((Path(member.name).name, values))
    if by_name:
        traces.sort()
    return [values for _, values in traces]


@dataclass(frozen=True)
class ReferencePolicy:
    name: str
    energy_kwh: float
    migrations: int
    slatah_pct: float
    pdm_pct: float
    slav_pct: float

    @property
    def esv(self) -> float:
        """energy (kWh) x SLAV (a fraction), as in Beloglazov & Buyya."""
        return self.energy_kwh * self.slav_pct / PERCENT


_ROW = re.compile(
    r"^\|\s*([^|]+?)\s*\|\s*([\d.,]+)\s*\|\s*([\d,]+)\s*\|\s*([\d.]+)\s*\|"
    r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*$"
)


def reference_policies(data_dir: Path) -> list[ReferencePolicy]:
    """The rows of the README's reference table."""
    text = (data_dir / "README.md").read_text()
    policies = []
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            name, energy, migrations, slatah, pdm, slav = match.groups()
            policies.append(
                ReferencePolicy(
                    name,
                    float(energy.replace(",", "")),
                    int(migrations.replace(",", "")),
                    float(slatah),
                    float(pdm),
                    float(slav),
                )
            )
    return policies


def best_reference(policies: list[ReferencePolicy]) -> ReferencePolicy:
    """Lowest ESV among the consolidating policies (DVFS-only migrates nothing: SLAV 0)."""
    consolidating = [p for p in policies if p.migrations > 0]
    return min(consolidating, key=lambda p: p.esv)


@dataclass(frozen=True)
class DayReference:
    """One row of the README's per-day table: a CloudSim 3.0.3 run of one policy on one day."""

    day: str
    policy: str
    energy_kwh: float
    migrations: int
    slatah_pct: float
    pdm_pct: float
    slav_pct: float
    shutdowns: int

    @property
    def esv(self) -> float:
        return self.energy_kwh * self.slav_pct / PERCENT


_DAY_ROW = re.compile(
    r"^\|\s*(\d{8})\s*\|\s*([^|]+?)\s*\|\s*([\d.,]+)\s*\|\s*([\d,]+)\s*\|\s*([\d.]+)\s*\|"
    r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d,]+)\s*\|\s*$"
)


def day_references(data_dir: Path) -> dict[tuple[str, str], DayReference]:
    """(day, policy) -> the README's per-day CloudSim result."""
    rows = {}
    for line in (data_dir / "README.md").read_text().splitlines():
        match = _DAY_ROW.match(line)
        if match:
            day, policy, energy, migrations, slatah, pdm, slav, shutdowns = match.groups()
            rows[(day, policy)] = DayReference(
                day,
                policy,
                float(energy.replace(",", "")),
                int(migrations.replace(",", "")),
                float(slatah),
                float(pdm),
                float(slav),
                int(shutdowns.replace(",", "")),
            )
    return rows
