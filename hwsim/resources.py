"""Resource limits checked before long work starts: a run that cannot finish is refused with its estimate."""

from __future__ import annotations

import os

from .errors import HwsimError

MAX_FOLDS = 10_000_000  # folds of one layer on a systolic array (about 1 s and 250 MiB of kernel state)
MAX_FOLD_STEPS = 100_000_000  # schedule steps of one fold (the reduction or stream length)
SECONDS_PER_FOLD = 7e-8  # measured on the development machine (a 10^5-cube GEMM: 2e7 folds in 1.4 s)


def available_memory_bytes() -> int:
    """Memory available to a new allocation (Linux MemAvailable; else the physical memory), in bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2 ** 30


def check_systolic_size(name: str, folds: int, fold_steps: int, array: str, tile_entries: int = 0) -> None:
    """Refuse a layer whose cycle simulation would not fit in memory or would take minutes.

    ``tile_entries``: row folds + column folds (the per-fold tile arrays of the DRAM plan).
    """
    need = 25 * folds + 80 * tile_entries  # per fold: load, write-back, compute (float64), a flag
    if folds <= MAX_FOLDS and need <= 2 ** 26 and fold_steps <= MAX_FOLD_STEPS:
        return  # under 64 MiB: no need to ask the system (this runs for every schedule tried)
    avail = available_memory_bytes()
    if folds > MAX_FOLDS or need > avail // 2 or fold_steps > MAX_FOLD_STEPS:
        raise HwsimError(
            f"layer {name}: {folds:,} folds of {fold_steps:,} steps on the {array} array would need about "
            f"{need / 2 ** 30:.1f} GiB and {folds * SECONDS_PER_FOLD:.0f} s; allowed: up to {MAX_FOLDS:,} folds "
            f"and {MAX_FOLD_STEPS:,} steps per fold, within half the {avail / 2 ** 30:.1f} GiB available "
            f"(shrink the layer or the batch, or use a larger array)")


def check_memory(what: str, need_bytes: float) -> None:
    """Refuse work whose estimated memory exceeds half of what is available (the estimate in the message)."""
    avail = available_memory_bytes()
    if need_bytes > avail // 2:
        raise HwsimError(f"{what} would need about {need_bytes / 2 ** 30:.1f} GiB; allowed: half the "
                         f"{avail / 2 ** 30:.1f} GiB available (use fewer calibration images or a smaller model)")
