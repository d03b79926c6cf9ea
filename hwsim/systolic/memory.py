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
    state = PIPELINE_START
    for i in range(n):
        state = pipeline_step(state, load_cycles[i], compute_cycles[i], write_cycles[i - 1] if i > 0 else 0.0,
                              in_mode[i], out_slots, i > 0)
    return pipeline_finish(state, write_cycles[n - 1] if n > 0 else 0.0)


# (compute end of fold i-1, of fold i-2, write end of fold i-1, of fold i-2, when the DRAM channel is free)
PIPELINE_START = (0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True)
def pipeline_step(state, load, compute, previous_write, in_mode, out_slots, has_previous):
    """The pipeline after one more fold: its load (issued first), then the previous fold's write-back of
    ``previous_write`` cycles (when ``has_previous``), then its compute; ``state`` as :data:`PIPELINE_START`."""
    ce1, ce2, we1, we2, dram_free = state
    free_in = ce1 if in_mode else ce2  # the buffer (half) this load fills
    load_start = max(dram_free, free_in)
    load_end = load_start + load
    dram_free = load_end
    if has_previous:  # write-back of the previous fold, issued after this load
        we = max(dram_free, ce1) + previous_write
        dram_free = we
        we2, we1 = we1, we
    free_out = we2 if out_slots == 2 else we1  # the output half this fold writes into
    ce = max(max(ce1, load_start, free_out) + compute, load_end)  # computes as its data arrives
    return ce, ce1, we1, we2, dram_free


@njit(cache=True)
def pipeline_finish(state, last_write):
    """Cycle at which the layer ends: the last fold's write-back (``last_write`` cycles) after its compute."""
    ce1, ce2, we1, we2, dram_free = state
    return max(ce1, max(dram_free, ce1) + last_write)
