"""Simulate one layer on a systolic config: the Python face of the numba kernel."""

from __future__ import annotations

import math

from ..config import SystolicConfig
from ..layers import Layer
from ..precision import check_bits
from ..resources import check_systolic_size
from ..results import LayerResult
from . import kernel as K
from .mapping import Mapping, map_layer

def _bits_per_cycle(bytes_per_cycle: float | None) -> float:
    return math.inf if bytes_per_cycle is None else 8.0 * bytes_per_cycle


def _loop_order(m: Mapping, ifmap_bits: float, filter_bits: float, half: list[float], acc_bits: int) -> tuple[bool, bool]:
    """Pick the fold loop order with less DRAM traffic; return (rows_outer, psums_spill).

    The operand indexed only by the outer loop is fetched once; the one indexed only by the
    inner loop is refetched on every outer iteration unless it fits in half its SRAM.  For
    WS/IS the reduction runs over row folds, so with column folds outer only one column
    tile of partial sums must stay on chip, with row folds outer all of them.
    """
    row_op, col_op = {0: (ifmap_bits, filter_bits), 1: (ifmap_bits, 0.0), 2: (filter_bits, 0.0)}[m.dataflow]
    row_half, col_half = {0: (half[0], half[1]), 1: (half[0], half[1]), 2: (half[1], half[0])}[m.dataflow]
    nr, nc, n_gb = m.row_folds, m.col_folds, math.ceil(m.groups / m.groups_per_fold)
    psum_all = m.t * m.sc * acc_bits  # reductions over row folds imply one group per fold
    psum_tile = m.t * min(m.sc, m.cols) * acc_bits
    reduces = m.dataflow != 0 and nr > 1
    spill_rows_outer = reduces and psum_all > half[2]
    spill_cols_outer = reduces and psum_tile > half[2]
    spill_cost = 2.0 * (nr - 1) * m.t * m.sc * acc_bits * n_gb
    cost_rows_outer = row_op + col_op * (nr if col_op > col_half and nc > 1 else 1) + spill_cost * spill_rows_outer
    cost_cols_outer = col_op + row_op * (nc if row_op > row_half and nr > 1 else 1) + spill_cost * spill_cols_outer
    if cost_rows_outer <= cost_cols_outer:
        return True, spill_rows_outer
    return False, spill_cols_outer


def simulate_layer(layer: Layer, hw: SystolicConfig, wbits: int = 8, abits: int = 8,
                   dataflow: str | None = None, reuse_folds: bool = True, out_bits: int | None = None) -> LayerResult:
    """Cycle-accurate result of one layer at ``wbits`` x ``abits`` (cycles, bytes, ms).

    ``out_bits``: precision the requantizer writes outputs at (default ``abits``).
    ``reuse_folds=False`` steps every fold even when an identical one was already stepped
    (same numbers, slower; for benchmarks and checks).
    """
    check_bits(hw, wbits, abits, f"layer {layer.name}: ")
    out_bits = abits if out_bits is None else out_bits
    m = map_layer(layer, hw, wbits, abits, dataflow)
    check_systolic_size(layer.name, m.folds, m.fold_cycles(), f"{hw.rows}x{hw.cols}")
    pf = m.fusion
    requant = math.inf if hw.requant_outputs_per_cycle is None else float(hw.requant_outputs_per_cycle)
    dram = hw.dram_bytes_per_cycle()
    ifmap_g = min(layer.gemm_m * layer.gemm_k, layer.ifmap_elements // layer.groups) * abits
    filter_g = layer.gemm_k * layer.gemm_n * wbits + layer.gemm_n * hw.scale_bits
    out_g = layer.gemm_m * layer.gemm_n * out_bits
    half = [kib * 1024 * 8 / 2 for kib in hw.sram_kib]
    rows_outer, spill = _loop_order(m, layer.groups * ifmap_g, layer.groups * filter_g, half, hw.accumulator_bits)
    r = K.simulate_layer_kernel(
        m.dataflow, m.rows, m.cols, m.sr, m.sc, m.t, m.groups, m.groups_per_fold,
        pf * abits, pf * wbits, out_bits, hw.accumulator_bits, hw.scale_bits,
        *(_bits_per_cycle(b) for b in hw.sram_bytes_per_cycle), requant,
        float(ifmap_g), float(filter_g), float(out_g),
        half[0], half[1], math.inf if dram is None else dram * 8.0, rows_outer, spill, reuse_folds,
    )
    total = int(r[K.R_TOTAL])
    return LayerResult(
        name=layer.name,
        wbits=wbits,
        abits=abits,
        dataflow=dataflow or hw.dataflow,
        macs=layer.macs,
        total_cycles=total,
        compute_cycles=int(r[K.R_COMPUTE]),
        stall_cycles=int(r[K.R_ONCHIP_STALL] + r[K.R_DRAM_STALL]),
        onchip_stall_cycles=int(r[K.R_ONCHIP_STALL]),
        dram_stall_cycles=int(r[K.R_DRAM_STALL]),
        folds=int(r[K.R_FOLDS]),
        utilization=layer.macs / (max(total, 1) * hw.rows * hw.cols * pf),
        mapping_efficiency=float(r[K.R_MAP_EFF]),
        compute_utilization=float(r[K.R_COMPUTE_UTIL]),
        sram_ifmap_bytes=int(r[K.R_SRAM_IF] // 8),
        sram_filter_bytes=int(r[K.R_SRAM_F] // 8),
        sram_ofmap_bytes=int(r[K.R_SRAM_O] // 8),
        dram_read_bytes=int(r[K.R_DRAM_RD] // 8),
        dram_write_bytes=int(r[K.R_DRAM_WR] // 8),
        latency_ms=total / (hw.clock_mhz * 1e3),
    )

