"""Cycles no schedule of a mapping can beat: the best-schedule search visits its candidates in the order of
these bounds and stops at the first that cannot beat the best so far.

One compiled function, :func:`mapping_bound`, is the bound; the compiled search
(:func:`hwsim.systolic.schedule_search.rank_pairs`) applies it to every (precision mode, sub-array) pair it ranks,
thousands per layer.
"""

from __future__ import annotations

import functools
import math

from numba import njit

from ..config import SystolicConfig
from .kernel import OS, fold_period

INF = math.inf


class BoundPorts:
    """The config's rates as the bound reads them (bytes or outputs per cycle; ``inf``: unlimited)."""

    def __init__(self, hw: SystolicConfig):
        unlimited = lambda x: INF if x is None else float(x)
        self.ifmap, self.filter, self.ofmap = (unlimited(b) for b in hw.sram_bytes_per_cycle)
        self.requant = unlimited(hw.requant_outputs_per_cycle)
        self.psum_via_ofmap = bool(hw.psum_via_ofmap)
        self.psum = unlimited(hw.psum_bytes_per_cycle)
        self.scale_bits = int(hw.scale_bits)
        self.acc_bits = int(hw.accumulator_bits)
        self.requant_latency = float(hw.requant_latency_cycles)
        self.overlap = bool(hw.fold_overlap)

    def args(self) -> tuple:
        """The positional tail of :func:`mapping_bound`."""
        return (self.ifmap, self.filter, self.ofmap, self.requant, self.psum_via_ofmap, self.psum, self.scale_bits,
                self.acc_bits, self.requant_latency, self.overlap)


@functools.lru_cache(maxsize=256)
def ports_of(hw: SystolicConfig) -> BoundPorts:
    """The :class:`BoundPorts` of ``hw``, made once per config (the search asks for them per candidate)."""
    return BoundPorts(hw)


@njit(cache=True)
def mapping_bound(df, rows, cols, sr, sc, t, groups, gpf, w, a, pf, out_bits,
                  bw_if, bw_f, bw_o, requant, psum_via_ofmap, bw_p, scale_bits, acc_bits, requant_latency, overlap):
    """Cycles no schedule of this mapping (in precision mode ``w`` x ``a``, fusion ``pf``) can beat.

    Its folds' compute alone; or the operand bits the array reads from each input buffer over that buffer's
    bandwidth (less what the full edge FIFOs hold at the start); or the finished outputs over the
    requantizer's or the ofmap port's rate; or the partial sums over the accumulators' port; then the
    requantizer's latency.
    """
    nr = 1 if gpf > 1 else (sr + rows - 1) // rows
    nc = 1 if gpf > 1 else (sc + cols - 1) // cols
    folds = ((groups + gpf - 1) // gpf) * nr * nc
    L = t + rows + cols - 2 if df == OS else 2 * rows + cols + t - 2
    t_eff = fold_period(t, rows)
    bound = float(folds * t_eff + (L - t_eff) if overlap else folds * L)
    if_op = pf * a
    f_op = pf * w
    streamed = groups * sr * t * nc  # operands of the row-side stream over all folds
    stationary = groups * sr * sc  # WS/IS: operands loaded into the PEs
    if df == OS:
        read_if = streamed * if_op
        read_f = groups * sc * t * nr * f_op
    elif df == 1:
        read_if = streamed * if_op
        read_f = stationary * f_op
    else:
        read_if = stationary * if_op
        read_f = streamed * f_op
    widest = max(if_op, f_op) + scale_bits
    if bw_if < INF:
        slack = 8 * bw_if + (rows + cols) * widest  # full FIFOs at the start
        bound = max(bound, (read_if - slack) / (8 * bw_if) - 1)
    if bw_f < INF:
        slack = 8 * bw_f + (rows + cols) * widest
        bound = max(bound, (read_f - slack) / (8 * bw_f) - 1)
    # every finished output passes the requantizer and the ofmap write port
    out_port = min(8.0 * bw_o, INF if requant == INF else requant * out_bits)
    outputs = groups * sc * (sr if df == OS else t)
    if out_port < INF:
        bound = max(bound, math.ceil(outputs * out_bits / out_port))
    # WS/IS: every row fold but the last writes its partial sums to the accumulators' port
    psums = outputs * (nr - 1) * acc_bits if df != OS else 0
    if psum_via_ofmap and bw_o < INF:
        bound = max(bound, math.ceil((psums + outputs * out_bits) / (8 * bw_o)))
    elif not psum_via_ofmap and bw_p < INF:
        bound = max(bound, math.ceil(psums / (8 * bw_p)))
    return bound + requant_latency  # the requantizer's pipeline empties after the last output
