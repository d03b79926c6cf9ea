"""The numba cycle kernel: steps every fold of a layer schedule step by schedule step, then pipelines DRAM.

Model (on-chip quantities in units of 1/D bit, with D the smallest whole number that makes every port's rate a
whole number of units per cycle (:class:`Ports`): 2-bit operands and rates like 0.1 outputs per cycle stay
integral, so queue levels add up exactly):

* Schedule.  Each fold follows SCALE-Sim's skewed schedule: OS folds take
  ``T + R + C - 2`` steps, WS/IS folds ``2R + C + T - 2`` (R steps to load the stationary
  operand, then the stream, fill and drain).  Partial edge folds still pay the full R and C.
* Operand demand per step.  OS: row ``r`` needs an ifmap operand in steps ``r..r+T-1``,
  column ``c`` a filter operand in steps ``c..c+T-1``; PE ``(r, c)`` emits its output at step
  ``r + c + T - 1``.  WS: one row of weights per step for the first ``Sr`` steps, ifmap row
  ``r`` in steps ``R + r ..``, column ``c`` emits output ``m`` at ``2R - 1 + c + m``.  IS is WS
  with ifmap and filter swapped.  A fused operand carries ``pf`` values, so it is
  ``pf*a`` (ifmap) or ``pf*w`` (filter) bits; outputs are ``a`` bits after requantization on
  the last reduction fold, accumulator-width partial sums before it.  Per-channel scales are
  read from the filter buffer when a fold that finishes its outputs starts (OS, WS) or with
  each streamed channel (IS).
* Buffers.  Each input buffer fills a small edge FIFO at its read bandwidth (capacity: one
  cycle of bandwidth plus the largest single-step demand of the layer's largest fold).
  Finished outputs enter the requantizer's queue, which passes at most
  ``requant_outputs_per_cycle`` outputs per cycle to the ofmap write port; partial sums enter a
  psum queue to the accumulators (their own port, or the ofmap port's spare bandwidth).  A step
  fires in the first cycle in which every input FIFO holds its demand and its output queue has
  room; other cycles are stalls.  Levels carry over from fold to fold, and the queues drain
  before the layer ends (then the requantizer's pipeline latency).
* Stalls in closed form.  While a step waits, queues only fill or drain at fixed rates, so the
  number of cycles it waits is found by a search over a closed form (:func:`_wait`), not by
  stepping each stalled cycle: a slow port, requantizer or DRAM costs no more time to simulate,
  and the count equals stepping the clock (``tests/test_rate_independence.py``).
* Folds with the same shape entered with the same FIFO levels behave identically, so each
  distinct (shape, entry state) is stepped once and reused: exact, and fast.
* DRAM.  What each fold loads and writes comes from :func:`hwsim.systolic.dram.fold_traffic`
  (the one place DRAM bits are counted); the per-fold loads, compute times and write-backs go
  through the double-buffered pipeline of :mod:`hwsim.systolic.memory`.

The kernel takes four records (:class:`Geometry`, :class:`OperandBits`, :class:`Ports` and the
plan's :class:`~hwsim.systolic.dram.Traffic`) and answers a :class:`KernelResult`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .dram import Traffic, fold_io, fold_order
from .memory import PIPELINE_START, pipeline_finish, pipeline_step

OS, WS, IS = 0, 1, 2
INF = math.inf


class Geometry(NamedTuple):
    """The layer mapped onto the (sub-)array the schedule uses."""

    dataflow: int  # OS, WS or IS
    rows: int  # the (sub-)array's rows and columns
    cols: int
    group_rows: int  # one group's spatial rows and columns of the GEMM (folded over the array)
    group_cols: int
    steps: int  # temporal steps per fold
    groups: int
    groups_per_fold: int  # > 1: that many groups packed block-diagonally into one fold


class OperandBits(NamedTuple):
    """Size of one operand as it moves, in units of 1/``Ports.units_per_bit`` bit (a fused operand carries the
    fusion factor's values)."""

    ifmap: int
    filter: int
    out: int  # a finished output after requantization (0: it stays on chip)
    acc: int  # a partial sum
    scale: int  # a per-channel scale


class Ports(NamedTuple):
    """What each port moves per cycle (``inf``: unlimited): the on-chip ports in units of 1/``units_per_bit`` bit,
    whole numbers when the config's rates are simple fractions (0.1 outputs per cycle), so that queue levels are
    exact and a fold entered with the same levels as an earlier one is recognised; DRAM in bits."""

    ifmap: float  # the buffers' read ports into the array
    filter: float
    ofmap: float  # the ofmap buffer's write port
    psum: float  # the accumulators' port (< 0: partial sums share the ofmap write port)
    requant_bits: float  # what the requantizer passes: its outputs per cycle x an output's bits (in units)
    requant_latency: float  # cycles its pipeline takes to empty
    dram: float  # bits per cycle (DRAM traffic is counted in bits)
    units_per_bit: int  # D: the on-chip quantities' unit is 1/D bit


class KernelResult(NamedTuple):
    """Cycles, where they went, and the bits each buffer delivered, of one schedule."""

    total: float
    compute: float
    onchip_stall: float
    dram_stall: float
    sram_ifmap: float  # bits (not units) read from / written to each buffer by the array
    sram_filter: float
    sram_ofmap: float
    mapping_efficiency: float  # mean fraction of the (sub-)array's PEs with real work, per fold
    compute_utilization: float  # the same, weighted by the steps they compute
    folds: int

_MEMO = 32  # distinct (fold shape, entry state) pairs remembered per layer


@njit(cache=True)
def _active(t, n, span):
    """How many of n skewed lanes (lane i busy at steps i..i+span-1) are busy at step t."""
    lo = t - span + 1
    if lo < 0:
        lo = 0
    hi = t if t < n - 1 else n - 1
    return hi - lo + 1 if hi >= lo else 0


@njit(cache=True)
def _antidiagonal(s, n_r, n_c):
    """How many (r, c) with r + c == s lie in an n_r x n_c block."""
    if s < 0 or s > n_r + n_c - 2:
        return 0
    lo = s - (n_c - 1)
    if lo < 0:
        lo = 0
    hi = s if s < n_r - 1 else n_r - 1
    return hi - lo + 1


@njit(cache=True)
def fold_period(T, R):
    """Cycles between the starts of neighbouring folds when they overlap fill and drain.

    A fold streams ``T`` reduction (OS) or stream (WS/IS) steps, and the next one cannot start
    before the ``R`` rows of each column moved through: OS drains ``R`` outputs down each column
    (one per cycle), WS/IS load ``R`` rows of the stationary operand.
    """
    return T if T > R else R


@njit(cache=True)
def _step_demand(df, t, R, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g):
    """Bits demanded from (ifmap, filter) and output bits produced at schedule step t of a fold.

    ``pg`` > 1: the fold packs ``pg`` groups block-diagonally (``sr_g`` x ``sc_g`` each); only
    the PEs on a group's own block hold real weights or produce real outputs.
    """
    if df == OS:
        d_if = _active(t, sr, T) * if_bits
        d_f = _active(t, sc, T) * f_bits
        if t == 0:
            d_f += sc * scale_bits
        if pg > 1:
            n_out = 0
            for g in range(pg):
                n_out += _antidiagonal(t - (T - 1) - g * (sr_g + sc_g), sr_g, sc_g)
        else:
            n_out = _antidiagonal(t - (T - 1), sr, sc)
    elif df == WS:
        d_f = (sc_g if pg > 1 else sc) * f_bits if t < sr else 0
        if final and t == 0:
            d_f += sc * scale_bits
        d_if = _active(t - R, sr, T) * if_bits
        n_out = _active(t - (2 * R - 1), sc, T)
    else:
        d_if = (sc_g if pg > 1 else sc) * if_bits if t < sr else 0
        d_f = _active(t - R, sr, T) * f_bits
        if final and t >= R and t < R + T:
            d_f += scale_bits
        n_out = _active(t - (2 * R - 1), sc, T)
    return d_if, d_f, n_out * out_bits


@njit(cache=True)
def _cycle(level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):
    """One clock cycle: input FIFOs fill, the step fires if it can, then the output queues drain.

    Finished outputs go through the requantizer queue (at most ``rq_bits`` per cycle) to the
    ofmap write port (``bw_o`` bits per cycle); partial sums through the psum queue to the
    accumulators (``bw_p`` bits per cycle), or, when ``bw_p`` < 0, through what the ofmap
    write port has left.
    """
    level[0] = min(level[0] + bw[0], cap[0])
    level[1] = min(level[1] + bw[1], cap[1])
    q = 3 if final else 2
    fired = level[0] >= d_if and level[1] >= d_f and level[q] + d_o <= cap[q]
    if fired:
        level[0] -= d_if
        level[1] -= d_f
        level[q] += d_o
    x = min(level[3], rq_bits, bw_o)
    level[3] -= x
    level[2] = max(level[2] - ((bw_o - x) if bw_p < 0 else bw_p), 0.0)
    return fired


@njit(cache=True)
def _drained(n, l2, l3, bw_o, bw_p, rq_bits):
    """The (partial-sum, requantizer) queue levels after ``n`` cycles in which nothing enters them.

    The closed form of ``n`` drains of :func:`_cycle`: the requantizer passes ``min(rq_bits, bw_o)``
    bits a cycle until it is empty (``min(l3, n r)`` in all); partial sums leave at ``bw_p`` a
    cycle, or through what the ofmap port has left (``n bw_o`` minus what the requantizer used).
    Every drain is non-negative, so clamping the sum at zero equals clamping every cycle.
    """
    if n == 0:
        return l2, l3
    passed = 0.0
    if l3 > 0:
        passed = min(l3, n * min(rq_bits, bw_o))
    drain = (n * bw_o - passed) if bw_p < 0 else n * bw_p
    return max(l2 - drain, 0.0), l3 - passed


@njit(cache=True)
def _filled(lvl, rate, cap, n):
    """An input FIFO's level after ``n`` cycles of filling at ``rate`` (capped at ``cap``)."""
    return min(lvl + n * rate, cap) if n > 0 else lvl


@njit(cache=True)
def _idle(level, cap, bw, bw_o, bw_p, rq_bits, n):
    """Apply ``n`` cycles in which no step fires: the input FIFOs fill, the output queues drain."""
    if n > 0:
        level[0] = _filled(level[0], bw[0], cap[0], n)
        level[1] = _filled(level[1], bw[1], cap[1], n)
        level[2], level[3] = _drained(n, level[2], level[3], bw_o, bw_p, rq_bits)


@njit(cache=True)
def _ready_after(n, level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):
    """Whether, after ``n`` idle cycles, the next cycle fires a step demanding (d_if, d_f, d_o);
    ``d_if < 0``: whether both output queues are empty after ``n`` cycles (the layer's tail).

    Computed with the same operations :func:`_idle` then :func:`_cycle` perform, so the answer is
    what stepping them would find."""
    l2, l3 = _drained(n, level[2], level[3], bw_o, bw_p, rq_bits)
    if d_if < 0:
        return l2 <= 0 and l3 <= 0
    f0 = _filled(level[0], bw[0], cap[0], n)
    f1 = _filled(level[1], bw[1], cap[1], n)
    if min(f0 + bw[0], cap[0]) < d_if or min(f1 + bw[1], cap[1]) < d_f:
        return False
    return (l3 + d_o <= cap[3]) if final else (l2 + d_o <= cap[2])


@njit(cache=True)
def _wait(level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):
    """Fewest idle cycles before :func:`_ready_after` holds: doubling, then bisection.

    Every condition is monotone in the number of idle cycles (FIFOs only fill, queues only
    drain), so the search is exact, and a slow port costs log(stall) work instead of a loop
    over every stalled cycle (issue 29: cost independent of rates).
    """
    if _ready_after(0, level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):
        return 0
    hi = 1
    while not _ready_after(hi, level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):
        hi *= 2
        if hi > 2 ** 62:
            raise ValueError("a step can never fire: a port's queue is smaller than one step's demand")
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _ready_after(mid, level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):
            hi = mid
        else:
            lo = mid
    return hi


@njit(cache=True)
def _fold_floor(d_if, d_f, d_o, final, bw_if, bw_f, bw_o, bw_p, rq_bits):
    """Fewest cycles a fold can take given the bits it moves through each port (per fold, so that where
    the time goes stays put when a port gets faster, and the layer's cycles can only fall)."""
    floor = 0.0
    if bw_if < INF:
        floor = max(floor, math.ceil(d_if / bw_if))
    if bw_f < INF:
        floor = max(floor, math.ceil(d_f / bw_f))
    if final:  # outputs leave through the requantizer and the ofmap write port
        if min(rq_bits, bw_o) < INF:
            floor = max(floor, math.ceil(d_o / min(rq_bits, bw_o)))
    elif bw_p < 0:  # partial sums through the ofmap write port
        if bw_o < INF:
            floor = max(floor, math.ceil(d_o / bw_o))
    elif bw_p < INF:
        floor = max(floor, math.ceil(d_o / bw_p))
    return floor


@njit(cache=True)
def _step_fold(df, R, C, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g, bw, cap, bw_o,
               bw_p, rq_bits, level, sram):
    """Run one fold step by step (a stalled step's cycles in closed form); updates the queue ``level`` and
    ``sram`` bit counters; returns (cycles, stalls)."""
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    cycles = 0
    stalls = 0
    for t in range(L):
        d_if, d_f, d_o = _step_demand(df, t, R, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits, pg, sr_g,
                                      sc_g)
        cycles += 1
        if not _cycle(level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):
            # stalled: the cycles until it fires in closed form, not one by one
            n = _wait(level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final)
            _idle(level, cap, bw, bw_o, bw_p, rq_bits, n)
            cycles += n + 1
            stalls += n + 1
            while not _cycle(level, cap, bw, bw_o, bw_p, rq_bits, d_if, d_f, d_o, final):  # never: _wait is exact
                cycles += 1
                stalls += 1
        sram[0] += d_if
        sram[1] += d_f
        sram[2] += d_o
    return cycles, stalls


@njit(cache=True)
def _max_demand(df, R, C, sr, sc, T, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g):
    """Largest single-step demand per port (ifmap, filter, output bits) of a finishing fold of size sr x sc."""
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    mx = np.zeros(3)
    for t in range(L):
        d = _step_demand(df, t, R, sr, sc, T, 1, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g)
        for p in range(3):
            mx[p] = max(mx[p], d[p])
    return mx


@njit(cache=True)
def _queues(df, R, C, sr_g, sc_g, T, gpf, if_bits, f_bits, out_bits, acc_bits, scale_bits, bw_if, bw_f, bw_o, bw_p,
            rq_bits):
    """(the input FIFOs' fill rates, the capacity of every queue): ifmap and filter edge FIFOs, partial sums,
    requantizer (finished outputs)."""
    pg_max = gpf if gpf > 1 else 1
    sr_max = min(sr_g * gpf, R)
    sc_max = min(sc_g * gpf, C)
    mx = _max_demand(df, R, C, sr_max, sc_max, T, if_bits, f_bits, acc_bits, scale_bits, pg_max, sr_g, sc_g)
    mx_out = _max_demand(df, R, C, sr_max, sc_max, T, if_bits, f_bits, out_bits, scale_bits, pg_max, sr_g, sc_g)
    bw = np.array([bw_if, bw_f])
    cap = np.array([bw_if + mx[0], bw_f + mx[1], (bw_o if bw_p < 0 else bw_p) + mx[2], min(bw_o, rq_bits) + mx_out[2]])
    return bw, cap


@njit(cache=True)
def _fold_sums(df, R, C, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g):
    """Bits one fold takes from (ifmap, filter) and puts out, over all its steps."""
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    s = np.zeros(3)
    for t in range(L):
        d = _step_demand(df, t, R, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g)
        for p in range(3):
            s[p] += d[p]
    return s


@njit(cache=True)
def _whole(x):
    """Whether ``x`` is a whole number that floats hold exactly (sums and differences of such stay exact)."""
    return x == math.floor(x) and abs(x) < 2.0 ** 53


@njit(cache=True)
def _queue_after(df, R, C, sr, sc, T, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g, bw, cap3, r, entry):
    """Least the requantizer's queue (capacity ``cap3``, passing at most ``r`` a cycle; whole numbers) can hold when a
    finishing fold of this shape ends, entered with at least ``entry``.

    From the first of the fold's last steps that never wait for an input (each input FIFO refills at least their
    demand every cycle; before them the queue may have drained): such a step waits only for room in the queue, so
    after a step that waited the queue holds more than ``cap3 - 2r``, and after one that did not, what it held plus
    the step's outputs less ``r``."""
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    t0 = L
    while t0 > 0:
        d = _step_demand(df, t0 - 1, R, sr, sc, T, 1, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g)
        if d[0] > bw[0] or d[1] > bw[1]:
            break
        t0 -= 1
    full = max(cap3 - 2 * r + 1, 0.0)  # more than cap3 - 2r, in whole numbers
    low = entry if t0 == 0 else 0.0
    for t in range(t0, L):
        e = _step_demand(df, t, R, sr, sc, T, 1, if_bits, f_bits, out_bits, scale_bits, pg, sr_g, sc_g)[2]
        low = max(low + e - r, 0.0)
        if e > 0:  # the step may have waited for room
            low = min(low, full)
    return low


@njit(cache=True)
def _queue_floor(df, R, C, T, kinds, n_kinds, last, first_end, if_bits, f_bits, out_bits, scale_bits, sr_g, sc_g, bw,
                 cap3, r):
    """Least the requantizer's queue can hold when the last fold (``kinds[last]``) ends.

    ``kinds``: (rows, columns, packed groups, finishing) of every kind of fold after the first, which left the queue
    at ``first_end``.  A level ``m`` no fold ends below: at most ``first_end``, and kept by every kind (a fold
    entered with ``m`` ends with at least ``m``: :func:`_queue_after`), the largest found by iterating from
    ``first_end``; the last fold is entered with at least that.  0 unless every quantity is a whole number (the
    kernel's sums are then exact) and every fold finishes its outputs."""
    if not (_whole(r) and _whole(cap3) and _whole(first_end)):
        return 0.0
    m = first_end
    for k in range(n_kinds):
        if kinds[k, 3] == 0:  # partial sums: the requantizer's queue may drain while they wait
            m = 0.0
    for _ in range(8):
        low = m
        for k in range(n_kinds):
            low = min(low, _queue_after(df, R, C, kinds[k, 0], kinds[k, 1], T, if_bits, f_bits, out_bits, scale_bits,
                                        kinds[k, 2], sr_g, sc_g, bw, cap3, r, m))
        if low == m:
            break
        m = low
    if low != m:  # no level every kind keeps found in 8 rounds: assume none
        m = 0.0
    return _queue_after(df, R, C, kinds[last, 0], kinds[last, 1], T, if_bits, f_bits, out_bits, scale_bits,
                        kinds[last, 2], sr_g, sc_g, bw, cap3, r, m)


@njit(cache=True)
def fold_floors(geometry: Geometry, bits: OperandBits, ports: Ports, overlap: bool):
    """Fewest cycles the kernel can count for the folds of this mapping under any loop order or block (timing
    hwsim): (a 2 x 2 x 2 array of a later fold's floor by kind (full or last group batch, row fold, column fold):
    its overlapped period and what its ports must move (:func:`_fold_floor`) when folds overlap, else its steps;
    the number of later folds of each kind; the first fold's cycles, stepped exactly (it is the same under every
    order); the cycles after the last fold: the queues drained from the least they can hold
    (:func:`_queue_floor`; the last fold is (last row, last column) of the last group batch under every order),
    then the requantizer's latency).  Each equals what the kernel counts for that part or less."""
    df, R, C, sr_g, sc_g, T, groups, gpf = geometry
    if_bits, f_bits, out_bits, acc_bits, scale_bits = bits
    bw_if, bw_f, bw_o, bw_p, rq_bits, requant_latency, dram_bpc, units = ports
    nr = 1 if gpf > 1 else (sr_g + R - 1) // R
    nc = 1 if gpf > 1 else (sc_g + C - 1) // C
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    t_eff = fold_period(T, R)
    bw, cap = _queues(df, R, C, sr_g, sc_g, T, gpf, if_bits, f_bits, out_bits, acc_bits, scale_bits, bw_if, bw_f,
                      bw_o, bw_p, rq_bits)
    level = np.array([cap[0], cap[1], 0.0, 0.0])
    sram = np.zeros(3)
    floors = np.zeros((2, 2, 2))
    counts = np.zeros((2, 2, 2))
    first_cycles = 0.0
    first = True
    kinds = np.zeros((8, 4), dtype=np.int64)  # (rows, columns, packed groups, finishing) of the later folds' kinds
    n_kinds = 0
    # Each kind's floor is computed once; the first kind met is the first fold's (the order starts at fold (0, 0)).
    for kb in range(2):
        g = gpf if kb == 0 else groups % gpf
        n_b = groups // gpf if kb == 0 else (1 if groups % gpf else 0)
        pg = g if gpf > 1 else 1
        for ki in range(2):
            n_i = (nr - 1 if ki == 0 else 1) if gpf == 1 else (0 if ki == 0 else 1)
            sr = g * sr_g if gpf > 1 else (R if ki == 0 else sr_g - (nr - 1) * R)
            final = 1 if (df == OS or ki == 1) else 0
            o_bits = out_bits if final else acc_bits
            for kj in range(2):
                n_j = (nc - 1 if kj == 0 else 1) if gpf == 1 else (0 if kj == 0 else 1)
                sc = g * sc_g if gpf > 1 else (C if kj == 0 else sc_g - (nc - 1) * C)
                count = n_b * n_i * n_j
                if count == 0:
                    continue
                if first:  # the first fold of every order: step it (overlapped: at least what its ports move)
                    cyc, stl = _step_fold(df, R, C, sr, sc, T, final, if_bits, f_bits, o_bits, scale_bits, pg,
                                          sr_g, sc_g, bw, cap, bw_o, bw_p, rq_bits, level, sram)
                    first_cycles = max(float(cyc), _fold_floor(sram[0], sram[1], sram[2], final, bw_if, bw_f, bw_o,
                                                               bw_p, rq_bits)) if overlap else float(cyc)
                    count -= 1
                    first = False
                if count == 0:
                    continue
                kinds[n_kinds, 0], kinds[n_kinds, 1], kinds[n_kinds, 2], kinds[n_kinds, 3] = sr, sc, pg, final
                n_kinds += 1
                counts[kb, ki, kj] = count
                if overlap:
                    d = _fold_sums(df, R, C, sr, sc, T, final, if_bits, f_bits, o_bits, scale_bits, pg, sr_g, sc_g)
                    floors[kb, ki, kj] = max(float(t_eff), _fold_floor(d[0], d[1], d[2], final, bw_if, bw_f, bw_o,
                                                                       bw_p, rq_bits))
                else:
                    floors[kb, ki, kj] = L
    if n_kinds > 0:  # the last fold, a later one, is the last kind met (kb, ki, kj all at their last)
        level[3] = _queue_floor(df, R, C, T, kinds, n_kinds, n_kinds - 1, level[3], if_bits, f_bits, out_bits,
                                scale_bits, sr_g, sc_g, bw, cap[3], min(rq_bits, bw_o))
        level[2] = 0.0
    end = _wait(level, cap, bw, bw_o, bw_p, rq_bits, -1.0, 0.0, 0.0, True) + requant_latency  # the queues drain
    return floors, counts, first_cycles, end


@njit(cache=True)
def schedule_floor(geometry: Geometry, bits: OperandBits, ports: Ports, overlap: bool) -> float:
    """Cycles no loop order or block of this mapping can beat (timing hwsim), DRAM aside: every fold at its floor
    (:func:`fold_floors`), so it never exceeds :func:`simulate_layer_kernel`'s total."""
    floors, counts, first, end = fold_floors(geometry, bits, ports, overlap)
    return floors_total(floors, counts, first, end, 0.0)


@njit(cache=True)
def floors_total(floors, counts, first: float, end: float, first_load: float) -> float:
    """The cycles of :func:`fold_floors`' answer: the first fold, every later fold at its kind's floor, the end;
    the first fold ends no earlier than its DRAM load (``first_load`` cycles: :func:`pipeline_end`)."""
    if counts.sum() == 0:  # the first fold is the last
        return max(first + end, first_load)
    return max(first, first_load) + (floors * counts).sum() + end


@njit(cache=True)
def plan_floor(geometry: Geometry, floors, first: float, end: float, df, ta, count_a, tb, count_b, rows_outer, block,
               modes, buffering, out_slots, dram_bpc: float, limit: float = INF, channel: float = 0.0) -> float:
    """Cycles no run of this mapping under one plan can beat: every fold at its floor (:func:`fold_floors`:
    ``floors``, ``first``, ``end``) through the DRAM pipeline, whose end never falls when a fold's cycles fall
    (:func:`pipeline_end`: sums and maxima), so it never exceeds the kernel's total.

    The plan: fold loop order ``rows_outer`` with blocks of ``block``, load ``modes`` (row, col, psum),
    ``buffering`` and ``out_slots`` (:class:`hwsim.systolic.dram.Plan`'s fields) over the group batches' tiles
    (``ta`` ``count_a`` times, then ``tb`` ``count_b`` times; :func:`hwsim.systolic.dram.tile_arrays`' tuples).
    Each fold's traffic is counted as it is reached (:func:`hwsim.systolic.dram.fold_io`), with no per-fold arrays:
    the search prices thousands of plans it never simulates.  With a ``limit`` and the plan's ``channel`` floor
    (:func:`hwsim.systolic.schedule_search._channel_floor`: its folds' fold operands and finished outputs over DRAM,
    each rounded up), it stops as soon as the DRAM channel's time so far plus what the channel floor leaves reaches
    the limit, and returns that (still a floor: the channel serves the rest after what it served)."""
    df_, R, C, sr_g, sc_g, T, groups, gpf = geometry
    n_gb = (groups + gpf - 1) // gpf
    nr = 1 if gpf > 1 else (sr_g + R - 1) // R
    nc = 1 if gpf > 1 else (sc_g + C - 1) // C
    n_folds = n_gb * nr * nc
    n_outer = nr if rows_outer else nc
    n_inner = nc if rows_outer else nr
    n_blk = (n_inner + block - 1) // block
    row_mode, col_mode, psum_mode = modes[0], modes[1], modes[2]
    state = PIPELINE_START
    total = 0.0
    previous = 0.0
    fold = 0
    left = channel  # the channel floor's part not yet served
    for gb in range(n_gb):
        last_batch = count_b > 0 and gb == n_gb - 1
        row, col, fold_row, fold_col, fold_scale, fold_total, out_row, out_col, psum = tb if last_batch else ta
        kb = 1 if (gpf > 1 and groups % gpf and gb == n_gb - 1) else 0
        for b in range(n_blk):
            q0 = b * block
            q1 = min(n_inner, q0 + block)
            for o in range(n_outer):
                for q in range(q0, q1):
                    i = o if rows_outer else q
                    j = q if rows_outer else o
                    c = first if fold == 0 else floors[kb, 1 if i == nr - 1 else 0, 1 if j == nc - 1 else 0]
                    if fold == n_folds - 1:
                        c += end
                    if dram_bpc == INF:
                        total += c
                    else:
                        load, write, mode, into_if, into_f, _ = fold_io(
                            df, nr, rows_outer, row_mode, col_mode, psum_mode, buffering[0], buffering[1],
                            buffering[2], i, b, o, q, q0, q1, row[i], col[j], fold_row[i], fold_col[j],
                            fold_scale[j], fold_total, out_row[i], out_col[j], psum[j])
                        state = pipeline_step(state, np.ceil(load / dram_bpc), c, previous, mode, out_slots, fold > 0)
                        previous = np.ceil(write / dram_bpc)
                        if limit < INF:
                            # this fold's share of the channel floor: its fold operand, its finished outputs
                            part = into_f if df == 1 else into_if if df == 2 else 0.0
                            left -= np.ceil(part / dram_bpc) + (previous if (df == 0 or i == nr - 1) else 0.0)
                            # the channel has served through dram_free (this fold's write-back is still to come)
                            if state[4] + previous + max(left, 0.0) >= limit:
                                return state[4] + previous + max(left, 0.0)
                    fold += 1
    if dram_bpc == INF:
        return total
    return pipeline_finish(state, previous)


@njit(cache=True, nogil=True)  # nogil: lookup tables simulate layers on several threads
def simulate_layer_kernel(geometry: Geometry, bits: OperandBits, ports: Ports, traffic: Traffic,
                          scalesim_count: bool, overlap: bool, reuse_folds: bool, stop_at: float = INF) -> KernelResult:
    """Simulate one layer on one schedule.

    ``traffic``: what each fold loads and writes (:func:`hwsim.systolic.dram.fold_traffic`, in the
    same fold order).  ``scalesim_count`` reports compute cycles as SCALE-Sim does (the index of
    the last cycle, one less than their number, per group: SCALE-Sim runs a grouped layer as one
    layer per group).  ``overlap``: neighbouring folds overlap fill and drain.  ``reuse_folds``
    reuses the result of an identical (shape, entry state) fold instead of stepping it again
    (exact; off only to measure or check the stepping itself).  ``stop_at``: the search's cut-off; as soon as the
    layer's cycles are sure to reach it (the folds so far through the DRAM pipeline, then every later fold at least
    its fold period and every later transfer its whole cycles) the kernel stops and answers that floor as ``total``
    (the other fields are then not the layer's).
    """
    df, R, C, sr_g, sc_g, T, groups, gpf = geometry
    if_bits, f_bits, out_bits, acc_bits, scale_bits = bits
    bw_if, bw_f, bw_o, bw_p, rq_bits, requant_latency, dram_bpc, units = ports
    rows_outer, block = traffic.rows_outer, traffic.block
    fold_load, fold_write, fold_mode = traffic.load, traffic.write, traffic.in_mode
    n_gb = (groups + gpf - 1) // gpf
    nr = 1 if gpf > 1 else (sr_g + R - 1) // R
    nc = 1 if gpf > 1 else (sc_g + C - 1) // C
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    t_eff = fold_period(T, R)  # steps a fold needs when its neighbours overlap its fill and drain

    bw, cap = _queues(df, R, C, sr_g, sc_g, T, gpf, if_bits, f_bits, out_bits, acc_bits, scale_bits, bw_if, bw_f,
                      bw_o, bw_p, rq_bits)
    level = np.array([cap[0], cap[1], 0.0, 0.0])
    sram = np.zeros(3)

    memo_key = np.zeros((_MEMO, 7))
    memo_val = np.zeros((_MEMO, 9))
    n_memo = 0

    n_folds = nr * nc * n_gb
    fold_cycles = np.zeros(n_folds)  # cycles each fold computes, on-chip stalls included
    onchip_stall = 0.0
    map_eff = 0.0
    compute_util = 0.0
    fold = 0
    order = fold_order(nr, nc, rows_outer, block)  # the same order as the traffic's
    finite = dram_bpc != INF
    later = float(t_eff if overlap else L)  # the least a fold after the first can take
    rest = np.zeros(n_folds + 1)  # DRAM cycles of the loads and write-backs of folds f, f + 1, ...
    if stop_at < INF and finite:
        for f in range(n_folds - 1, -1, -1):
            rest[f] = rest[f + 1] + np.ceil(fold_load[f] / dram_bpc) + np.ceil(fold_write[f] / dram_bpc)
    state = PIPELINE_START
    previous = 0.0
    tail = 0.0
    computed = 0.0  # cycles of the folds so far (no DRAM limit: the layer's end is their sum)

    for gb in range(n_gb):
        g = min(gpf, groups - gb * gpf)
        for f in range(nr * nc):
            i = order[f, 0]  # row fold
            j = order[f, 1]  # column fold
            sr = g * sr_g if gpf > 1 else min(R, sr_g - i * R)
            sc = g * sc_g if gpf > 1 else min(C, sc_g - j * C)
            final = 1 if (df == OS or i == nr - 1) else 0

            # ---- compute: step the fold, or reuse an identical one ----
            o_bits = out_bits if final else acc_bits
            s_if, s_f, s_o = sram[0], sram[1], sram[2]
            pg = g if gpf > 1 else 1
            hit = -1
            for k in range(n_memo if reuse_folds else 0):
                if (memo_key[k, 0] == sr and memo_key[k, 1] == sc and memo_key[k, 2] == final
                        and memo_key[k, 3] == level[0] and memo_key[k, 4] == level[1]
                        and memo_key[k, 5] == level[2] and memo_key[k, 6] == level[3]):
                    hit = k
                    break
            if hit >= 0:
                cyc = memo_val[hit, 0]
                stl = memo_val[hit, 1]
                for p in range(4):
                    level[p] = memo_val[hit, 2 + p]
                for p in range(3):
                    sram[p] += memo_val[hit, 6 + p]
            else:
                key = level.copy()
                before = sram.copy()
                cyc, stl = _step_fold(df, R, C, sr, sc, T, final, if_bits, f_bits, o_bits, scale_bits,
                                      pg, sr_g, sc_g, bw, cap, bw_o, bw_p, rq_bits, level, sram)
                slot = n_memo if n_memo < _MEMO else fold % _MEMO
                memo_key[slot, 0] = sr
                memo_key[slot, 1] = sc
                memo_key[slot, 2] = final
                for p in range(4):
                    memo_key[slot, 3 + p] = key[p]
                    memo_val[slot, 2 + p] = level[p]
                memo_val[slot, 0] = cyc
                memo_val[slot, 1] = stl
                for p in range(3):
                    memo_val[slot, 6 + p] = sram[p] - before[p]
                if n_memo < _MEMO:
                    n_memo += 1
            onchip_stall += stl
            used = pg * sr_g * sc_g if gpf > 1 else sr * sc  # PEs with real work in this fold
            map_eff += used / (R * C)
            compute_util += used * T / (R * C * L)

            fold_cycles[fold] = cyc - (L - t_eff) if (overlap and fold > 0) else cyc
            if overlap:  # an overlapped fold still cannot beat what its buffers and requantizer move
                floor = _fold_floor(sram[0] - s_if, sram[1] - s_f, sram[2] - s_o, final, bw_if, bw_f,
                                    bw_o, bw_p, rq_bits)
                if floor > fold_cycles[fold]:
                    onchip_stall += floor - fold_cycles[fold]
                    fold_cycles[fold] = floor
            if fold == n_folds - 1 and not scalesim_count:
                # The output queue drains before the layer ends, then the requantizer's pipeline empties.
                tail = float(_wait(level, cap, bw, bw_o, bw_p, rq_bits, -1.0, 0.0, 0.0, True))
                _idle(level, cap, bw, bw_o, bw_p, rq_bits, int(tail))
                tail += requant_latency
                fold_cycles[fold] += tail
                onchip_stall += tail
            if finite:  # the DRAM pipeline, fold by fold (pipeline_end's steps)
                state = pipeline_step(state, np.ceil(fold_load[fold] / dram_bpc), fold_cycles[fold], previous,
                                      fold_mode[fold], traffic.out_slots, fold > 0)
                previous = np.ceil(fold_write[fold] / dram_bpc)
            if stop_at < INF:
                left = n_folds - 1 - fold
                if finite:
                    floor = max(state[0] + left * later, state[4] + previous + rest[fold + 1])
                else:
                    computed += fold_cycles[fold]
                    floor = computed + left * later
                if math.floor(floor) >= stop_at:
                    return KernelResult(floor, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, n_folds)
            fold += 1

    if not finite:
        end = fold_cycles.sum()
    else:
        end = pipeline_finish(state, previous)
    busy = fold_cycles.sum()
    if overlap:
        compute = float(n_folds * t_eff + (L - t_eff))
    else:
        compute = float(n_folds * L - (n_gb if scalesim_count else 0))  # SCALE-Sim: one layer per group
    dram_stall = end - busy
    return KernelResult(compute + onchip_stall + dram_stall, compute, onchip_stall, dram_stall, sram[0] / units,
                        sram[1] / units, sram[2] / units, map_eff / n_folds, compute_util / n_folds, n_folds)
