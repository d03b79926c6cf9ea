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


def split(total: int, weights) -> np.ndarray:
    """``total`` split into integer parts proportional to ``weights`` that sum exactly to ``total``."""
    w = np.asarray(weights, dtype=np.int64)
    s = int(w.sum())
    base = (int(total) * w) // s
    rest = int(total) - int(base.sum())
    if rest:
        order = np.argsort(-((int(total) * w) % s), kind="stable")[:rest]
        base[order] += 1
    return base.astype(np.float64)


def fold_sizes(n: int, per_fold: int) -> np.ndarray:
    """How many of ``n`` items each fold of ``per_fold`` holds (the last one partial)."""
    full, last = divmod(n, per_fold)
    sizes = [per_fold] * full + ([last] if last else [])
    return np.asarray(sizes, dtype=np.int64)


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
        if self.df == WS:
            return self.fold_row[i] * self.fold_col[j] + (self.fold_scale[j] if i == len(self.row) - 1 else 0.0)
        if self.df == IS:
            return float(math.ceil(self.fold_row[i] * self.fold_col[j] / self.fold_total))
        return 0.0

    def out_tile(self, i: int, j: int) -> float:
        """Bits written back when fold (i, j) finishes its outputs."""
        return self.out_row[i] * self.out_col[j] if self.df == OS else self.out_col[j]


def build_tiles(df: int, g: int, m: int, k: int, n: int, k_eff: int, rows: int, cols: int, pf: int,
                wbits: int, abits: int, out_bits: int, acc_bits: int, scale_bits: int, ifmap_bits: int,
                packed: bool) -> Tiles:
    """The tiles of a group batch: ``g`` groups of an (m x k) x (k x n) GEMM, ``ifmap_bits`` of real input each.

    ``packed``: the ``g`` groups share one fold (block-diagonal), else each fold holds one group.
    """
    f_bits = k * n * wbits + n * scale_bits  # one group's weights and per-channel scales
    if packed:  # one fold: everything of the g groups
        one = np.ones(1)
        if df == OS:
            return Tiles(df, one * g * ifmap_bits, one * g * f_bits, one, one, one * 0, 0.0, one * g * m,
                         one * n * out_bits, one * 0)
        if df == WS:
            return Tiles(df, one * g * ifmap_bits, one * 0, one * g * k * wbits, one * n, one * g * n * scale_bits,
                         0.0, one, one * g * m * n * out_bits, one * g * m * n * acc_bits)
        return Tiles(df, one * g * f_bits, one * 0, one * g * ifmap_bits, one * m, one * 0, float(m), one,
                     one * g * m * n * out_bits, one * g * m * n * acc_bits)
    zeros = lambda x: np.zeros(len(x))
    if df == OS:
        m_i, n_j = fold_sizes(m, rows), fold_sizes(n, cols)
        return Tiles(df, split(ifmap_bits, m_i), n_j * (k * wbits + scale_bits) * 1.0, zeros(m_i), zeros(n_j),
                     zeros(n_j), 0.0, m_i * 1.0, n_j * out_bits * 1.0, zeros(n_j))
    rows_i = fold_sizes(k_eff, rows)
    k_i = np.minimum(np.cumsum(rows_i) * pf, k) - np.concatenate([[0], np.minimum(np.cumsum(rows_i)[:-1] * pf, k)])
    if df == WS:
        n_j = fold_sizes(n, cols)
        return Tiles(df, split(ifmap_bits, k_i), zeros(n_j), k_i * wbits * 1.0, n_j * 1.0, n_j * scale_bits * 1.0,
                     0.0, np.ones(len(k_i)), n_j * m * out_bits * 1.0, n_j * m * acc_bits * 1.0)
    m_j = fold_sizes(m, cols)
    f_i = k_i * n * wbits * 1.0
    f_i[-1] += n * scale_bits
    return Tiles(df, f_i, zeros(m_j), split(ifmap_bits, k_i), m_j * 1.0, zeros(m_j), float(m), np.ones(len(k_i)),
                 m_j * n * out_bits * 1.0, m_j * n * acc_bits * 1.0)


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


def _slots(half_bits: float, tile_bits: float) -> tuple[int, int]:
    """(tiles kept resident, buffering mode: 0 double, 1 single) in a buffer of 2 x ``half_bits``."""
    if tile_bits <= 0:
        return BIG, 0
    if tile_bits <= half_bits:
        return int(half_bits // tile_bits), 0
    return (1, 1) if tile_bits <= 2 * half_bits else (0, 1)


def _outer_mode(n: int, s: int) -> int:
    return ONCE if n <= s else PER_OUTER if s >= 1 else PER_FOLD


def batch_modes(t: Tiles, rows_outer: bool, k: int, s_row: int, s_col: int, s_o: int) -> tuple[int, int, int]:
    """(row mode, col mode, psum mode): how often each operand of a group batch is loaded in this order with
    blocks of ``k`` inner folds, given the tiles its buffer half keeps (``s_*``)."""
    nr, nc = len(t.row), len(t.out_col)
    if rows_outer:  # i outer; j inner in blocks of k
        row_mode = _outer_mode(nr, s_row)
        col_mode = PER_BLOCK if k <= s_col else PER_FOLD
    else:  # j outer; i inner in blocks of k
        row_mode = PER_BLOCK if k <= s_row else PER_FOLD
        col_mode = _outer_mode(nc, s_col)
    psum_mode = NO_PSUM
    if t.df != OS and nr > 1:
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
    row_buf = 0 if df != IS else 1  # IS: the row operand is the filter
    for fold in range(nr * nc):
        i, j, b, o, q, q0, q1 = order[fold, 0], order[fold, 1], order[fold, 2], order[fold, 3], order[fold, 4], \
            order[fold, 5], order[fold, 6]
        final = df == OS or i == nr - 1
        load = 0.0
        write = 0.0
        bmode = 0
        if _needs(rows_outer, row_mode, b, o, q, q0):
            load += row_t[i]
            loaded[row_buf] += row_t[i]
            bmode = max(bmode, mode_row)
        if df == OS:
            if _needs(not rows_outer, col_mode, b, o, q, q0):
                load += col_t[j]
                loaded[1] += col_t[j]
                bmode = max(bmode, mode_col)
            if final:
                write += out_row[i] * out_col[j]
        else:
            if df == WS:
                ft = fold_row[i] * fold_col[j] + (fold_scale[j] if i == nr - 1 else 0.0)
            else:
                ft = math.ceil(fold_row[i] * fold_col[j] / fold_total)
            load += ft
            loaded[1 if df == WS else 0] += ft
            bmode = max(bmode, mode_fold)
            if final:
                write += out_col[j]
            if nr > 1 and psum_mode == PSUM_PER_FOLD:
                if i > 0:
                    load += psum_t[j]
                    loaded[2] += psum_t[j]
                if not final:
                    write += psum_t[j]
            elif nr > 1 and psum_mode == PSUM_AT_BLOCKS:
                if q == q0 and b > 0:
                    load += psum_t[j]
                    loaded[2] += psum_t[j]
                if q == q1 - 1 and not final:
                    write += psum_t[j]
        load_t[fold] = load
        write_t[fold] = write
        mode_t[fold] = bmode
    return load_t, write_t, mode_t, loaded


@njit(cache=True)
def _plans_totals(df, row_t, col_t, fold_row, fold_col, fold_scale, fold_total, out_row, out_col, psum_t,
                  rows_outer, block, modes, mode_row, mode_col, mode_fold):
    """(read bits, write bits) of one group batch under each of several plans (``rows_outer``, ``block`` and
    ``modes`` (n x 3: row, col, psum) per plan): :func:`_batch_folds`'s totals, in one call."""
    out = np.zeros((len(block), 2))
    for p in range(len(block)):
        load, write, _, _ = _batch_folds(df, row_t, col_t, fold_row, fold_col, fold_scale, fold_total, out_row,
                                         out_col, psum_t, rows_outer[p], block[p], modes[p, 0], modes[p, 1],
                                         modes[p, 2], mode_row, mode_col, mode_fold)
        out[p, 0] = load.sum()
        out[p, 1] = write.sum()
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


def _folds_of(t: Tiles, rows_outer: bool, block: int, modes: tuple[int, int, int], buffering: tuple[int, int, int]):
    return _batch_folds(t.df, t.row, t.col, t.fold_row, t.fold_col, t.fold_scale, float(t.fold_total), t.out_row,
                        t.out_col, t.psum, bool(rows_outer), int(block), *(int(x) for x in modes),
                        *(int(x) for x in buffering))


def fold_traffic(batches: list[tuple[Tiles, int]], plan: Plan) -> Traffic:
    """The layer's traffic under ``plan``: each group batch's folds (``batches``: [(tiles, how many such
    batches)], run one after another), what each loads and writes."""
    parts = [(_folds_of(t, plan.rows_outer, plan.block, (plan.row_mode, plan.col_mode, plan.psum_mode),
                        (plan.mode_row, plan.mode_col, plan.mode_fold)), count) for t, count in batches]
    loaded = sum(p[3] * count for p, count in parts)
    return Traffic(bool(plan.rows_outer), int(plan.block), np.concatenate([np.tile(p[0], count) for p, count in parts]),
                   np.concatenate([np.tile(p[1], count) for p, count in parts]),
                   np.concatenate([np.tile(p[2], count) for p, count in parts]), int(plan.out_slots),
                   float(sum(p[0].sum() * count for p, count in parts)),
                   float(sum(p[1].sum() * count for p, count in parts)),
                   float(loaded[0]), float(loaded[1]), float(loaded[2]))


def slots(t: Tiles, half: tuple[float, float, float]) -> dict[str, tuple[int, int]]:
    """(slots, buffering mode) of the row, column, psum and fold operands, for tiles like ``t``."""
    row_buf, fold_buf = (0, 1) if t.df in (OS, WS) else (1, 0)
    none = (BIG, 0)
    return {"row": _slots(half[row_buf], float(t.row.max())),
            "col": _slots(half[1], float(t.col.max())) if t.df == OS else none,
            "psum": _slots(half[2], float(t.psum.max())) if t.df != OS and len(t.row) > 1 else none,
            "fold": _slots(half[fold_buf], t.fold_tile(0, 0)) if t.df != OS else none}


def plans(batches: list[tuple[Tiles, int]], half: tuple[float, float, float], family: str = "useful") -> list[Plan]:
    """Candidate plans (loop order x block size) with their traffic (:func:`fold_traffic`'s totals).

    ``family="useful"``: the block sizes where the traffic can change (1, the slot counts, all
    inner folds) -- enough to find the fewest bytes.  ``family="all"``: 1, 2, 4, ... and all inner
    folds, a set that does not depend on the buffer sizes (the cycle-searching mapper needs that:
    a bigger buffer then keeps every schedule a smaller one had).  ``half`` = half of the ifmap,
    filter and ofmap buffers in bits; slots are sized by the first (largest) batch's tiles.
    """
    t0 = batches[0][0]
    nr, nc = len(t0.row), len(t0.out_col)
    sl = slots(t0, half)
    s_row, s_col, s_o = sl["row"][0], sl["col"][0], sl["psum"][0]
    out_tile = float(t0.out_row.max() * t0.out_col.max()) if t0.df == OS else float(t0.out_col.max())
    out_slots = 1 if _slots(half[2], out_tile)[1] else 2
    buffering = (sl["row"][1], sl["col"][1], sl["fold"][1])
    candidates = []  # (rows_outer, block, modes) in the order the plans are listed
    for rows_outer in (True, False):
        n_in = nc if rows_outer else nr
        if family == "all":
            cands = {n_in} | {2 ** e for e in range(max(n_in, 1).bit_length()) if 2 ** e < n_in}
        else:
            cands = {1, n_in} | {s for s in (s_row, s_col, s_o) if 1 <= s < n_in}
        candidates += [(rows_outer, k, batch_modes(t0, rows_outer, k, s_row, s_col, s_o)) for k in sorted(cands)]
    orders = np.array([c[0] for c in candidates], dtype=np.bool_)
    blocks = np.array([c[1] for c in candidates], dtype=np.int64)
    modes = np.array([c[2] for c in candidates], dtype=np.int64).reshape(-1, 3)
    rd = np.zeros(len(candidates))
    wr = np.zeros(len(candidates))
    for t, count in batches:  # every plan's traffic, one compiled call per group batch
        totals = _plans_totals(t.df, t.row, t.col, t.fold_row, t.fold_col, t.fold_scale, float(t.fold_total),
                               t.out_row, t.out_col, t.psum, orders, blocks, modes, *(int(b) for b in buffering))
        rd, wr = rd + totals[:, 0] * count, wr + totals[:, 1] * count
    return [Plan(rows_outer, k, *m, *buffering, out_slots, float(r), float(w))
            for (rows_outer, k, m), r, w in zip(candidates, rd, wr)]


def plan_traffic(batches: list[tuple[Tiles, int]], half: tuple[float, float, float]) -> Plan:
    """The plan with the least DRAM traffic (ties: row folds outer, then the smaller block)."""
    best = None
    for plan in plans(batches, half):
        if best is None or plan.bits < best.bits:
            best = plan
    return best
