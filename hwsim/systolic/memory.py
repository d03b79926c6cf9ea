"""The DRAM pipeline of a layer, at fold granularity.

Each buffer is split into two halves when the fold's tile fits in one half (double
buffering): while fold ``i`` computes from one half, the tiles of fold ``i+1`` are loaded into
the other, and a half is free again once the fold that used it has finished.  A tile larger
than half its buffer takes the whole buffer (``in_mode[i] = 1``, single): the load of such a
fold starts only once the previous fold has finished.  In both modes a fold computes as its data
arrives (the array consumes operands as they stream in): it starts once its load has started and
ends no earlier than its load.  So double buffering is never slower than single buffering.

Likewise for the output buffer: with two slots a fold may compute while the previous fold's
outputs are written back; with one it waits for that write-back.  One DRAM
channel serves requests in program order: load(0), load(1), write(0), load(2), write(1), ...

In this order every request is also the earliest one ready, so the recurrence below is the
exact event schedule (``tests/test_memory_pipeline.py`` checks it against a SimPy model).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def pipeline_end(load_cycles, compute_cycles, write_cycles, in_mode, out_slots=2):
    """Cycle at which the last write-back ends, for per-fold load/compute/write durations.

    ``in_mode[i]``: 0 double-buffered, 1 single (see the module docstring);
    ``out_slots`` (1 or 2): output buffer halves available to folds.
    """
    n = load_cycles.shape[0]
    ce1 = 0.0  # compute end of fold i-1
    ce2 = 0.0  # compute end of fold i-2
    we1 = 0.0  # write end of fold i-1
    we2 = 0.0  # write end of fold i-2
    dram_free = 0.0
    for i in range(n):
        free_in = ce1 if in_mode[i] else ce2  # the buffer (half) this load fills
        load_start = max(dram_free, free_in)
        load_end = load_start + load_cycles[i]
        dram_free = load_end
        if i > 0:  # write-back of fold i-1, issued after load(i)
            we = max(dram_free, ce1) + write_cycles[i - 1]
            dram_free = we
            we2, we1 = we1, we
        free_out = we2 if out_slots == 2 else we1  # the output half this fold writes into
        ce = max(max(ce1, load_start, free_out) + compute_cycles[i], load_end)  # computes as its data arrives
        ce2, ce1 = ce1, ce
    last_write = max(dram_free, ce1) + (write_cycles[n - 1] if n > 0 else 0.0)
    return max(ce1, last_write)
