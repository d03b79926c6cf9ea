"""The best-schedule search in compiled code: the loop of :func:`hwsim.systolic.simulate.best_schedule`.

Python ranks the (precision mode, sub-array) pairs of a layer once (:func:`~hwsim.systolic.simulate.best_schedule`);
:func:`search` then visits them in that order and, per pair, every chunking of the streamed dimension and every
loop order and block, with the same floors and the same acceptance rule as the Python search it replaced (the
golden set, ``tests/data/golden_sim.json.gz``, is the check): it builds the tiles, the plans and each plan's
per-fold traffic, bounds them, and runs the cycle kernel, all without returning to Python.  It answers which
candidate won (pair, chunking, and per chunk the loop order and block); Python then builds that one schedule's
full result.

A candidate is kept with fewer cycles than the best so far; within one (pair, chunk) also with as many cycles and
fewer DRAM bytes.  Floors skip only what could not be kept, so they change the work, never the answer.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from . import kernel as K
from .bounds import mapping_bound
from .dram import OS, WS, _plans_totals, batch_traffic, fold_tile_bits, plan_table, tile_arrays


class SearchConfig(NamedTuple):
    """What the search reads of a config at one output width (made once per search)."""

    bound_ports: tuple  # the positional tail of :func:`hwsim.systolic.bounds.mapping_bound`
    ports: K.Ports  # the kernel's ports (on-chip rates in units of 1/D bit)
    acc_bits: int
    scale_bits: int
    half: tuple  # half of the ifmap, filter and ofmap buffers, in bits
    dram: float  # DRAM bytes per cycle (inf: unlimited)
    overlap: bool
    reuse_folds: bool
    limits: tuple  # (folds, need, steps): a candidate above any is handed back to Python's size check
    floors: bool  # skip pairs and plans by their floors (False: simulate every plan the bounds leave; for checks)


# What the search hands back per chunk kind of the winner: the kernel's result, then its traffic's totals in bits
INFO = K.KernelResult._fields + ("read_bits", "write_bits", "ifmap_bits", "filter_bits", "psum_bits")


@njit(cache=True)
def _map(df, gm, gk, gn, groups, w, a, rows, cols):
    """(fusion, fused reduction, spatial rows, spatial columns, steps, groups per fold) of a GEMM in mode w x a on a
    rows x cols (sub-)array (:func:`hwsim.systolic.mapping.map_layer`, timing hwsim)."""
    pf = (8 // w) * (8 // a)
    k_eff = (gk + pf - 1) // pf
    if df == OS:
        sr, sc, t = gm, gn, k_eff
    elif df == WS:
        sr, sc, t = k_eff, gn, gm
    else:
        sr, sc, t = k_eff, gm, gn
    gpf = 1
    if groups > 1 and sr <= rows and sc <= cols:
        gpf = max(1, min(rows // sr, cols // sc, groups))
    return pf, k_eff, sr, sc, t, gpf


@njit(cache=True)
def _sizes(extent, limit):
    """Per dimension, the sizes ``s`` <= ``limit`` whose fold count (of ``extent``) differs from that of ``s - 1``:
    the smallest size giving each count, ascending (O(sqrt(extent)) of them, whatever the array size)."""
    out = np.empty(64, dtype=np.int64)
    n, s = 0, 1
    while s <= limit:
        if n == len(out):
            out = np.concatenate((out, np.empty(len(out), dtype=np.int64)))
        out[n] = s
        n += 1
        folds = (extent + s - 1) // s
        if folds == 1:
            break
        s = (extent + folds - 2) // (folds - 1)  # the smallest size with one fold fewer
    return out[:n]


@njit(cache=True, nogil=True)
def rank_pairs(cfg, df, gm, gk, gn, groups, ifmap_elems, out_bits, ofmap_on_chip, ifmap_on_chip, rows, cols, modes,
               pack_max_bits=62):
    """Every (precision mode, sub-array) pair worth trying, ranked: (w, a, rows, cols, bound) arrays in the order the
    search visits them.

    Sub-arrays ``r x c`` of the ``rows`` x ``cols`` array: per dimension the smallest size giving each fold count
    (:func:`_sizes`), and for grouped layers the smallest block holding ``p`` groups side by side for every ``p``
    that fits (a larger array only adds candidates, so its set includes every smaller array's).  A pair's bound:
    :func:`hwsim.systolic.bounds.mapping_bound`, or the layer's compulsory DRAM traffic in that mode over the
    bandwidth when larger (each input once unless on chip, every weight and scale once, every output once unless it
    stays on chip).  Order: by bound, then the larger sub-array, the faster mode, then (w, a, rows, cols)."""
    total = 0
    per_mode = []
    for m in range(len(modes)):
        w, a = modes[m, 0], modes[m, 1]
        pf, k_eff, sr, sc, t, gpf = _map(df, gm, gk, gn, 1, w, a, rows, cols)
        rs, cs = _sizes(sr, rows), _sizes(sc, cols)
        packable = min(rows // sr, cols // sc, groups) if groups > 1 else 1
        per_mode.append((rs, cs, sr, sc, packable))
        total += len(rs) * len(cs) + max(packable - 1, 0)
    out_w = np.empty(total, dtype=np.int64)
    out_a = np.empty(total, dtype=np.int64)
    out_r = np.empty(total, dtype=np.int64)
    out_c = np.empty(total, dtype=np.int64)
    out_pf = np.empty(total, dtype=np.int64)
    bound = np.empty(total)
    dram = cfg.dram
    n = 0
    for m in range(len(modes)):
        w, a = modes[m, 0], modes[m, 1]
        rs, cs, sr, sc, packable = per_mode[m]
        floor = 0.0
        if dram != np.inf:
            ifmap = 0 if ifmap_on_chip else groups * ifmap_elems * a
            weights = groups * gn * (gk * w + cfg.scale_bits)
            outputs = 0 if ofmap_on_chip else groups * gm * gn * out_bits
            floor = (ifmap + weights + outputs) / (8 * dram)
        start = n
        for r in rs:
            for c in cs:
                out_r[n], out_c[n] = r, c
                n += 1
        for q in range(2, packable + 1):
            r, c = q * sr, q * sc
            seen = False
            for x in rs:
                if x == r:
                    for y in cs:
                        seen = seen or y == c
            if not seen:
                out_r[n], out_c[n] = r, c
                n += 1
        for i in range(start, n):
            pf, k_eff, msr, msc, t, gpf = _map(df, gm, gk, gn, groups, w, a, out_r[i], out_c[i])
            out_w[i], out_a[i], out_pf[i] = w, a, pf
            bound[i] = max(_bound(cfg, df, out_r[i], out_c[i], msr, msc, t, groups, gpf, w, a, pf, out_bits), floor)
    out_w, out_a, out_r, out_c, out_pf, bound = out_w[:n], out_a[:n], out_r[:n], out_c[:n], out_pf[:n], bound[:n]
    area = out_r * out_c
    b_r, b_c, b_area = _bit_length(rows), _bit_length(cols), _bit_length(rows * cols)
    if b_area + 12 + b_r + b_c <= pack_max_bits:  # the ties' order as one integer key: one sort
        key = (rows * cols - area)
        for part, width in ((16 - out_pf, 4), (out_w, 4), (out_a, 4), (out_r, b_r), (out_c, b_c)):
            key = (key << width) | part
        idx = np.argsort(key)
    else:  # one stable sort per key, least significant first
        idx = np.arange(n)
        for part in (out_c, out_r, out_a, out_w, -out_pf, -area):
            idx = idx[np.argsort(part[idx], kind="mergesort")]
    idx = idx[np.argsort(bound[idx], kind="mergesort")]
    return out_w[idx], out_a[idx], out_r[idx], out_c[idx], bound[idx]


@njit(cache=True)
def _bit_length(x):
    n = 0
    while x > 0:
        n += 1
        x >>= 1
    return n


@njit(cache=True)
def _bound(cfg, df, rows, cols, sr, sc, t, groups, gpf, w, a, pf, out_bits):
    bp = cfg.bound_ports
    return mapping_bound(df, rows, cols, sr, sc, t, groups, gpf, w, a, pf, out_bits, bp[0], bp[1], bp[2], bp[3],
                         bp[4], bp[5], bp[6], bp[7], bp[8], bp[9])


@njit(cache=True)
def _edge_dram_cycles(df, first, last, dram):
    """(cycles of the first fold's DRAM load, of the last fold's write-back): the same under every plan."""
    if dram == np.inf:
        return 0.0, 0.0
    load = first[0][0] + (first[1][0] if df == OS else
                          fold_tile_bits(df, len(first[0]), 0, first[2][0], first[3][0], first[4][0], first[5]))
    i, j = len(last[0]) - 1, len(last[7]) - 1
    write = last[6][i] * last[7][j] if df == OS else last[7][j]
    return float(np.ceil(load / (dram * 8.0))), float(np.ceil(write / (dram * 8.0)))


@njit(cache=True)
def _channel_floor(df, t, bpc):
    """Cycles the DRAM channel is busy under every plan, at least: it serves one request after another, each a whole
    number of cycles, and every plan loads each fold's fold operand (WS weights, IS inputs) with that fold and
    writes each finished output tile after its fold, so the sum over folds of those alone, each rounded up,
    is a floor (:func:`hwsim.systolic.memory.pipeline_end` ends no earlier than its last write-back)."""
    row, fold_row, fold_col, fold_scale, fold_total, out_row, out_col = t[0], t[2], t[3], t[4], t[5], t[6], t[7]
    nr, nc = len(row), len(out_col)
    total = 0.0
    for i in range(nr):
        for j in range(nc):
            if df == OS:
                total += math.ceil(out_row[i] * out_col[j] / bpc)
                continue
            fold = fold_tile_bits(df, nr, i, fold_row[i], fold_col[j], fold_scale[j], fold_total)
            total += math.ceil(fold / bpc)
            if i == nr - 1:
                total += math.ceil(out_col[j] / bpc)
    return total


@njit(cache=True)
def _plan_order(bits, orders, blocks):
    """Plan indices by (DRAM bits, column folds outer, block): a total order."""
    idx = np.argsort(blocks, kind="mergesort")
    idx = idx[np.argsort(~orders[idx], kind="mergesort")]
    return idx[np.argsort(bits[idx], kind="mergesort")]


@njit(cache=True)
def _best_plan(cfg, df, gm, gk, gn, groups, rows, cols, w, a, out_bits, tile_out_bits, ifmap_g, weights_on_chip,
               bound, err, info):
    """The best loop order and block of one (sub-)layer in mode (w, a) on a rows x cols sub-array: (found, cycles,
    DRAM bytes, rows outer, block), its kernel result and traffic totals in ``info`` (:data:`INFO`); not found when
    nothing beats ``bound`` cycles (-1: no bound), or when the candidate is too large to simulate here (``err`` then
    holds its folds, steps and tile entries)."""
    none = (False, 0, 0, False, 0)
    pf, k_eff, sr, sc, t, gpf = _map(df, gm, gk, gn, groups, w, a, rows, cols)
    floor = _bound(cfg, df, rows, cols, sr, sc, t, groups, gpf, w, a, pf, out_bits)
    if bound >= 0 and floor >= bound:
        return none
    ports = cfg.ports
    d = ports.units_per_bit
    geometry = K.Geometry(df, rows, cols, sr, sc, t, groups, gpf)
    bits = K.OperandBits(pf * a * d, pf * w * d, out_bits * d, cfg.acc_bits * d, cfg.scale_bits * d)
    nr = 1 if gpf > 1 else (sr + rows - 1) // rows
    nc = 1 if gpf > 1 else (sc + cols - 1) // cols
    folds = ((groups + gpf - 1) // gpf) * nr * nc
    steps = t + rows + cols - 2 if df == OS else 2 * rows + cols + t - 2
    if folds > cfg.limits[0] or 25 * folds + 80 * (nr + nc) > cfg.limits[1] or steps > cfg.limits[2]:
        # too large to simulate here: refused unless its floor already rules it out (what the Python search did)
        floors, counts, first, end = K.fold_floors(geometry, bits, ports, cfg.overlap)
        if cfg.floors and bound >= 0 and K.floors_total(floors, counts, first, end, 0.0) >= bound:
            return none
        err[0], err[1], err[2], err[3] = 1, folds, steps, nr + nc
        return none
    wt = 0 if weights_on_chip else w
    st = 0 if weights_on_chip else cfg.scale_bits
    packed = gpf > 1  # a run-time bool: literal True / False arguments would compile tile_arrays once more
    if packed:
        ta = tile_arrays(df, gpf, gm, gk, gn, k_eff, rows, cols, pf, wt, tile_out_bits, cfg.acc_bits, st, ifmap_g, packed)
        count_a, count_b = groups // gpf, (1 if groups % gpf else 0)
        tb = tile_arrays(df, max(groups % gpf, 1), gm, gk, gn, k_eff, rows, cols, pf, wt, tile_out_bits, cfg.acc_bits,
                         st, ifmap_g, packed)
    else:
        ta = tile_arrays(df, gpf, gm, gk, gn, k_eff, rows, cols, pf, wt, tile_out_bits, cfg.acc_bits, st, ifmap_g,
                         packed)  # gpf = 1 here, passed as a run-time int (a literal 1 would compile it again)
        count_a, count_b = groups, 0
        tb = ta
    # every plan's DRAM bits (closed form, cheap): a pair none of whose plans can move its bits in time is skipped
    # before its folds are priced (the plan loop below would skip each plan for the same reason)
    orders, blocks, modes, buffering, out_slots = plan_table(df, ta[0], ta[1], ta[2], ta[3], ta[4], ta[5], ta[6],
                                                             ta[7], ta[8], cfg.half, True)
    totals = _plans_totals(df, ta[0], ta[1], ta[2], ta[3], ta[4], ta[5], ta[6], ta[7], ta[8], orders, blocks, modes)
    rd = np.zeros(len(blocks)) + totals[:, 0] * count_a
    wr = np.zeros(len(blocks)) + totals[:, 1] * count_a
    if count_b:
        totals = _plans_totals(df, tb[0], tb[1], tb[2], tb[3], tb[4], tb[5], tb[6], tb[7], tb[8], orders, blocks,
                               modes)
        rd = rd + totals[:, 0] * count_b
        wr = wr + totals[:, 1] * count_b
    dram = cfg.dram
    channel = 0.0
    if cfg.floors and bound >= 0 and dram != np.inf:
        if (rd + wr).min() / (8 * dram) >= bound:
            return none
        channel = _channel_floor(df, ta, ports.dram) * count_a
        if count_b:
            channel += _channel_floor(df, tb, ports.dram) * count_b
        if channel >= bound:
            return none
    err[5] += 1
    floors, counts, first, end = K.fold_floors(geometry, bits, ports, cfg.overlap)
    if cfg.floors and bound >= 0 and K.floors_total(floors, counts, first, end, 0.0) >= bound:
        return none
    if cfg.floors and bound >= 0:
        first_load, last_write = _edge_dram_cycles(df, ta, tb if count_b else ta, dram)
        if K.floors_total(floors, counts, first, end, first_load) + last_write >= bound:
            return none
    err[6] += 1
    plan_bits = rd + wr
    found = False
    best = 0
    has_limit = bound >= 0
    lim_c, lim_b = bound, -1  # a key to beat: fewer cycles than the bound, then the best plan's (cycles, bytes)
    for p in _plan_order(plan_bits, orders, blocks):
        if has_limit and (lim_c <= floor or lim_c <= channel or
                          (dram != np.inf and plan_bits[p] / (8 * dram) >= lim_c)):
            continue
        dram_bytes = math.ceil(rd[p] / 8) + math.ceil(wr[p] / 8)
        if has_limit and cfg.floors:
            err[7] += 1
            pfl = math.floor(K.plan_floor(geometry, floors, first, end, df, ta, count_a, tb, count_b, orders[p],
                                          blocks[p], modes[p], buffering, out_slots, ports.dram, float(lim_c),
                                          channel))
            if pfl > lim_c or (pfl == lim_c and dram_bytes >= lim_b):
                continue
        traffic = batch_traffic(df, ta, count_a, tb, count_b, orders[p], blocks[p], modes[p], buffering, out_slots)
        err[8] += 1
        # a run that is sure to reach the key to beat stops early (cycles >= lim_c + 1, or >= lim_c with as many bytes)
        stop_at = np.inf if not (has_limit and cfg.floors) else float(lim_c + 1 if dram_bytes < lim_b else lim_c)
        raw = K.simulate_layer_kernel(geometry, bits, ports, traffic, False, cfg.overlap, cfg.reuse_folds, stop_at)
        cyc = int(raw.total)
        if not has_limit or cyc < lim_c or (cyc == lim_c and dram_bytes < lim_b):
            found, best, has_limit, lim_c, lim_b = True, p, True, cyc, dram_bytes
            info[0], info[1], info[2], info[3], info[4] = raw.total, raw.compute, raw.onchip_stall, raw.dram_stall, \
                raw.sram_ifmap
            info[5], info[6], info[7], info[8], info[9] = raw.sram_filter, raw.sram_ofmap, raw.mapping_efficiency, \
                raw.compute_utilization, raw.folds
            info[10], info[11] = traffic.read_bits, traffic.write_bits
            info[12], info[13], info[14] = traffic.ifmap_bits, traffic.filter_bits, traffic.psum_bits
    if not found:
        return none
    return True, lim_c, lim_b, orders[best], blocks[best]


@njit(cache=True)
def chunk_variants(df, stream, n, keep):
    """The distinct chunks of the streamed dimension (``stream`` long) cut into ``n``: rows of (size, stationary
    operand resident, how many), most numerous first.  Chunks are equal but for a shorter last one; all but the
    first find the stationary operand on chip when ``keep`` (it fits half its buffer)."""
    size = (stream + n - 1) // n
    n_full, rem = stream // size, stream % size
    rows = np.zeros((3, 3), dtype=np.int64)
    k = 0
    if keep:
        rows[k] = (size, 0, 1)
        k += 1
        if n_full > 1:
            rows[k] = (size, 1, n_full - 1)
            k += 1
        if rem:
            rows[k] = (rem, 1, 1)
            k += 1
    else:
        rows[k] = (size, 0, n_full)
        k += 1
        if rem:
            rows[k] = (rem, 0, 1)
            k += 1
    rows = rows[:k]
    return rows[np.argsort(-rows[:, 2], kind="mergesort")]


@njit(cache=True, inline="always")  # inlined into search: one compiled library fewer (about 15 s of compile)
def _chunked(cfg, df, gm, gk, gn, groups, ifmap_elems, rows, cols, w, a, out_bits, tile_out_bits, ifmap_on_chip, n,
             bound, err, parts, infos):
    """The layer's streamed dimension in ``n`` chunks, each its best plan: (found, cycles, DRAM bytes, chunk
    kinds); ``parts`` gets one row per kind (size, resident, count, rows outer, block), ``infos`` its :data:`INFO`."""
    if n == 1:
        ifmap_g = 0 if ifmap_on_chip else ifmap_elems * a
        fixed = n < 0  # False, typed as a run-time bool like the chunks' (a literal would compile _best_plan twice)
        found, cyc, byt, ro, blk = _best_plan(cfg, df, gm, gk, gn, groups, rows, cols, w, a, out_bits, tile_out_bits,
                                              ifmap_g, fixed, bound, err, infos[0])
        parts[0, 0], parts[0, 1], parts[0, 2], parts[0, 3], parts[0, 4] = 0, 0, 1, ro, blk
        return found, cyc, byt, 1
    stream = gm if df == WS else gn
    real_ifmap = ifmap_elems * a
    full_filter = gk * gn * w + gn * cfg.scale_bits
    keep = groups * full_filter <= cfg.half[1] if df == WS else groups * real_ifmap <= cfg.half[0]
    kinds = chunk_variants(df, stream, n, keep)
    if bound >= 0:
        total = 0.0
        for v in range(len(kinds)):
            s = kinds[v, 0]
            sm, sn = (s, gn) if df == WS else (gm, s)
            pf, k_eff, sr, sc, t, gpf = _map(df, sm, gk, sn, groups, w, a, rows, cols)
            total += _bound(cfg, df, rows, cols, sr, sc, t, groups, gpf, w, a, pf, out_bits) * kinds[v, 2]
        if total >= bound:
            return False, 0, 0, 0
    spent, cycles, dram_bytes = 0, 0, 0
    for v in range(len(kinds)):
        s, resident, count = kinds[v, 0], kinds[v, 1], kinds[v, 2]
        budget = -1
        if bound >= 0:
            budget = math.ceil((bound - spent) / count)
            if budget <= 0:
                return False, 0, 0, 0
        if df == WS:  # a chunk of output pixels: its share of the input, all the weights
            ifmap = 0 if ifmap_on_chip else math.ceil(real_ifmap * s / stream)
            found, cyc, byt, ro, blk = _best_plan(cfg, df, s, gk, gn, groups, rows, cols, w, a, out_bits,
                                                  tile_out_bits, ifmap, resident == 1, budget, err, infos[v])
        else:  # a chunk of output channels: all the input, its share of the weights
            ifmap = 0 if (ifmap_on_chip or resident == 1) else real_ifmap
            found, cyc, byt, ro, blk = _best_plan(cfg, df, gm, gk, s, groups, rows, cols, w, a, out_bits,
                                                  tile_out_bits, ifmap, resident < 0, budget, err, infos[v])
        if not found:
            return False, 0, 0, 0
        parts[v, 0], parts[v, 1], parts[v, 2], parts[v, 3], parts[v, 4] = s, resident, count, ro, blk
        spent += cyc * count
        cycles += cyc * count
        dram_bytes += byt * count
    return True, cycles, dram_bytes, len(kinds)


@njit(cache=True, nogil=True)  # nogil: lookup tables search layers on several threads
def search(cfg, df, gm, gk, gn, groups, ifmap_elems, out_bits, ofmap_on_chip, ifmap_on_chip, pair_w, pair_a,
           pair_rows, pair_cols, pair_bound, chunkings, err):
    """The fewest-cycles schedule over the ranked (mode, sub-array) pairs and the chunkings: (found, cycles, DRAM
    bytes, pair index, chunking, chunk kinds, their rows (size, resident, count, rows outer, block), their kernel
    results and traffic (rows of :data:`INFO`)).

    ``ifmap_elems``: one group's distinct input elements; ``err[0]`` = 1 when a candidate was too large to simulate
    (the search then stops; see :func:`_best_plan`); ``err[4:9]`` count the work: pairs visited, pairs whose folds
    were priced, pairs whose plans were listed, plans priced by their floor, kernel runs."""
    tile_out_bits = 0 if ofmap_on_chip else out_bits
    found = False
    best_c, best_b, best_pair, best_n, best_k = 0, 0, -1, 0, 0
    best_parts = np.zeros((3, 5), dtype=np.int64)
    parts = np.zeros((3, 5), dtype=np.int64)
    best_infos = np.zeros((3, len(INFO)))
    infos = np.zeros((3, len(INFO)))
    for i in range(len(pair_w)):
        if found and pair_bound[i] >= best_c:
            break
        err[4] += 1
        for n in chunkings:
            ok, c, b, k = _chunked(cfg, df, gm, gk, gn, groups, ifmap_elems, pair_rows[i], pair_cols[i], pair_w[i],
                                   pair_a[i], out_bits, tile_out_bits, ifmap_on_chip, n, best_c if found else -1,
                                   err, parts, infos)
            if err[0]:
                return False, 0, 0, -1, 0, 0, best_parts, best_infos
            if ok and (not found or c < best_c or (c == best_c and b < best_b)):
                found, best_c, best_b, best_pair, best_n, best_k = True, c, b, i, n, k
                best_parts[:] = parts
                best_infos[:] = infos
    return found, best_c, best_b, best_pair, best_n, best_k, best_parts, best_infos
