"""A vector layer (softmax, a norm, an activation, a residual add, rotary embedding) on the accelerator's vector unit.

The unit streams its operands from the ifmap buffer, runs ``ops_per_element(op)`` operations per output element on
``lanes`` lanes, and writes the result to the ofmap buffer; what is not on chip comes from DRAM and goes back to it,
at the activation bits.  A first-order model: the layer takes the longest of its compute, its DRAM traffic and its
two buffer ports (they overlap, streamed), with no fill or drain latency.
"""

from __future__ import annotations

import math

from ..config import SystolicConfig
from ..energy import layer_energy
from ..layers import Layer
from ..results import LayerResult


def _cycles(bits: float, bytes_per_cycle: float | None) -> int:
    return 0 if bytes_per_cycle is None or not bits else math.ceil(bits / 8 / bytes_per_cycle)


def simulate_vector(layer: Layer, hw: SystolicConfig, wbits: int, abits: int, out_bits: int,
                    ifmap_on_chip: bool = False, ofmap_on_chip: bool = False) -> LayerResult:
    """The vector layer ``layer`` on ``hw``'s vector unit, reading at ``abits`` and writing at ``out_bits``."""
    unit = hw.vector
    lanes = unit.lanes or hw.cols
    ops = layer.ofmap_elements * unit.ops_per_element(layer.op)
    compute = max(1, math.ceil(ops / lanes))
    read, written = layer.ifmap_elements * abits, layer.ofmap_elements * out_bits
    dram_read, dram_write = (0 if ifmap_on_chip else read), (0 if ofmap_on_chip else written)
    ports = max(_cycles(read, hw.sram_bytes_per_cycle.ifmap), _cycles(written, hw.sram_bytes_per_cycle.ofmap))
    dram = _cycles(dram_read + dram_write, hw.dram_bytes_per_cycle())
    total = max(compute, ports, dram)
    onchip_stall = max(0, ports - compute)
    energy = layer_energy(hw, 0.0, total, (read, 0.0, written), (dram_read, 0.0, 0.0), dram_read, dram_write)
    compute_pj = energy.compute_pj + ops * unit.pj_per_op
    return LayerResult(
        name=layer.name, wbits=wbits, abits=abits, dataflow="vector", macs=0, total_cycles=total,
        compute_cycles=compute, stall_cycles=total - compute, onchip_stall_cycles=onchip_stall,
        dram_stall_cycles=total - compute - onchip_stall, folds=0, utilization=ops / (total * lanes),
        mapping_efficiency=1.0, compute_utilization=ops / (compute * lanes), sram_ifmap_bytes=math.ceil(read / 8),
        sram_filter_bytes=0, sram_ofmap_bytes=math.ceil(written / 8), dram_read_bytes=math.ceil(dram_read / 8),
        dram_write_bytes=math.ceil(dram_write / 8), latency_ms=total / (hw.clock_mhz * 1e3),
        note=f"{layer.op} on the vector unit ({lanes} lanes)", dram_ifmap_read_bytes=math.ceil(dram_read / 8),
        dram_filter_read_bytes=0, energy_pj=compute_pj + energy.sram_pj + energy.dram_pj,
        energy_compute_pj=compute_pj, energy_sram_pj=energy.sram_pj, energy_dram_pj=energy.dram_pj,
        energy_sram_leak_pj=energy.sram_leak_pj)
