"""SCALE-Sim's USER bandwidth mode: its trace-driven double-buffered SRAMs, replayed in numba.

In USER mode SCALE-Sim 3.0.0 does not compute stalls from a formula: it walks the array's per-cycle
demand (one row of addresses per operand per cycle) through three double-buffered scratchpads fed at
a fixed number of words per cycle, and the array stops whenever one of them is not ready.  This
module replays that accounting for one layer so that ``timing: scalesim`` with a USER ``.cfg`` gives
SCALE-Sim's cycle counts, without its per-cycle Python loop or its trace files.

The model, as SCALE-Sim runs it (read from its ``memory/`` and ``compute/`` packages and written out
here in our words; the README's *Exactness against SCALE-Sim* gives the checks):

* **Demand.**  The layer is cut into folds (OS: output pixels x filters; WS: window x filters;
  IS: window x output pixels), fold after fold with the array's column folds outermost; within a
  fold the streamed operands enter skewed by one cycle per row/column, the stationary one is loaded
  in reverse row order, and outputs leave skewed.  Partial windows at the input's edge and unused
  rows/columns of the last fold request nothing.
* **Read buffers (IFMAP, FILTER).**  Each holds a *prefetch order*: the operand's addresses as the
  folds use them (an anti-diagonal walk over the fold blocks for the skewed operands, row order for
  the stationary one), duplicates included, cut into sets of ``ceil(words / 100)`` addresses.  Half
  of the buffer (rounded up, in sets) is the active window; the other half is prefetched.  The first
  request fills the active window before cycle 0.  A request whose address is in no set of the
  window slides the window on by the prefetch half (wrapping round the order), which costs
  ``ceil(prefetch words / bandwidth) + 1`` cycles of DRAM time after the previous prefetch finished;
  the request's delay then moves to that finish time, with SCALE-Sim's double count of a positive
  stall (its open issue #130) reproduced on purpose.
* **Write buffer (OFMAP).**  Outputs fill the buffer; once less than the active half is free, the
  drain half is written out at the drain bandwidth in lines of that many words (a partial line is
  cut at each drain), and the array waits only when the buffer is full while a drain is running.
* A cycle's stall is the largest of the three operands' delays; "Total Cycles" is the cycle of the
  last output write, "incl. prefetch" runs from the first DRAM read of the initial fill to the end
  of the final drain.

This is SCALE-Sim's accounting, quirks included; ``timing: hwsim`` is where hwsim's own memory
model runs.  Custom SRAM layouts (``IfmapCustomLayout``) and Ramulator traces are not modelled.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ..layers import Layer

_DATAFLOW = {"os": 0, "ws": 1, "is": 2}


class UserModeCycles(NamedTuple):
    """SCALE-Sim's COMPUTE_REPORT numbers for one layer in USER mode."""

    total: int  # "Total Cycles": compute + stalls
    stalls: int  # "Stall Cycles"
    total_incl_prefetch: int  # "Total Cycles (incl. prefetch)": initial fill to final drain


def ifmap_addresses(layer: Layer) -> np.ndarray:
    """The im2col matrix of one group's input addresses (output pixel x window element; -1: past the edge).

    Addresses are SCALE-Sim's: row-major over (row, column, channel) of an unpadded input.
    """
    ch = layer.in_channels // layer.groups
    px = np.arange(layer.out_h * layer.out_w)
    win = np.arange(layer.kernel_h * layer.kernel_w * ch)
    orow, ocol = np.divmod(px, layer.out_w)
    top, left = orow * layer.stride, ocol * layer.stride
    frow, rest = np.divmod(win, layer.kernel_w * ch)
    fcol, fch = np.divmod(rest, ch)
    r = top[:, None] + frow[None, :]
    c = left[:, None] + fcol[None, :]
    addr = (r * layer.in_w + c) * ch + fch[None, :]
    return np.where((r < layer.in_h) & (c < layer.in_w), addr, -1).astype(np.int64)


def _blocks(mat: np.ndarray, size: int) -> np.ndarray:
    """Split ``mat``'s columns into blocks of ``size`` (the last padded with -1), stacked vertically."""
    rows, cols = mat.shape
    n = -(-cols // size)
    padded = np.full((rows, n * size), -1, dtype=np.int64)
    padded[:, :cols] = mat
    return padded.reshape(rows, n, size).transpose(1, 0, 2).reshape(n * rows, size)


def _anti_diagonal(mat: np.ndarray) -> np.ndarray:
    """``mat``'s elements by anti-diagonal (row + column), each diagonal from its bottom row up."""
    rows, cols = mat.shape
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    key = ((r + c) * rows + (rows - 1 - r)).ravel()
    return mat.ravel()[np.argsort(key, kind="stable")]


def prefetch_orders(layer: Layer, dataflow: str, rows: int, cols: int, ifm: np.ndarray):
    """(IFMAP order, FILTER order) of SCALE-Sim's read buffers, for one group.

    Orders hold dense addresses (input: as :func:`ifmap_addresses`; filter: ``filter * window + k``)
    with the -1 padding of partial folds kept: SCALE-Sim's initial fill counts it.
    """
    k = ifm.shape[1]
    filt = (np.arange(layer.gemm_n)[None, :] * k + np.arange(k)[:, None]).astype(np.int64)  # window x filters
    if dataflow == "os":
        i_mat = _anti_diagonal(_blocks(ifm.T, rows))
        f_mat = _anti_diagonal(_blocks(filt, cols))
    elif dataflow == "ws":
        i_mat = _anti_diagonal(_blocks(ifm, rows))
        f_mat = _blocks(filt, cols).ravel()
    else:
        i_mat = _blocks(ifm.T, cols).ravel()
        f_mat = _anti_diagonal(_blocks(filt.T, rows))
    return i_mat, f_mat


@njit(cache=True)
def _shift(count, order, eps, line, delta):
    lo = line * eps
    hi = min(lo + eps, order.shape[0])
    for j in range(lo, hi):
        count[order[j]] += delta


@njit(cache=True)
def _read_row(addrs, n, count, order, st, cycle):
    """Serve one cycle's requests to a read buffer; returns the delay past the hit latency (-2^60 if an
    address is in no set of the prefetch order).

    ``st``: [eps, lines, active lines, prefetch lines, window start, last prefetch end, cycles per prefetch].
    """
    offset = 1
    for j in range(n):
        a = addrs[j]
        if a < 0:
            continue
        slides = 0
        while count[a] == 0:
            eps, lines, act, pre = st[0], st[1], st[2], st[3]
            if pre == 0 or slides * pre > 2 * lines:
                return -(1 << 60)
            start = st[4]
            for q in range(pre):
                _shift(count, order, eps, (start + q) % lines, -1)
            for q in range(pre):
                _shift(count, order, eps, (start + act + q) % lines, 1)
            st[4] = (start + pre) % lines
            st[5] += st[6]
            pot = st[5] - (cycle + offset)
            offset += pot
            if pot > 0:
                offset += pot
            slides += 1
    return offset - 1


@njit(cache=True)
def _drain(wb, lines, start_cycle):
    """Write the drain half out from ``start_cycle``; returns the cycle the last line leaves.

    ``wb``: [total, active, drain size, bandwidth, free, drain end, partial line, lines, first undrained, dram stop].
    """
    per = -(-wb[2] // wb[3])
    first = wb[8]
    end = min(first + per, wb[7])
    n = end - first
    if n <= 0:
        return wb[5]
    wb[4] += (n - 1) * wb[3] + lines[end - 1]
    wb[8] = end
    stop = start_cycle + n - 1
    if stop > wb[9]:
        wb[9] = stop
    return stop


@njit(cache=True)
def _push_line(wb, lines, size):
    lines[wb[7]] = size  # the caller sizes ``lines`` for one line per output at most
    wb[7] += 1


@njit(cache=True)
def _write_row(valid, wb, lines, cycle):
    """Store one cycle's ``valid`` outputs in the write buffer; returns the cycle the row is stored."""
    cur = cycle
    for _ in range(valid):
        wb[6] += 1
        wb[4] -= 1
        if wb[6] == wb[3]:
            _push_line(wb, lines, wb[6])
            wb[6] = 0
        if cur < wb[5]:
            if wb[4] <= 0:
                cur = wb[5]
        elif wb[4] < wb[1]:
            if wb[6] != 0:
                _push_line(wb, lines, wb[6])
                wb[6] = 0
            wb[5] = _drain(wb, lines, cur)
    return cur


@njit(cache=True)
def _replay(df, R, C, npx, k, nf, ifm, i_order, f_order, i_count, f_count, i_st, f_st, wb, lines):
    """Walk every fold's demand through the three buffers; returns (total, stalls) or (-1, -1)."""
    if df == 0:
        rf, cf, length = -(-npx // R), -(-nf // C), k + R + C - 2
    elif df == 1:
        rf, cf, length = -(-k // R), -(-nf // C), 2 * R + C + npx - 2
    else:
        rf, cf, length = -(-k // R), -(-npx // C), 2 * R + C + nf - 2
    iw = C if df == 2 else R
    fw = R if df == 2 else C
    ib = np.empty(iw, np.int64)
    fb = np.empty(fw, np.int64)
    stalls = 0
    last_out = 0
    row = 0
    for fc in range(cf):
        for fr in range(rf):
            for t in range(length):
                cycle = row + stalls
                nvalid = 0
                if df == 0:  # OS: inputs down the rows, filters along the columns, outputs after the window
                    for c in range(R):
                        u = t - c
                        p = fr * R + c
                        ib[c] = ifm[p, u] if (0 <= u < k and p < npx) else -1
                    for c in range(C):
                        u = t - c
                        f = fc * C + c
                        fb[c] = f * k + u if (0 <= u < k and f < nf) else -1
                    for c in range(C):
                        u = t - c - (k - 1)
                        if 0 <= u < R and fr * R + R - 1 - u < npx and fc * C + c < nf:
                            nvalid += 1
                elif df == 1:  # WS: weights loaded bottom row first, then pixels stream
                    for c in range(R):
                        u = t - c - R
                        w = fr * R + c
                        ib[c] = ifm[u, w] if (0 <= u < npx and w < k) else -1
                    for c in range(C):
                        w = fr * R + R - 1 - t
                        f = fc * C + c
                        fb[c] = f * k + w if (t < R and w < k and f < nf) else -1
                    for c in range(C):
                        u = t - c - (2 * R - 1)
                        if 0 <= u < npx and fc * C + c < nf:
                            nvalid += 1
                else:  # IS: inputs loaded bottom row first, then filters stream
                    for c in range(C):
                        w = fr * R + R - 1 - t
                        p = fc * C + c
                        ib[c] = ifm[p, w] if (t < R and w < k and p < npx) else -1
                    for c in range(R):
                        u = t - c - R
                        w = fr * R + c
                        fb[c] = u * k + w if (0 <= u < nf and w < k) else -1
                    for c in range(C):
                        u = t - c - (2 * R - 1)
                        if 0 <= u < nf and fc * C + c < npx:
                            nvalid += 1
                di = _read_row(ib, iw, i_count, i_order, i_st, cycle)
                dfl = _read_row(fb, fw, f_count, f_order, f_st, cycle)
                if di < -(1 << 59) or dfl < -(1 << 59):
                    return -1, -1
                out = _write_row(nvalid, wb, lines, cycle)
                stalls += max(di, dfl, out - cycle)
                last_out = out
                row += 1
    cycle = last_out
    if wb[6] != 0:  # the final drain empties everything left
        _push_line(wb, lines, wb[6])
        wb[6] = 0
    while wb[8] < wb[7]:
        wb[5] = _drain(wb, lines, cycle)
        cycle = wb[5] + 1
    return last_out, stalls


def _read_state(order: np.ndarray, words: int, bandwidth: int, space: int):
    """(valid order, per-address counts of the filled window, state vector, initial-fill lines).

    ``order`` keeps its -1 padding: SCALE-Sim's initial fill counts the whole padded matrix."""
    valid = order[order >= 0]
    active = math.ceil(words * 0.5)
    prefetch = words - active
    eps = math.ceil(words / 100)
    lines = len(valid) // eps + 1
    act = min(math.ceil(active / eps), lines)
    pre = min(math.ceil(prefetch / eps), lines - act)
    count = np.zeros(max(space, 1), np.int64)
    np.add.at(count, valid[:min(act * eps, len(valid))], 1)
    st = np.array([eps, lines, act, pre, 0, -1, math.ceil(prefetch / bandwidth) + 1], np.int64)
    fill_lines = min(math.ceil(active / bandwidth), math.ceil(order.size / bandwidth))
    return valid, count, st, fill_lines


def user_mode_cycles(layer: Layer, rows: int, cols: int, dataflow: str, sram_kib: tuple[float, float, float],
                     bandwidth: tuple[int, int, int]) -> UserModeCycles:
    """SCALE-Sim 3.0.0's USER-mode cycles of ``layer`` on a ``rows`` x ``cols`` array.

    ``sram_kib``: IFMAP, FILTER, OFMAP buffer sizes (1-byte words); ``bandwidth``: the IFMAP and
    FILTER fill and the OFMAP drain rates in words per cycle.  A grouped layer runs as SCALE-Sim runs
    its ``DP`` layers: one single-channel layer per group, one after another.
    """
    ifm = ifmap_addresses(layer)
    npx, k = ifm.shape
    nf = layer.gemm_n
    i_mat, f_mat = prefetch_orders(layer, dataflow, rows, cols, ifm)
    words = [int(math.floor(kib * 1024)) for kib in sram_kib]
    ch = layer.in_channels // layer.groups
    i_order, i_count, i_st, i_fill = _read_state(i_mat, words[0], bandwidth[0],
                                                 layer.in_h * layer.in_w * ch)
    f_order, f_count, f_st, f_fill = _read_state(f_mat, words[1], bandwidth[1], k * nf)
    total = words[2]
    active = math.ceil(total * 0.5)
    wb = np.array([total, active, total - active, bandwidth[2], total, 0, 0, 0, 0, -(1 << 60)], np.int64)
    writes = npx * nf * (1 if dataflow == "os" else -(-k // rows))
    lines = np.zeros(writes + 2, np.int64)
    last, stalls = _replay(_DATAFLOW[dataflow], rows, cols, npx, k, nf, ifm, i_order, f_order, i_count, f_count,
                           i_st, f_st, wb, lines)
    if last < 0:
        raise RuntimeError(f"layer {layer.name}: an address is missing from SCALE-Sim's prefetch order")
    overall = int(wb[9]) + max(i_fill, f_fill) if wb[9] > -(1 << 59) else int(last)
    g = layer.groups
    return UserModeCycles(g * int(last), g * int(stalls), g * overall)
