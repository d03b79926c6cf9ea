"""The double-buffered DRAM pipeline of a layer, at fold granularity.

Each SRAM is split into two halves.  While fold ``i`` computes from one half, the tiles of
fold ``i+1`` are loaded into the other; a half is free again once the fold that used it
has finished.  Output tiles are written back after their fold.  One DRAM channel serves
requests in program order: load(0), load(1), write(0), load(2), write(1), ...

In this order every request is also the earliest one ready, so the recurrence below is the
exact event schedule (``tests/test_memory_pipeline.py`` checks it against a SimPy model).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def pipeline_end(load_cycles, compute_cycles, write_cycles):
    """Cycle at which the last write-back ends, for per-fold load/compute/write durations."""
    n = load_cycles.shape[0]
    ce1 = 0.0  # compute end of fold i-1
    ce2 = 0.0  # compute end of fold i-2
    we1 = 0.0  # write end of fold i-1
    we2 = 0.0  # write end of fold i-2
    dram_free = 0.0
    for i in range(n):
        load_end = max(dram_free, ce2) + load_cycles[i]  # into the half fold i-2 released
        dram_free = load_end
        if i > 0:  # write-back of fold i-1, issued after load(i)
            we = max(dram_free, ce1) + write_cycles[i - 1]
            dram_free = we
            we2, we1 = we1, we
        ce = max(ce1, load_end, we2) + compute_cycles[i]  # output half of fold i-2 written out
        ce2, ce1 = ce1, ce
    last_write = max(dram_free, ce1) + (write_cycles[n - 1] if n > 0 else 0.0)
    return max(ce1, last_write)

