"""How one GEMM layer is laid onto the array: spatial and temporal dimensions per dataflow.

Pure functions of the layer, the hardware and the precision; no timing here.

For one group of a layer the GEMM is (M x K) x (K x N): M output pixels, K the reduction
(input channels per group x kernel window), N output channels per group.  A Bit Fusion PE
at ``w``-bit weights and ``a``-bit activations performs ``pf = (8/w)*(8/a)`` MACs per cycle,
fused along the reduction, so the array sees a reduction of ``ceil(K / pf)`` fused steps.

========  ======================  ====================  =========================
dataflow  spatial rows            spatial cols          temporal (per fold)
========  ======================  ====================  =========================
os        M (pixels)              N (channels)          ceil(K/pf)
ws        ceil(K/pf)              N                     M
is        ceil(K/pf)              M                     N
========  ======================  ====================  =========================

Grouped and depthwise convolutions: groups are independent GEMMs.  When one group's
spatial footprint fits the array, ``floor(rows/Sr)`` x ``floor(cols/Sc)`` allows packing
``min`` of the two groups block-diagonally into one fold (each group owns its own rows and
columns, so no operand stream is shared between groups); otherwise groups are folded one
after another.  That is the limited parallelism of depthwise layers: an OS array holding a
depthwise layer uses one column per fold.
"""

from __future__ import annotations

import dataclasses
import math

from ..config import SystolicConfig, fusion_factor
from ..layers import Layer

DATAFLOW_CODES = {"os": 0, "ws": 1, "is": 2}


@dataclasses.dataclass(frozen=True)
class Mapping:
    """Integer description of a layer on the array, consumed by the cycle kernel."""

    dataflow: int
    rows: int
    cols: int
    fusion: int
    sr: int  # spatial rows of one group
    sc: int  # spatial cols of one group
    t: int  # temporal steps per fold
    groups: int
    groups_per_fold: int

    @property
    def row_folds(self) -> int:
        """Row folds per group batch."""
        return 1 if self.groups_per_fold > 1 else math.ceil(self.sr / self.rows)

    @property
    def col_folds(self) -> int:
        """Column folds per group batch."""
        return 1 if self.groups_per_fold > 1 else math.ceil(self.sc / self.cols)

    @property
    def folds(self) -> int:
        """Total folds of the layer."""
        return math.ceil(self.groups / self.groups_per_fold) * self.row_folds * self.col_folds

    def fold_cycles(self) -> int:
        """Cycles of one fold at unlimited bandwidth (SCALE-Sim's fill + steady + drain)."""
        if self.dataflow == 0:
            return self.t + self.rows + self.cols - 2
        return 2 * self.rows + self.cols + self.t - 2


def map_layer(layer: Layer, hw: SystolicConfig, wbits: int, abits: int, dataflow: str | None = None,
              shape: tuple[int, int] | None = None) -> Mapping:
    """The spatial/temporal mapping of ``layer`` at ``wbits`` x ``abits`` on ``hw`` (or on its ``shape``
    = (rows, cols) sub-array)."""
    df = dataflow or hw.dataflow
    rows, cols = shape or (hw.rows, hw.cols)
    pf = fusion_factor(wbits, abits)
    k_eff = math.ceil(layer.gemm_k / pf)
    m, n = layer.gemm_m, layer.gemm_n
    sr, sc, t = {"os": (m, n, k_eff), "ws": (k_eff, n, m), "is": (k_eff, m, n)}[df]
    gpf = 1  # SCALE-Sim runs each group as a layer of its own; hwsim packs small groups block-diagonally
    if layer.groups > 1 and sr <= rows and sc <= cols and hw.timing != "scalesim":
        gpf = max(1, min(rows // sr, cols // sc, layer.groups))
    return Mapping(DATAFLOW_CODES[df], rows, cols, pf, sr, sc, t, layer.groups, gpf)
