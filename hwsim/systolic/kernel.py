"""The numba cycle kernel: steps every fold of a layer cycle by cycle, then pipelines DRAM.

Model (all quantities in bits so that 2-bit operands stay integral):

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
  cycle of bandwidth plus the largest single-step demand of the layer's largest fold, taken
  as a finishing fold with accumulator-wide outputs); outputs go into a FIFO
  drained at the ofmap write bandwidth and, for finished outputs, at most
  ``requant_outputs_per_cycle`` outputs per cycle.  A step fires in the first cycle in which
  every input FIFO holds its demand and the output FIFO has room; other cycles are stalls.
  FIFO levels carry over from fold to fold.
* Folds with the same shape entered with the same FIFO levels behave identically, so each
  distinct (shape, entry state) is stepped once and reused: exact, and fast.
* DRAM.  An operand that fits in half its SRAM is loaded once; otherwise a tile is reloaded
  whenever the fold's tile changes; partial sums spill when they do not fit half the ofmap
  SRAM.  The per-fold loads, compute times and write-backs then go through the
  double-buffered pipeline of :mod:`hwsim.systolic.memory`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .memory import pipeline_end

OS, WS, IS = 0, 1, 2
INF = math.inf

# Indices of the result vector returned by simulate_layer_kernel.
R_COMPUTE, R_ONCHIP_STALL, R_DRAM_STALL, R_TOTAL = 0, 1, 2, 3
R_SRAM_IF, R_SRAM_F, R_SRAM_O = 4, 5, 6
R_DRAM_RD, R_DRAM_WR = 7, 8
R_MAP_EFF, R_COMPUTE_UTIL, R_FOLDS = 9, 10, 11
N_RESULTS = 12

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
def _step_demand(df, t, R, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits):
    """Bits demanded from (ifmap, filter) and outputs produced at schedule step t of a fold."""
    if df == OS:
        d_if = _active(t, sr, T) * if_bits
        d_f = _active(t, sc, T) * f_bits
        if t == 0:
            d_f += sc * scale_bits
        n_out = _antidiagonal(t - (T - 1), sr, sc)
    elif df == WS:
        d_f = sc * f_bits if t < sr else 0
        if final and t == 0:
            d_f += sc * scale_bits
        d_if = _active(t - R, sr, T) * if_bits
        n_out = _active(t - (2 * R - 1), sc, T)
    else:
        d_if = sc * if_bits if t < sr else 0
        d_f = _active(t - R, sr, T) * f_bits
        if final and t >= R and t < R + T:
            d_f += scale_bits
        n_out = _active(t - (2 * R - 1), sc, T)
    return d_if, d_f, n_out * out_bits


@njit(cache=True)
def _step_fold(df, R, C, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits, bw, cap, drain, level, sram):
    """Run one fold cycle by cycle; updates FIFO ``level`` and ``sram`` bit counters; returns (cycles, stalls)."""
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    cycles = 0
    stalls = 0
    for t in range(L):
        d_if, d_f, d_o = _step_demand(df, t, R, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits)
        while True:
            cycles += 1
            level[0] = min(level[0] + bw[0], cap[0])
            level[1] = min(level[1] + bw[1], cap[1])
            fired = level[0] >= d_if and level[1] >= d_f and level[2] + d_o <= cap[2]
            if fired:
                level[0] -= d_if
                level[1] -= d_f
                level[2] += d_o
            level[2] = max(level[2] - drain, 0.0)
            if fired:
                break
            stalls += 1
        sram[0] += d_if
        sram[1] += d_f
        sram[2] += d_o
    return cycles, stalls


@njit(cache=True)
def _max_demand(df, R, C, sr, sc, T, if_bits, f_bits, out_bits, scale_bits):
    """Largest single-step demand per port (ifmap, filter, output bits) of a finishing fold of size sr x sc."""
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    mx = np.zeros(3)
    for t in range(L):
        d = _step_demand(df, t, R, sr, sc, T, 1, if_bits, f_bits, out_bits, scale_bits)
        for p in range(3):
            mx[p] = max(mx[p], d[p])
    return mx


@njit(cache=True, nogil=True)  # nogil: lookup tables simulate layers on several threads
def simulate_layer_kernel(df, R, C, sr_g, sc_g, T, groups, gpf,
                          if_bits, f_bits, out_bits, acc_bits, scale_bits,
                          bw_if, bw_f, bw_o, requant_rate,
                          ifmap_g_bits, filter_g_bits, out_g_bits,
                          half_sram_if, half_sram_f, dram_bpc, rows_outer, spill_psums, reuse_folds):
    """Simulate one layer; returns the result vector indexed by the R_* constants (cycles, bits).

    ``rows_outer`` selects the fold loop order (row folds outer, else column folds outer);
    ``spill_psums`` says partial sums of multi-fold reductions do not fit the ofmap SRAM;
    ``reuse_folds`` reuses the result of an identical (shape, entry state) fold instead of
    stepping it again (exact; off only to measure or check the stepping itself).
    """
    res = np.zeros(N_RESULTS)
    n_gb = (groups + gpf - 1) // gpf
    nr = 1 if gpf > 1 else (sr_g + R - 1) // R
    nc = 1 if gpf > 1 else (sc_g + C - 1) // C
    L = T + R + C - 2 if df == OS else 2 * R + C + T - 2
    red_folds = 1 if df == OS else nr  # folds that accumulate into the same outputs

    # Residency: an operand that fits in half its SRAM is fetched from DRAM only once.
    if_resident = groups * ifmap_g_bits <= half_sram_if
    f_resident = groups * filter_g_bits <= half_sram_f

    sr_max = min(sr_g * gpf, R)
    sc_max = min(sc_g * gpf, C)
    mx = _max_demand(df, R, C, sr_max, sc_max, T, if_bits, f_bits, max(out_bits, acc_bits), scale_bits)
    bw = np.array([bw_if, bw_f])
    cap = np.array([bw_if + mx[0], bw_f + mx[1], min(bw_o, requant_rate * max(out_bits, acc_bits)) + mx[2]])
    level = np.array([cap[0], cap[1], 0.0])
    sram = np.zeros(3)

    memo_key = np.zeros((_MEMO, 6))
    memo_val = np.zeros((_MEMO, 8))
    n_memo = 0

    cur_if = -1
    cur_f = -1
    max_if = -1
    max_f = -1
    n_folds = nr * nc * n_gb
    fold_load = np.zeros(n_folds)  # bits each fold loads from DRAM
    fold_write = np.zeros(n_folds)  # bits each fold writes back
    fold_cycles = np.zeros(n_folds)  # cycles each fold computes, on-chip stalls included
    fold = 0

    for gb in range(n_gb):
        g = min(gpf, groups - gb * gpf)
        for outer in range(nr if rows_outer else nc):
            for inner in range(nc if rows_outer else nr):
                i = outer if rows_outer else inner  # row fold
                j = inner if rows_outer else outer  # column fold
                sr = g * sr_g if gpf > 1 else min(R, sr_g - i * R)
                sc = g * sc_g if gpf > 1 else min(C, sc_g - j * C)
                final = 1 if (df == OS or i == nr - 1) else 0
                fr = sr / (g * sr_g)  # fraction of the group's rows in this fold
                fc = sc / (g * sc_g)

                # ---- tiles this fold needs from DRAM, and what it writes back (bits) ----
                if df == OS:
                    if_id, if_tile = gb * nr + i, g * ifmap_g_bits * fr
                    f_id, f_tile = gb * nc + j, g * filter_g_bits * fc
                    out_tile = g * out_g_bits * fr * fc
                    psum_tile = 0.0
                elif df == WS:
                    if_id, if_tile = gb * nr + i, g * ifmap_g_bits * fr
                    f_id, f_tile = fold, g * filter_g_bits * fr * fc
                    out_tile = g * out_g_bits * fc
                    psum_tile = T * sc * acc_bits
                else:
                    if_id, if_tile = fold, g * ifmap_g_bits * fr * fc
                    f_id, f_tile = gb * nr + i, g * filter_g_bits * fr
                    out_tile = g * out_g_bits * fc
                    psum_tile = T * sc * acc_bits
                load = 0.0
                if (if_resident and if_id > max_if) or (not if_resident and if_id != cur_if):
                    load += if_tile
                if (f_resident and f_id > max_f) or (not f_resident and f_id != cur_f):
                    load += f_tile
                cur_if, cur_f = if_id, f_id
                max_if, max_f = max(max_if, if_id), max(max_f, f_id)
                write = out_tile if final else 0.0
                if red_folds > 1 and spill_psums:
                    if i > 0:
                        load += psum_tile
                    if not final:
                        write += psum_tile
                res[R_DRAM_RD] += load
                res[R_DRAM_WR] += write

                # ---- compute: step the fold, or reuse an identical one ----
                o_bits = out_bits if final else acc_bits
                drain = min(bw_o, requant_rate * out_bits) if final else bw_o
                hit = -1
                for k in range(n_memo if reuse_folds else 0):
                    if (memo_key[k, 0] == sr and memo_key[k, 1] == sc and memo_key[k, 2] == final
                            and memo_key[k, 3] == level[0] and memo_key[k, 4] == level[1]
                            and memo_key[k, 5] == level[2]):
                        hit = k
                        break
                if hit >= 0:
                    cyc = memo_val[hit, 0]
                    stl = memo_val[hit, 1]
                    level[0] = memo_val[hit, 2]
                    level[1] = memo_val[hit, 3]
                    level[2] = memo_val[hit, 4]
                    sram[0] += memo_val[hit, 5]
                    sram[1] += memo_val[hit, 6]
                    sram[2] += memo_val[hit, 7]
                else:
                    key0, key1, key2 = level[0], level[1], level[2]
                    before = sram.copy()
                    cyc, stl = _step_fold(df, R, C, sr, sc, T, final, if_bits, f_bits, o_bits, scale_bits,
                                          bw, cap, drain, level, sram)
                    slot = n_memo if n_memo < _MEMO else fold % _MEMO
                    memo_key[slot, 0] = sr
                    memo_key[slot, 1] = sc
                    memo_key[slot, 2] = final
                    memo_key[slot, 3] = key0
                    memo_key[slot, 4] = key1
                    memo_key[slot, 5] = key2
                    memo_val[slot, 0] = cyc
                    memo_val[slot, 1] = stl
                    memo_val[slot, 2] = level[0]
                    memo_val[slot, 3] = level[1]
                    memo_val[slot, 4] = level[2]
                    memo_val[slot, 5] = sram[0] - before[0]
                    memo_val[slot, 6] = sram[1] - before[1]
                    memo_val[slot, 7] = sram[2] - before[2]
                    if n_memo < _MEMO:
                        n_memo += 1
                res[R_ONCHIP_STALL] += stl
                res[R_MAP_EFF] += sr * sc / (R * C)
                res[R_COMPUTE_UTIL] += sr * sc * T / (R * C * L)

                fold_load[fold] = load
                fold_write[fold] = write
                fold_cycles[fold] = cyc
                fold += 1

    if dram_bpc == INF:
        end = fold_cycles.sum()
    else:
        end = pipeline_end(np.ceil(fold_load / dram_bpc), fold_cycles, np.ceil(fold_write / dram_bpc))
    busy = fold_cycles.sum()
    res[R_COMPUTE] = n_folds * L - 1  # SCALE-Sim counts the index of the last cycle
    res[R_DRAM_STALL] = end - busy
    res[R_TOTAL] = res[R_COMPUTE] + res[R_ONCHIP_STALL] + res[R_DRAM_STALL]
    res[R_SRAM_IF] = sram[0]
    res[R_SRAM_F] = sram[1]
    res[R_SRAM_O] = sram[2]
    res[R_MAP_EFF] /= n_folds
    res[R_COMPUTE_UTIL] /= n_folds
    res[R_FOLDS] = n_folds
    return res
