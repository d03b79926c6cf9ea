"""ARM Cortex-A53 latency model of the low-bit GEMM BRECQ measured on a Raspberry Pi 3B (appendix B.3, B.4.3).

The kernel (Han et al. 2020) is not public, so this is a transparent instruction-count model of
its idea.  ARM has no multiply below 8 bits; low-bit operands sit in 8-bit NEON lanes and the
gain comes from accumulating several products in a narrow lane before widening it:

* A product of a-bit signed activations (zero-point shifted, as int8 kernels do) and w-bit
  symmetric weights is at most ``P = 2^(a-1) * (2^(w-1) - 1)`` in magnitude.
* If ``n8 = floor(127 / P) >= 2`` products fit an int8 lane, the inner loop is one
  ``MUL/MLA.16B`` (16 MACs) per step and a widening ``SADALP.16B->8H`` every ``n8`` steps, then
  ``SADALP.8H->4S`` every ``floor(32767 / (2 n8 P))`` of those.
* Otherwise products go straight to int16 (``SMULL``/``SMLAL``, 8 MACs per op) and widen to
  int32 every ``n16 = floor(32767 / P)`` products: at 8x8, 2 products, the XNNPACK
  ``2x8c8 ... cortex-a53`` scheme (3 ops per 16 MACs).
* Every 128-bit op issues alone (both 64-bit NEON halves, one per cycle); each 16-byte operand
  vector load costs ``load_cycles_per_vector``; a micro-tile of ``mr x nr`` outputs loads
  ``mr + nr`` vectors per 16 reduction steps.

Per layer (im2col GEMM: M = output channels, N = output pixels, K = Cin/groups x kh x kw):
compute = kernel blocks on the padded GEMM + packing of the im2col panel + requantization of
every output, spread over the cores at ``thread_efficiency``; memory = weights + input + output
bytes (at their bit-widths, plus the im2col panel when it spills out of L2) over the DRAM
bandwidth; latency = max(compute, memory) + a fixed per-layer overhead.
Grouped and depthwise convolutions are not supported by the kernel (BRECQ B.4.3): they are
costed as their fallback, one int8 GEMM per group (no low-bit gain), and marked in ``note``.
"""

from __future__ import annotations

import math

from .config import ArmConfig
from .layers import Layer
from .precision import check_bits
from .results import LayerResult

LANES = 16  # int8 lanes in a 128-bit NEON register
FALLBACK_NOTE = "unsupported by the low-bit kernel: costed as per-group int8 GEMMs"


# ----------------------------------------------------------------------------------------------
# The inner kernel
# ----------------------------------------------------------------------------------------------


def max_product(wbits: int, abits: int) -> int:
    """Largest |activation x weight|: signed a-bit activations times symmetric w-bit weights."""
    return 2 ** (abits - 1) * (2 ** (wbits - 1) - 1)


def _ops_per_block(wbits: int, abits: int) -> tuple[float, int, str]:
    """(128-bit arithmetic ops, MACs, accumulation path) for one output over 16 reduction steps."""
    p = max_product(wbits, abits)
    n8 = 127 // p
    if n8 >= 2:  # accumulate in int8 lanes, widen every n8 products
        m16 = max(1, 32767 // (2 * n8 * p))
        return 1 + 1 / n8 + 1 / (n8 * m16), LANES, "int8"
    n16 = 32767 // p  # straight to int16: SMULL/SMLAL (8 MACs per op), widen every n16
    return 2 + 2 / n16, LANES, "int16"


def kernel_block(hw: ArmConfig, wbits: int, abits: int) -> dict:
    """Cycles and MACs of one micro-kernel block (mr x nr outputs x 16 reduction steps) on one core."""
    ops, _, path = _ops_per_block(wbits, abits)
    mr, nr = hw.tile_int8 if path == "int8" else hw.tile_int16
    arith = mr * nr * ops / hw.neon_q_ops_per_cycle
    loads = (mr + nr) * hw.load_cycles_per_vector
    return {"path": path, "mr": mr, "nr": nr, "macs": mr * nr * LANES, "arith_cycles": arith,
            "load_cycles": loads, "cycles": arith + loads + hw.loop_cycles_per_block}


def _gemm_cycles(hw: ArmConfig, m: int, n: int, k: int, wbits: int, abits: int) -> tuple[float, float]:
    """(single-core cycles, useful/padded MAC fraction) of an M x N x K GEMM on the padded tile grid."""
    blk = kernel_block(hw, wbits, abits)
    mp, np_, kp = math.ceil(m / blk["mr"]) * blk["mr"], math.ceil(n / blk["nr"]) * blk["nr"], math.ceil(k / LANES) * LANES
    blocks = (mp // blk["mr"]) * (np_ // blk["nr"]) * (kp // LANES)
    kernel = blocks * blk["cycles"]
    pack = n * kp * hw.pack_cycles_per_byte  # im2col + pack activations into int8 lanes (weights packed offline)
    requant = m * n * hw.requant_cycles_per_output
    return kernel + pack + requant, (m * n * k) / (mp * np_ * kp)


def simulate_layer_arm(layer: Layer, hw: ArmConfig, wbits: int = 8, abits: int = 8,
                       out_bits: int | None = None) -> LayerResult:
    """Latency of one layer on the A53 at ``wbits`` x ``abits`` (cycles at the core clock, bytes, ms).

    ``out_bits``: precision the outputs are requantized to (the consumer's activation bits);
    defaults to ``abits``.
    """
    check_bits(hw, wbits, abits, f"layer {layer.name}: ")
    out_bits = abits if out_bits is None else out_bits
    supported = layer.groups == 1
    kw, ka = (wbits, abits) if supported else (8, 8)
    # the fastest kernel whose precision covers the data (a wider one can win on a tiny GEMM: fewer padded tiles)
    per_group, eff, mode = min(((*_gemm_cycles(hw, layer.gemm_n, layer.gemm_m, layer.gemm_k, w, a), (w, a))
                                for w in hw.bits for a in hw.bits if w >= kw and a >= ka),
                               key=lambda c: (c[0], c[2]))  # ties: the narrowest kernel, the data's own
    work = per_group * layer.groups
    compute = work / (hw.cores * hw.thread_efficiency)
    panel = layer.gemm_m * math.ceil(layer.gemm_k / LANES) * LANES  # one group's im2col panel, bytes (int8 lanes)
    read = layer.weight_count * kw / 8 + layer.ifmap_elements * ka / 8
    write = layer.gemm_m * layer.out_channels * out_bits / 8
    if panel > hw.l2_kib * 1024:  # the packed panel spills to DRAM and is read back
        read += panel * layer.groups
        write += panel * layer.groups
    memory = (read + write) / hw.dram_bytes_per_cycle()
    overhead = hw.layer_overhead_us * hw.clock_mhz
    total = math.ceil(max(compute, memory) + overhead)
    compute_i = math.ceil(compute)
    peak_per_cycle = LANES * hw.cores  # MLA.16B: 16 MACs per cycle per core
    return LayerResult(
        name=layer.name, wbits=wbits, abits=abits, dataflow="im2col-gemm", macs=layer.macs,
        total_cycles=total, compute_cycles=compute_i, stall_cycles=total - compute_i,
        onchip_stall_cycles=0, dram_stall_cycles=max(0, math.ceil(memory - compute)),
        folds=0, utilization=layer.macs / (total * peak_per_cycle), mapping_efficiency=eff,
        compute_utilization=layer.macs / max(compute * peak_per_cycle, 1),
        sram_ifmap_bytes=0, sram_filter_bytes=0, sram_ofmap_bytes=0,
        dram_read_bytes=int(read), dram_write_bytes=int(write),
        latency_ms=total / (hw.clock_mhz * 1e3),
        note=FALLBACK_NOTE if not supported else "" if mode == (kw, ka) else
        f"runs the w{mode[0]}a{mode[1]} kernel (faster here)",
    )

