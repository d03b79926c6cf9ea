"""DRAM traffic of a layer: which tiles stay in their buffer, in which loop order, and what is re-streamed.

The folds of one group batch form an ``nr x nc`` grid (row folds i, column folds j).  Per dataflow
the operands are indexed as follows (the GEMM is M x K times K x N; ``pf`` values of K are fused
into one array row at reduced precision):

==========  =======================  ==========================  ===========================
dataflow    row operand (index i)    column / fold operand       partial sums
==========  =======================  ==========================  ===========================
os          ifmap rows A_i (M-block) filter columns B_j (N-block) none (K is temporal)
ws          ifmap X_i (K-block)      filter W_ij, one per fold   P_j (all M x N-block j)
is          filter F_i (K-block)     ifmap X_ij, one per fold    P_j (all N x M-block j)
==========  =======================  ==========================  ===========================

Each buffer is double-buffered: a tile stays resident across folds only in half its buffer,
which holds ``s = floor(half / largest tile)`` tiles (equal slots).  A tile larger than half its
buffer but not than the whole one takes the whole buffer (``s = 1``, single-buffered: a fold
that loads it cannot prefetch during the previous fold); a tile larger than the buffer streams
through it (``s = 0``, single-buffered too; see hwsim.systolic.memory).  The folds run in one of two loop
orders, tiled: ``for block of k inner folds: for outer fold: for inner fold in block``.  Then:

* an operand indexed by the *outer* loop is loaded once if all its tiles fit (``n <= s``), once
  per (block, outer fold) if one tile fits (``s >= 1``), else re-streamed for every fold;
* an operand indexed by the *inner* loop is loaded once per block if the block's ``k`` tiles fit
  (they stay while the outer loop runs), else for every fold;
* fold operands (WS weights, IS inputs) are loaded once each and outputs written once each, in
  every order;
* partial sums of a reduction over row folds stay in the ofmap buffer when the ones that must
  wait fit there; otherwise each is written out at accumulator width and read back (a *spill*)
  as often as the order forces.

:func:`fold_traffic` is the one place DRAM bits are counted: it walks the folds of a group batch in
the plan's order and says what each loads and writes.  Plans are ranked by its totals
(:func:`plans`), the cycle kernel pipelines its per-fold arrays, and results report its totals
(a test checks them against the closed forms of the rules above).  :func:`plan_traffic`
evaluates both orders over the useful block sizes and keeps the one that moves the fewest bits
(ties: row folds outer, then the smaller block).  Every size is an integer number of bits.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from numba import njit

OS, WS, IS = 0, 1, 2
# How a tile is (re)loaded: once for the whole layer, once per (block, outer fold), once per block
# (kept across the outer loop), or for every fold.
ONCE, PER_OUTER, PER_BLOCK, PER_FOLD = 0, 1, 2, 3
# Partial sums: none, kept on chip, spilled at block edges, spilled at every fold.
NO_PSUM, PSUM_KEPT, PSUM_AT_BLOCKS, PSUM_PER_FOLD = 0, 1, 2, 3
BIG = 1 << 40  # "unlimited" slots


@njit(cache=True)
def split(total, weights):
    """``total`` split into integer parts proportional to ``weights`` (int64) that sum exactly to ``total``."""
    s = weights.sum()
    base = (total * weights) // s
    rest = total - base.sum()
    if rest:
        order = np.argsort(-((total * weights) % s), kind="mergesort")[:rest]
        base[order] += 1
    return base.astype(np.float64)


@njit(cache=True)
def fold_sizes(n, per_fold):
    """How many of ``n`` items each fold of ``per_fold`` holds (the last one partial)."""
    full = n // per_fold
    last = n - full * per_fold
    out = np.full(full + (1 if last else 0), per_fold, dtype=np.int64)
    if last:
        out[full] = last
    return out


@dataclasses.dataclass(frozen=True)
class Tiles:
    """Bits of the tiles of one group batch of ``g`` groups, by fold index (float64 holding integers).

    ``row`` (nr) and ``col`` (nc): the row and column operands (``col`` is zero for WS/IS).  The
    fold operand of fold (i, j) is ``fold_tile(i, j)``; OS output tiles are ``out_row[i] *
    out_col[j]``, WS/IS outputs ``out_col[j]``; ``psum`` (nc) are WS/IS partial-sum tiles.
    """

    df: int
    row: np.ndarray
    col: np.ndarray
    fold_row: np.ndarray
    fold_col: np.ndarray
    fold_scale: np.ndarray  # WS: scales loaded with the last row fold's weights, per column fold
    fold_total: float  # IS: the ifmap's bits (fold tile = ceil(fold_row[i] * fold_col[j] / fold_total))
    out_row: np.ndarray
    out_col: np.ndarray
    psum: np.ndarray

    def fold_tile(self, i: int, j: int) -> float:
        """Bits of the WS weights / IS inputs of fold (i, j)."""
        return fold_tile_bits(self.df, len(self.row), i, self.fold_row[i], self.fold_col[j], self.fold_scale[j],
                              float(self.fold_total))


@njit(cache=True)
def fold_tile_bits(df, nr, i, fold_row_i, fold_col_j, fold_scale_j, fold_total):
    """Bits of the fold operand (WS weights and, on the last of ``nr`` row folds, scales; IS inputs) of fold (i, j),
    from the tiles' entries it reads (:class:`Tiles`); 0 for OS, which has none."""
    if df == WS:
        return fold_row_i * fold_col_j + (fold_scale_j if i == nr - 1 else 0.0)
    if df == IS:
        return float(math.ceil(fold_row_i * fold_col_j / fold_total))
    return 0.0


def build_tiles(df: int, g: int, m: int, k: int, n: int, k_eff: int, rows: int, cols: int, pf: int,
                wbits: int, abits: int, out_bits: int, acc_bits: int, scale_bits: int, ifmap_bits: int,
                packed: bool) -> Tiles:
    """The tiles of a group batch: ``g`` groups of an (m x k) x (k x n) GEMM, ``ifmap_bits`` of real input each.

    ``packed``: the ``g`` groups share one fold (block-diagonal), else each fold holds one group.
    """
    return Tiles(df, *tile_arrays(df, g, m, k, n, k_eff, rows, cols, pf, wbits, out_bits, acc_bits, scale_bits,
                                  ifmap_bits, packed))


@njit(cache=True)
def tile_arrays(df, g, m, k, n, k_eff, rows, cols, pf, wbits, out_bits, acc_bits, scale_bits, ifmap_bits, packed):
    """The fields of :class:`Tiles` after ``df`` (row, col, fold_row, fold_col, fold_scale, fold_total, out_row,
    out_col, psum) of a group batch (:func:`build_tiles`), compiled: the best-schedule search builds them for every
    candidate it simulates."""
    f_bits = k * n * wbits + n * scale_bits  # one group's weights and per-channel scales
    if packed:  # one fold: everything of the g groups
        one = np.ones(1)
        if df == OS:
            return (one * g * ifmap_bits, one * g * f_bits, one, one.copy(), one * 0, 0.0, one * g * m,
                    one * n * out_bits, one * 0)
        if df == WS:
            return (one * g * ifmap_bits, one * 0, one * g * k * wbits, one * n, one * g * n * scale_bits, 0.0,
                    one.copy(), one * g * m * n * out_bits, one * g * m * n * acc_bits)
        return (one * g * f_bits, one * 0, one * g * ifmap_bits, one * m, one * 0, float(m), one.copy(),
                one * g * m * n * out_bits, one * g * m * n * acc_bits)
    if df == OS:
        m_i, n_j = fold_sizes(m, rows), fold_sizes(n, cols)
        return (split(ifmap_bits, m_i), n_j * (k * wbits + scale_bits) * 1.0, np.zeros(len(m_i)),
                np.zeros(len(n_j)), np.zeros(len(n_j)), 0.0, m_i * 1.0, n_j * out_bits * 1.0, np.zeros(len(n_j)))
    rows_i = fold_sizes(k_eff, rows)
    ends = np.minimum(np.cumsum(rows_i) * pf, k)
    k_i = ends.copy()
    k_i[1:] -= ends[:-1]
    if df == WS:
        n_j = fold_sizes(n, cols)
        return (split(ifmap_bits, k_i), np.zeros(len(n_j)), k_i * wbits * 1.0, n_j * 1.0, n_j * scale_bits * 1.0,
                0.0, np.ones(len(k_i)), n_j * m * out_bits * 1.0, n_j * m * acc_bits * 1.0)
    m_j = fold_sizes(m, cols)
    f_i = k_i * n * wbits * 1.0
    f_i[-1] += n * scale_bits
    return (f_i, np.zeros(len(m_j)), split(ifmap_bits, k_i), m_j * 1.0, np.zeros(len(m_j)), float(m),
            np.ones(len(k_i)), m_j * n * out_bits * 1.0, m_j * n * acc_bits * 1.0)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The loop order, the block size and how each operand is loaded; DRAM bits of the whole layer
    (:func:`fold_traffic`'s totals)."""

    rows_outer: bool
    block: int
    row_mode: int
    col_mode: int
    psum_mode: int
    mode_row: int  # buffering of the row operand's tiles: 0 double, 1 single (the whole buffer or more)
    mode_col: int
    mode_fold: int
    out_slots: int  # 2 when an output tile fits half the ofmap buffer, else 1
    read_bits: float
    write_bits: float

    @property
    def bits(self) -> float:
        """DRAM bits read and written."""
        return self.read_bits + self.write_bits


@njit(cache=True)
def _slots(half_bits, tile_bits):
    """(tiles kept resident, buffering mode: 0 double, 1 single) in a buffer of 2 x ``half_bits``."""
    if tile_bits <= 0:
        return BIG, 0
    if tile_bits <= half_bits:
        return int(half_bits // tile_bits), 0
    return (1, 1) if tile_bits <= 2 * half_bits else (0, 1)


@njit(cache=True)
def _outer_mode(n: int, s: int) -> int:
    return ONCE if n <= s else PER_OUTER if s >= 1 else PER_FOLD


@njit(cache=True)
def batch_modes(df, nr, nc, rows_outer, k, s_row, s_col, s_o):
    """(row mode, col mode, psum mode): how often each operand of a group batch of ``nr`` x ``nc`` folds is loaded in
    this order with blocks of ``k`` inner folds, given the tiles its buffer half keeps (``s_*``)."""
    if rows_outer:  # i outer; j inner in blocks of k
        row_mode = _outer_mode(nr, s_row)
        col_mode = PER_BLOCK if k <= s_col else PER_FOLD
    else:  # j outer; i inner in blocks of k
        row_mode = PER_BLOCK if k <= s_row else PER_FOLD
        col_mode = _outer_mode(nc, s_col)
    psum_mode = NO_PSUM
    if df != OS and nr > 1:
        if rows_outer:
            psum_mode = PSUM_KEPT if k <= s_o else PSUM_PER_FOLD
        else:
            psum_mode = PSUM_PER_FOLD if s_o == 0 else PSUM_KEPT if nc <= s_o else PSUM_AT_BLOCKS
    return row_mode, col_mode, psum_mode


@njit(cache=True)
def _needs(outer_role, mode, b, o, q, q0):
    """Whether an operand tile is loaded at this fold."""
    if mode == PER_FOLD:
        return True
    if outer_role:  # indexed by the outer loop
        return (b == 0 and q == q0) if mode == ONCE else q == q0
    return o == 0  # indexed by the inner loop, kept while the outer loop runs over the block


@njit(cache=True)
def fold_order(nr, nc, rows_outer, block):
    """The folds of one group batch in run order, a row per fold: (row fold i, column fold j, block b, outer
    index o, inner index q, the block's first and past-last inner index q0, q1).  The loops are
    ``for block of `block` inner folds: for outer fold: for inner fold in the block``."""
    n_outer = nr if rows_outer else nc
    n_inner = nc if rows_outer else nr
    n_blk = (n_inner + block - 1) // block
    out = np.empty((nr * nc, 7), dtype=np.int64)
    f = 0
    for b in range(n_blk):
        q0 = b * block
        q1 = min(n_inner, q0 + block)
        for o in range(n_outer):
            for q in range(q0, q1):
                out[f, 0] = o if rows_outer else q
                out[f, 1] = q if rows_outer else o
                out[f, 2] = b
                out[f, 3] = o
                out[f, 4] = q
                out[f, 5] = q0
                out[f, 6] = q1
                f += 1
    return out


@njit(cache=True)
def fold_io(df, nr, rows_outer, row_mode, col_mode, psum_mode, mode_row, mode_col, mode_fold, i, b, o, q, q0, q1,
            row_i, col_j, fold_row_i, fold_col_j, fold_scale_j, fold_total, out_row_i, out_col_j, psum_j):
    """What fold (i, j) of a group batch of ``nr`` row folds loads and writes: (bits loaded, bits written, input
    buffering mode, bits loaded into the ifmap, filter and ofmap (partial sums) buffers).  The one place the
    loading rules become bits.

    The fold is ``fold_order``'s row (i, j, b, o, q, q0, q1): block b, outer index o, inner index q of the block's
    q0..q1-1; the tiles' entries it reads are passed as numbers (``row_i`` = ``Tiles.row[i]``, ``col_j`` =
    ``Tiles.col[j]``, ...), which keeps a per-fold call cheap in compiled loops."""
    into_if, into_f, into_p = 0.0, 0.0, 0.0
    final = df == OS or i == nr - 1
    load = 0.0
    write = 0.0
    bmode = 0
    if _needs(rows_outer, row_mode, b, o, q, q0):
        load += row_i
        if df == IS:  # the row operand is the filter
            into_f += row_i
        else:
            into_if += row_i
        bmode = max(bmode, mode_row)
    if df == OS:
        if _needs(not rows_outer, col_mode, b, o, q, q0):
            load += col_j
            into_f += col_j
            bmode = max(bmode, mode_col)
        if final:
            write += out_row_i * out_col_j
    else:
        ft = fold_tile_bits(df, nr, i, fold_row_i, fold_col_j, fold_scale_j, fold_total)
        if df == WS:
            into_f += ft
        else:
            into_if += ft
        load += ft
        bmode = max(bmode, mode_fold)
        if final:
            write += out_col_j
        if nr > 1 and psum_mode == PSUM_PER_FOLD:
            if i > 0:
                load += psum_j
                into_p += psum_j
            if not final:
                write += psum_j
        elif nr > 1 and psum_mode == PSUM_AT_BLOCKS:
            if q == q0 and b > 0:
                load += psum_j
                into_p += psum_j
            if q == q1 - 1 and not final:
                write += psum_j
    return load, write, bmode, into_if, into_f, into_p


@njit(cache=True)
def _batch_folds(df, row_t, col_t, fold_row, fold_col, fold_scale, fold_total, out_row, out_col, psum_t,
                 rows_outer, block, row_mode, col_mode, psum_mode, mode_row, mode_col, mode_fold):
    """Per fold of one group batch, in run order: bits loaded, bits written, input buffering mode; and the bits
    loaded into the ifmap, filter and ofmap (partial sums) buffers."""
    nr = len(row_t)
    nc = len(out_col)
    order = fold_order(nr, nc, rows_outer, block)
    load_t = np.zeros(nr * nc)
    write_t = np.zeros(nr * nc)
    mode_t = np.zeros(nr * nc, dtype=np.int8)
    loaded = np.zeros(3)
    for fold in range(nr * nc):
        i, j, b, o, q, q0, q1 = order[fold, 0], order[fold, 1], order[fold, 2], order[fold, 3], order[fold, 4], \
            order[fold, 5], order[fold, 6]
        load, write, bmode, into_if, into_f, into_p = fold_io(
            df, nr, rows_outer, row_mode, col_mode, psum_mode, mode_row, mode_col, mode_fold, i, b, o, q, q0, q1,
            row_t[i], col_t[j], fold_row[i], fold_col[j], fold_scale[j], fold_total, out_row[i], out_col[j], psum_t[j])
        load_t[fold] = load
        write_t[fold] = write
        mode_t[fold] = bmode
        loaded[0] += into_if
        loaded[1] += into_f
        loaded[2] += into_p
    return load_t, write_t, mode_t, loaded


@njit(cache=True)
def _plans_totals(df, row_t, col_t, fold_row, fold_col, fold_scale, fold_total, out_row, out_col, psum_t,
                  rows_outer, block, modes):
    """(read bits, write bits) of one group batch under each of several plans (``rows_outer``, ``block`` and
    ``modes`` (n x 3: row, col, psum) per plan), in closed form from the loading rules of the module docstring:
    the same numbers as summing :func:`_batch_folds` (whole numbers, so exact in any order; ``tests/test_accounting``
    checks both against an oracle), in O(1) per plan after one pass over the tiles."""
    nr, nc = len(row_t), len(out_col)
    fold_rd = 0.0  # fold operands, loaded once each in every order
    if df == WS:
        fold_rd = fold_row.sum() * fold_col.sum() + fold_scale.sum()
    elif df == IS:
        for i in range(nr):
            for j in range(nc):
                fold_rd += fold_tile_bits(df, nr, i, fold_row[i], fold_col[j], fold_scale[j], fold_total)
    out_wr = out_row.sum() * out_col.sum() if df == OS else out_col.sum()
    row_sum, col_sum, psum_sum = row_t.sum(), col_t.sum(), psum_t.sum()
    out = np.zeros((len(block), 2))
    for p in range(len(block)):
        row_mode, col_mode, psum_mode = modes[p, 0], modes[p, 1], modes[p, 2]
        nblk = ((nc if rows_outer[p] else nr) + block[p] - 1) // block[p]
        if rows_outer[p]:  # the row operand follows the outer loop, the column one the inner
            row_rd = row_sum * (1 if row_mode == ONCE else nblk if row_mode == PER_OUTER else nc)
            col_rd = col_sum * (1 if col_mode == PER_BLOCK else nr)
        else:
            row_rd = row_sum * (1 if row_mode == PER_BLOCK else nc)
            col_rd = col_sum * (1 if col_mode == ONCE else nblk if col_mode == PER_OUTER else nr)
        spills = nblk - 1 if psum_mode == PSUM_AT_BLOCKS else nr - 1 if psum_mode == PSUM_PER_FOLD else 0
        psum = spills * psum_sum  # each spill writes a tile out and reads it back
        out[p, 0] = row_rd + col_rd + fold_rd + psum
        out[p, 1] = out_wr + psum
    return out


class Traffic(NamedTuple):
    """A layer's DRAM traffic under one plan, fold by fold in run order (bits), and its totals."""

    rows_outer: bool  # the run order: row folds outer (else column folds), inner folds in blocks of ``block``
    block: int
    load: np.ndarray  # bits each fold loads
    write: np.ndarray  # bits each fold writes back
    in_mode: np.ndarray  # int8 per fold: its input tiles double- (0) or single-buffered (1)
    out_slots: int  # 2 when an output tile fits half the ofmap buffer, else 1
    read_bits: float
    write_bits: float
    ifmap_bits: float  # loaded into the ifmap buffer
    filter_bits: float  # loaded into the filter buffer (weights and scales)
    psum_bits: float  # partial sums read back into the ofmap buffer


def fold_traffic(batches: list[tuple[Tiles, int]], plan: Plan) -> Traffic:
    """The layer's traffic under ``plan``: each group batch's folds (``batches``: [(tiles, how many such
    batches)], one or two kinds, run one after another), what each loads and writes."""
    if len(batches) > 2:
        raise ValueError(f"{len(batches)} kinds of group batch; a layer has one or two")
    (ta, count_a), (tb, count_b) = batches[0], batches[1] if len(batches) == 2 else (batches[0][0], 0)
    return batch_traffic(ta.df, _fields(ta)[1:], count_a, _fields(tb)[1:], count_b, bool(plan.rows_outer),
                         int(plan.block), np.array([plan.row_mode, plan.col_mode, plan.psum_mode], dtype=np.int64),
                         (int(plan.mode_row), int(plan.mode_col), int(plan.mode_fold)), int(plan.out_slots))


@njit(cache=True)
def batch_traffic(df, ta, count_a, tb, count_b, rows_outer, block, modes, buffering, out_slots):
    """:func:`fold_traffic` compiled: the tiles ``ta`` of ``count_a`` group batches, then ``tb`` of ``count_b``
    (0: none), as :func:`tile_arrays`' tuples; ``modes`` (row, col, psum) and ``buffering`` as :class:`Plan`'s."""
    la, wa, ma, da = _batch_folds(df, ta[0], ta[1], ta[2], ta[3], ta[4], ta[5], ta[6], ta[7], ta[8], rows_outer,
                                  block, modes[0], modes[1], modes[2], buffering[0], buffering[1], buffering[2])
    n_a = len(la)
    n_b = 0
    if count_b > 0:
        lb, wb, mb, db = _batch_folds(df, tb[0], tb[1], tb[2], tb[3], tb[4], tb[5], tb[6], tb[7], tb[8], rows_outer,
                                      block, modes[0], modes[1], modes[2], buffering[0], buffering[1], buffering[2])
        n_b = len(lb)
    total = n_a * count_a + n_b * count_b
    load = np.empty(total)
    write = np.empty(total)
    mode = np.empty(total, dtype=np.int8)
    for c in range(count_a):
        load[c * n_a:(c + 1) * n_a] = la
        write[c * n_a:(c + 1) * n_a] = wa
        mode[c * n_a:(c + 1) * n_a] = ma
    read_bits = la.sum() * count_a
    write_bits = wa.sum() * count_a
    loaded = da * count_a
    if count_b > 0:
        base = n_a * count_a
        for c in range(count_b):
            load[base + c * n_b:base + (c + 1) * n_b] = lb
            write[base + c * n_b:base + (c + 1) * n_b] = wb
            mode[base + c * n_b:base + (c + 1) * n_b] = mb
        read_bits += lb.sum() * count_b
        write_bits += wb.sum() * count_b
        loaded = loaded + db * count_b
    return Traffic(rows_outer, block, load, write, mode, out_slots, read_bits, write_bits, loaded[0], loaded[1],
                   loaded[2])


@njit(cache=True)
def plan_table(df, row, col, fold_row, fold_col, fold_scale, fold_total, out_row, out_col, psum, half, family_all):
    """The candidate plans of a layer whose first group batch has these tiles (:class:`Tiles`' fields), in the
    order :func:`plans` lists them: (row folds outer per plan, block per plan, modes per plan (n x 3: row, col,
    psum), the buffering of the row, column and fold operands, output slots).  ``half``: half of the ifmap,
    filter and ofmap buffers in bits."""
    nr, nc = len(row), len(out_col)
    row_buf, fold_buf = (0, 1) if df != IS else (1, 0)
    s_row, mode_row = _slots(half[row_buf], row.max())
    s_col, mode_col = _slots(half[1], col.max()) if df == OS else (BIG, 0)
    s_o = _slots(half[2], psum.max())[0] if df != OS and nr > 1 else BIG
    mode_fold = 0
    if df != OS:
        mode_fold = _slots(half[fold_buf], fold_tile_bits(df, nr, 0, fold_row[0], fold_col[0], fold_scale[0],
                                                          fold_total))[1]
    out_tile = out_row.max() * out_col.max() if df == OS else out_col.max()
    out_slots = 1 if _slots(half[2], out_tile)[1] else 2
    n_max = 2 * (64 + 4)
    orders = np.zeros(n_max, dtype=np.bool_)
    blocks = np.zeros(n_max, dtype=np.int64)
    modes = np.zeros((n_max, 3), dtype=np.int64)
    n = 0
    for o in range(2):
        rows_outer = o == 0
        n_in = nc if rows_outer else nr
        cands = np.zeros(68, dtype=np.int64)
        c = 0
        if family_all:  # 1, 2, 4, ... below n_in, then n_in
            e = 1
            while e < n_in:
                cands[c] = e
                c += 1
                e *= 2
            cands[c] = n_in
            c += 1
        else:  # 1, the slot counts below n_in, n_in
            cands[0] = 1
            cands[1] = n_in
            cands[2], cands[3], cands[4] = s_row, s_col, s_o
            for x in range(2, 5):
                if not 1 <= cands[x] < n_in:
                    cands[x] = 1
            c = 5
        cands = np.unique(cands[:c])
        for k in cands:
            orders[n] = rows_outer
            blocks[n] = k
            modes[n, 0], modes[n, 1], modes[n, 2] = batch_modes(df, nr, nc, rows_outer, k, s_row, s_col, s_o)
            n += 1
    return orders[:n], blocks[:n], modes[:n], (mode_row, mode_col, mode_fold), out_slots


def plans(batches: list[tuple[Tiles, int]], half: tuple[float, float, float], family: str = "useful") -> list[Plan]:
    """Candidate plans (loop order x block size) with their traffic (:func:`fold_traffic`'s totals).

    ``family="useful"``: the block sizes where the traffic can change (1, the slot counts, all
    inner folds) -- enough to find the fewest bytes.  ``family="all"``: 1, 2, 4, ... and all inner
    folds, a set that does not depend on the buffer sizes (the cycle-searching mapper needs that:
    a bigger buffer then keeps every schedule a smaller one had).  ``half`` = half of the ifmap,
    filter and ofmap buffers in bits; slots are sized by the first (largest) batch's tiles.
    """
    t0 = batches[0][0]
    orders, blocks, modes, buffering, out_slots = plan_table(*_fields(t0), tuple(float(h) for h in half),
                                                             family == "all")
    rd = np.zeros(len(blocks))
    wr = np.zeros(len(blocks))
    for t, count in batches:  # every plan's traffic, one compiled call per group batch
        totals = _plans_totals(*_fields(t), orders, blocks, modes)
        rd, wr = rd + totals[:, 0] * count, wr + totals[:, 1] * count
    return [Plan(bool(o), int(k), *(int(x) for x in m), *(int(b) for b in buffering), int(out_slots), float(r),
                 float(w)) for o, k, m, r, w in zip(orders, blocks, modes, rd, wr)]


def _fields(t: Tiles) -> tuple:
    """The compiled functions' view of ``t``: its fields in order, the IS fold total as a float."""
    return (t.df, t.row, t.col, t.fold_row, t.fold_col, t.fold_scale, float(t.fold_total), t.out_row, t.out_col,
            t.psum)


def plan_traffic(batches: list[tuple[Tiles, int]], half: tuple[float, float, float]) -> Plan:
    """The plan with the least DRAM traffic (ties: row folds outer, then the smaller block)."""
    best = None
    for plan in plans(batches, half):
        if best is None or plan.bits < best.bits:
            best = plan
    return best
