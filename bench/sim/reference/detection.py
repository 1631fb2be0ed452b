"""Overload detection: is a host over-utilised (CloudSim 3.0.3's four detectors).

`utilisation`: the host's requested MIPS now (uncapped) over its total MIPS. `history`: its
VMs' utilisation histories summed (each VM's share of the host's MIPS), the newest first,
zero-padded to HISTORY_LENGTH as CloudSim's PowerHostUtilizationHistory gives it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

HISTORY_LENGTH = 30  # PowerVm.HISTORY_LENGTH
MIN_HISTORY = 12  # "12 has been suggested as a safe value"
LR_LENGTH = 10  # samples the local regression fits
FALLBACK_THRESHOLD = 0.7  # the examples' runners fall back on THR 0.7


def count_nonzero_beginning(data: Sequence[float]) -> int:
    """The length up to the last non-zero value (MathUtil.countNonZeroBeginning)."""
    i = len(data) - 1
    while i >= 0 and data[i] == 0:
        i -= 1
    return i + 1


def median(data: Sequence[float]) -> float:
    ordered = sorted(data)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mad(data: Sequence[float]) -> float:
    m = median(data)
    return median([abs(m - x) for x in data])


def _java_round(x: float) -> int:
    return math.floor(x + 0.5)


def iqr(data: Sequence[float]) -> float:
    """MathUtil.iqr: quartiles at rounded ranks of the sorted data (padding included)."""
    ordered = sorted(data)
    n = len(ordered)
    q1 = _java_round(0.25 * (n + 1)) - 1
    q3 = _java_round(0.75 * (n + 1)) - 1
    return ordered[q3] - ordered[q1]


def thr(utilisation: float, history: Sequence[float], threshold: float = 0.8) -> bool:
    return utilisation > threshold


def iqr_over(utilisation: float, history: Sequence[float], safety: float = 1.5) -> bool:
    if count_nonzero_beginning(history) < MIN_HISTORY:
        return thr(utilisation, history, FALLBACK_THRESHOLD)
    return utilisation > 1 - safety * iqr(history)


def mad_over(utilisation: float, history: Sequence[float], safety: float = 2.5) -> bool:
    if count_nonzero_beginning(history) < MIN_HISTORY:
        return thr(utilisation, history, FALLBACK_THRESHOLD)
    return utilisation > 1 - safety * mad(history)


def lr_over(utilisation: float, history: Sequence[float], safety: float = 1.2, migration_steps: int = 1) -> bool:
    """Local regression: the last 10 history values (oldest first, padding zeros included:
    the history array is always 30 long, so CloudSim's length fallback never fires) fitted
    by least squares — CloudSim's tricube weights are never applied, its weighted fit only
    weighs when 40 % of the weights are zero and none is — and extrapolated `migration_steps`
    past the newest; over-utilised if 1.2 times the prediction reaches 100 %."""
    y = list(reversed(history[:LR_LENGTH]))
    n = len(y)
    if n < LR_LENGTH:
        return thr(utilisation, history, FALLBACK_THRESHOLD)
    xs = range(1, n + 1)
    mean_x = (n + 1) / 2
    mean_y = sum(y) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (v - mean_y) for x, v in zip(xs, y, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    predicted = intercept + slope * (n + migration_steps)
    return predicted * safety >= 1


Detector = Callable[[float, Sequence[float]], bool]

DETECTORS: dict[str, Detector] = {
    "THR-MMT 0.8": thr,
    "IQR-MMT 1.5": iqr_over,
    "MAD-MMT 2.5": mad_over,
    "LR-MMT 1.2": lr_over,
}
