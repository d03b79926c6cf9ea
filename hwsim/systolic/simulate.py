"""Simulate one layer on a systolic config: the Python face of the numba kernel."""

from __future__ import annotations

import math

from ..config import SystolicConfig
from ..energy import layer_energy
from ..layers import Layer
from ..precision import check_bits
from ..resources import check_systolic_size
from ..results import LayerResult
from . import kernel as K
from .dram import build_tiles, plan_traffic
from .mapping import Mapping, map_layer

def _bits_per_cycle(bytes_per_cycle: float | None) -> float:
    return math.inf if bytes_per_cycle is None else 8.0 * bytes_per_cycle


def layer_tiles(layer: Layer, m: Mapping, wbits: int, abits: int, out_bits: int, hw: SystolicConfig,
                ifmap_on_chip: bool = False):
    """([(per-group tiles, 1)], [(tiles of a group batch, how many such batches)]) of ``layer`` mapped as ``m``.

    ``out_bits`` = 0 for an output that stays on chip; ``ifmap_on_chip``: the input needs no DRAM read.
    """
    ifmap_g = 0 if ifmap_on_chip else min(layer.gemm_m * layer.gemm_k, layer.ifmap_elements // layer.groups) * abits
    args = dict(df=m.dataflow, m=layer.gemm_m, k=layer.gemm_k, n=layer.gemm_n, k_eff=math.ceil(layer.gemm_k / m.fusion),
                rows=m.rows, cols=m.cols, pf=m.fusion, wbits=wbits, abits=abits, out_bits=out_bits,
                acc_bits=hw.accumulator_bits, scale_bits=hw.scale_bits, ifmap_bits=ifmap_g)
    if m.groups_per_fold > 1:  # packed: tiles per group, scaled by the groups in each fold
        full, last = divmod(m.groups, m.groups_per_fold)
        per_group = build_tiles(g=1, packed=True, **args)
        return [(per_group, 1)], [(build_tiles(g=m.groups_per_fold, packed=True, **args), full)] + \
            ([(build_tiles(g=last, packed=True, **args), 1)] if last else [])
    one = build_tiles(g=1, packed=False, **args)
    return [(one, 1)], [(one, m.groups)]


def simulate_layer(layer: Layer, hw: SystolicConfig, wbits: int = 8, abits: int = 8,
                   dataflow: str | None = None, reuse_folds: bool = True, out_bits: int | None = None,
                   ifmap_on_chip: bool = False, ofmap_on_chip: bool = False) -> LayerResult:
    """Cycle-accurate result of one layer at ``wbits`` x ``abits`` (cycles, bytes, ms).

    ``out_bits``: precision the requantizer writes outputs at (default ``abits``).
    ``ifmap_on_chip`` / ``ofmap_on_chip``: the input is already on chip / the output stays there
    (no DRAM traffic for them: whole-network mode).  ``reuse_folds=False`` steps every fold even
    when an identical one was already stepped (same numbers, slower; for benchmarks and checks).
    """
    check_bits(hw, wbits, abits, f"layer {layer.name}: ")
    out_bits = abits if out_bits is None else out_bits
    m = map_layer(layer, hw, wbits, abits, dataflow)
    check_systolic_size(layer.name, m.folds, m.fold_cycles(), f"{hw.rows}x{hw.cols}", m.row_folds + m.col_folds)
    pf = m.fusion
    requant = math.inf if hw.requant_outputs_per_cycle is None else float(hw.requant_outputs_per_cycle)
    dram = hw.dram_bytes_per_cycle()
    half = tuple(kib * 1024 * 8 / 2 for kib in hw.sram_kib)
    kernel_tiles, batches = layer_tiles(layer, m, wbits, abits, 0 if ofmap_on_chip else out_bits, hw, ifmap_on_chip)
    plan = plan_traffic(batches, half)
    t = kernel_tiles[0][0]
    r = K.simulate_layer_kernel(
        m.dataflow, m.rows, m.cols, m.sr, m.sc, m.t, m.groups, m.groups_per_fold,
        pf * abits, pf * wbits, out_bits, hw.accumulator_bits, hw.scale_bits,
        *(_bits_per_cycle(b) for b in hw.sram_bytes_per_cycle), requant, float(hw.requant_latency_cycles),
        t.row, t.col, t.fold_row, t.fold_col, t.fold_scale, t.fold_total, t.out_row, t.out_col, t.psum,
        plan.rows_outer, plan.block, plan.row_mode, plan.col_mode, plan.psum_mode, plan.mode_row, plan.mode_col,
        plan.mode_fold, plan.out_slots,
        math.inf if dram is None else dram * 8.0, hw.timing == "scalesim", reuse_folds,
    )
    total = int(r[K.R_TOTAL])
    energy = layer_energy(hw, layer.macs / pf, total, (r[K.R_SRAM_IF], r[K.R_SRAM_F], r[K.R_SRAM_O]),
                          (r[K.R_LOAD_IF], r[K.R_LOAD_F], r[K.R_LOAD_PSUM]), r[K.R_DRAM_RD], r[K.R_DRAM_WR])
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
        sram_ifmap_bytes=_bytes(r[K.R_SRAM_IF]),
        sram_filter_bytes=_bytes(r[K.R_SRAM_F]),
        sram_ofmap_bytes=_bytes(r[K.R_SRAM_O]),
        dram_read_bytes=_bytes(r[K.R_DRAM_RD]),
        dram_write_bytes=_bytes(r[K.R_DRAM_WR]),
        latency_ms=total / (hw.clock_mhz * 1e3),
        dram_ifmap_read_bytes=_bytes(r[K.R_LOAD_IF]),
        dram_filter_read_bytes=_bytes(r[K.R_LOAD_F]),
        energy_pj=energy.total_pj,
        energy_compute_pj=energy.compute_pj,
        energy_sram_pj=energy.sram_pj,
        energy_dram_pj=energy.dram_pj,
    )


def _bytes(bits: float) -> int:
    """Whole bytes holding ``bits`` (rounded up: a partial byte still moves)."""
    return int(math.ceil(round(bits, 6) / 8))
