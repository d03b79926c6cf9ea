"""Energy and area of memories: SRAM banks from a CACTI table at the config's technology node, DRAM by type.

SRAM.  A buffer is ``banks`` banks of ``size / banks`` bytes each, one 32-bit word per bank and access
(Bit Fusion's organisation).  A bank's area, read and write energy per access and leakage come from the
CACTI results shipped in ``hw_configs/energy/sram_<node>nm.yaml``: between two tabulated sizes they are
interpolated linearly in log-log space; beyond the table they follow the power law fitted (least squares,
log-log) to all its sizes, anchored at the nearest tabulated one.  Every tabulated figure rises with the
bank's size and so does the fit, so area, energy per access and leakage never fall as a buffer grows.
The arithmetic is Python's (``math``, ``math.fsum``), not numpy's: numpy's ``log`` and its LAPACK-based ``polyfit``
pick code by the CPU (AVX-512 or not) and moved the energies in their last digits from one machine to another.

DRAM.  Energy per bit moved, by memory type (``hw_configs/energy/dram.yaml``, each figure with its source
and whether it was verified).
"""

from __future__ import annotations

import bisect
import functools
import math
from typing import NamedTuple

import yaml

from .errors import ConfigError
from .shipped import CONFIG_DIR

ENERGY_DIR = CONFIG_DIR / "energy"
PORTS = ("1r1w", "1r1w1rw")  # exclusive read + write ports; the same plus a read-write port
_FIGURES = ("area_mm2", "read_pj", "write_pj", "leak_mw")


class BankFigures(NamedTuple):
    """One SRAM bank: area (mm2), energy of one word read and one word write (pJ), leakage (mW)."""

    area_mm2: float
    read_pj: float
    write_pj: float
    leak_mw: float


def sram_nodes() -> list[int]:
    """Technology nodes (nm) with a shipped SRAM table."""
    return sorted(int(p.stem.removeprefix("sram_").removesuffix("nm")) for p in ENERGY_DIR.glob("sram_*nm.yaml"))


@functools.lru_cache(maxsize=None)
def _table(node_nm: int) -> dict:
    path = ENERGY_DIR / f"sram_{node_nm}nm.yaml"
    if not path.exists():
        raise ConfigError(f"no SRAM table for {node_nm} nm; allowed technology_nm: "
                          + ", ".join(map(str, sram_nodes())))
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {"word_bits": int(doc["word_bits"])}
    for ports in PORTS:
        rows = sorted(doc["banks"][ports], key=lambda r: r["bytes"])
        log_size = [math.log(r["bytes"]) for r in rows]
        logs = {f: [math.log(r[f]) for r in rows] for f in _FIGURES}
        slopes = {f: _least_squares_slope(log_size, logs[f]) for f in _FIGURES}
        out[ports] = (log_size, logs, slopes)
    return out


def word_bits(node_nm: int) -> int:
    """Bits per bank access in the table of ``node_nm``."""
    return _table(node_nm)["word_bits"]


def fitted_exponents(node_nm: int, ports: str) -> dict[str, float]:
    """The power-law exponents (log-log least squares over the table) of each figure, used beyond the table."""
    return dict(_table(node_nm)[ports][2])


def _least_squares_slope(xs: list[float], ys: list[float]) -> float:
    """Slope of the least-squares line through (xs, ys), in exactly rounded sums (the same on every CPU)."""
    mx, my = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    return (math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys))
            / math.fsum((x - mx) * (x - mx) for x in xs))


def _figure(log_size: list[float], logs: list[float], slope: float, x: float) -> float:
    if x <= log_size[0]:
        return math.exp(logs[0] + slope * (x - log_size[0]))
    if x >= log_size[-1]:
        return math.exp(logs[-1] + slope * (x - log_size[-1]))
    j = bisect.bisect_right(log_size, x) - 1  # log_size[j] <= x < log_size[j + 1]
    if x == log_size[j]:
        return math.exp(logs[j])
    step = (logs[j + 1] - logs[j]) / (log_size[j + 1] - log_size[j])
    return math.exp(step * (x - log_size[j]) + logs[j])  # np.interp's formula, in Python's arithmetic


@functools.lru_cache(maxsize=4096)
def bank_figures(node_nm: int, ports: str, bank_bytes: float) -> BankFigures:
    """Area, per-access energies and leakage of one ``bank_bytes`` bank with ``ports`` at ``node_nm``."""
    if ports not in PORTS:
        raise ValueError(f"ports {ports!r}; allowed: {', '.join(PORTS)}")
    if not bank_bytes > 0:
        raise ValueError(f"bank of {bank_bytes} bytes: a bank holds more than 0 bytes")
    log_size, logs, slopes = _table(node_nm)[ports]
    x = math.log(bank_bytes)
    return BankFigures(*(_figure(log_size, logs[f], slopes[f], x) for f in _FIGURES))


@functools.lru_cache(maxsize=None)
def _dram_table() -> dict:
    return yaml.safe_load((ENERGY_DIR / "dram.yaml").read_text(encoding="utf-8"))


def dram_types() -> list[str]:
    """Memory types with a shipped energy per bit."""
    return sorted(_dram_table())


def dram_pj_per_bit(kind: str) -> float:
    """Energy per bit moved to or from DRAM of type ``kind`` (pJ)."""
    table = _dram_table()
    if kind not in table:
        raise ConfigError(f"DRAM type {kind!r} has no energy figure; allowed: {', '.join(sorted(table))}")
    return float(table[kind]["pj_per_bit"])


def dram_source(kind: str) -> dict:
    """{"pj_per_bit", "source", "status"} of DRAM type ``kind``."""
    dram_pj_per_bit(kind)
    return dict(_dram_table()[kind])
