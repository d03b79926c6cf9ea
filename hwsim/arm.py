"""Latency model of int8 and low-bit convolutions on a multi-core Cortex-A53 (BRECQ appendix B.3, B.4.3).

Each layer can run several ways; the model costs each and takes the fastest, as a tuned library does:

* **im2col GEMM at a (w, a) kernel precision** covering the data (Han et al. 2020's idea; their
  kernel is not public).  ARM has no multiply below 8 bits: low-bit operands sit in 8-bit NEON
  lanes and the gain comes from accumulating several products in a narrow lane before widening.
  A product of a-bit signed activations and w-bit symmetric weights is at most
  ``P = 2^(a-1) * (2^(w-1) - 1)``.  If ``n8 = floor(127 / P) >= 2``, the inner loop is one
  ``MUL/MLA.16B`` (16 MACs) per step, a ``SADALP.16B->8H`` every ``n8`` steps and a
  ``SADALP.8H->4S`` every ``floor(32767 / (2 n8 P))`` of those.  Otherwise products go to int16
  (``SMULL/SMLAL``, 8 MACs per op) and widen every ``floor(32767 / P)`` products: at 8x8 the
  XNNPACK ``2x8c8 ... cortex-a53`` scheme (3 ops per 16 MACs, 74 cycles per 256 MACs).
* **Winograd F(m, 3)** for 3x3 stride-1 convolutions at up to 8 bits (``winograd_tile`` m; ncnn's
  int8 path on ARM): ``(m+2)^2`` GEMMs of int16 transformed operands (``SMLAL`` by lane, 4 MACs
  per op) replace ``9 m^2`` MACs per tile and channel pair; input and output transforms cost
  ``winograd_transform_cycles`` per element; the transformed weights (int16, (m+2)^2 per 3x3
  kernel) come from DRAM.  No low-bit gain: transformed values need int16.
* **Per-group int8 GEMM** for grouped and depthwise convolutions, which the low-bit kernel does
  not run (BRECQ B.4.3); marked in ``note``.

Every way is a :class:`Work`: single-core cycles (kernel blocks on the padded tile grid, with
one accumulator reload per extra L1D-sized slice of the reduction; packing; requantization),
the number of independent pieces the threads split, and DRAM bytes (weights, input, output at
their bit-widths, re-streamed when neither the packed weights nor the packed activations fit in
half the shared L2; Winograd's transformed tensors when they do not fit).  On ``T`` threads:

    compute = tiled x ceil(units / T) / units + even / T    (the busiest thread: whole units of padded
              tiles; packing, requantization and Winograd transforms split evenly)
    memory  = bytes / min(T x core_gb_per_s, dram_gb_per_s)  (one core's reach; the shared bus)
    latency = max(compute, memory) + (1 - memory_overlap) x min(compute, memory)
              + layer_overhead_us + fork_join_us (if T > 1)

(a layer too small to pay for the fork/join runs on one thread), so thread scaling follows from the
memory system and the fork/join cost, not a fitted efficiency.
"""

from __future__ import annotations

import dataclasses
import math

from .config import ArmConfig, VectorUnit
from .layers import Layer
from .precision import check_bits
from .results import LayerResult

LANES = 16  # int8 lanes in a 128-bit NEON register
FALLBACK_NOTE = "unsupported by the low-bit kernel: costed as per-group int8 GEMMs"


# ----------------------------------------------------------------------------------------------
# The inner kernels
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


def _k_slices(hw: ArmConfig, k_bytes: int, mr: int, nr: int) -> int:
    """Slices of the reduction a micro-kernel runs so that its operand slivers fit half the L1D."""
    kc = max(LANES, (int(hw.l1d_kib * 1024 / 2) // (mr + nr)) // LANES * LANES)
    return math.ceil(k_bytes / kc)


def _block_grid(hw: ArmConfig, m: int, n: int, k: int, mr: int, nr: int, elem_bytes: int = 1) -> tuple[float, float]:
    """(blocks, accumulator-reload cycles) of an m x n x k GEMM on the mr x nr tile, 16 reduction steps a block."""
    tiles = math.ceil(m / mr) * math.ceil(n / nr)
    blocks = tiles * math.ceil(k / LANES)
    extra = _k_slices(hw, k * elem_bytes, mr, nr) - 1  # each extra slice reloads and stores int32 accumulators
    reload = tiles * extra * 2 * math.ceil(mr * nr / 4) * hw.load_cycles_per_vector
    return blocks, reload


# ----------------------------------------------------------------------------------------------
# Ways to run a layer
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Work:
    """One way to run a layer: what it costs independent of threads, clock and bandwidth."""

    kernel: str  # "im2col w4a4", "winograd F(4,3)", "per-group int8"
    mode: tuple[int, int]  # the (w, a) precision the kernel computes at
    cycles: float  # single-core cycles, Winograd transforms excluded
    transform_elements: float  # elements through Winograd transforms (x winograd_transform_cycles)
    units: int  # independent pieces the threads split
    read_bytes: float
    write_bytes: float
    efficiency: float  # useful / padded MACs
    even_cycles: float = 0.0  # the part of ``cycles`` that splits evenly over cores (packing, requantization)


def _l2_half(hw: ArmConfig) -> float:
    return hw.l2_kib * 1024 / 2


def _dram_bytes(hw: ArmConfig, layer: Layer, wbits: int, abits: int, out_bits: int) -> tuple[float, float, float]:
    """(weights, input, output) DRAM bytes at their bit-widths.  When 4 bytes per output do not fit half the
    L2: an output feeding a residual add pays the float path's traffic (``residual_bytes_per_output``), and
    with ``int32_outputs`` the int32 accumulators go out and back before requantization."""
    outputs = layer.gemm_m * layer.out_channels
    inp, out = layer.ifmap_elements * abits / 8, outputs * out_bits / 8
    if outputs * 4 > _l2_half(hw):  # a float32 / int32 copy of the outputs leaves the L2
        if "@residual" in layer.consumers:
            out += outputs * hw.residual_bytes_per_output
        if hw.int32_outputs:  # accumulators written out, read back by a separate requantization pass
            inp, out = inp + 4 * outputs, out + 4 * outputs
    return layer.operand_b_elements * wbits / 8, inp, out


def im2col_work(hw: ArmConfig, layer: Layer, wbits: int, abits: int, out_bits: int,
                kernel: tuple[int, int]) -> Work:
    """The layer as im2col GEMMs (one per group) on the ``kernel`` precision's micro-kernel (a matmul: one GEMM per
    KV head, its second operand packed at run time, not ahead like weights)."""
    m, n, k = layer.gemm_n, layer.gemm_m, layer.gemm_k  # output channels, output pixels, reduction
    blk = kernel_block(hw, *kernel)
    mr, nr = blk["mr"], blk["nr"]
    blocks, reload = _block_grid(hw, m, n, k, mr, nr)
    kp = math.ceil(k / LANES) * LANES
    packing = (n + m if layer.kind == "matmul" else n) * kp  # a matmul's second operand is packed at run time too
    even = packing * hw.pack_cycles_per_byte + m * n * hw.requant_cycles_per_output
    per_group = blocks * blk["cycles"] + reload + even
    w, i, o = _dram_bytes(hw, layer, wbits, abits, out_bits)
    panel, packed_w = n * kp, m * kp  # one group's packed activations / weights, bytes (int8 lanes)
    half = _l2_half(hw)
    if min(panel, packed_w) > half:  # neither stays in L2: re-stream the cheaper operand per block of the other
        w, i = min((w * math.ceil(panel / half), i), (w, i * math.ceil(packed_w / half)))
    if panel > half:  # the panel is built whole before the GEMM (ncnn's im2col_sgemm): out to DRAM and back
        i, o = i + panel * layer.groups, o + panel * layer.groups
    tiles_m, tiles_n = math.ceil(m / mr), math.ceil(n / nr)
    return Work(kernel=f"im2col w{kernel[0]}a{kernel[1]}", mode=kernel, cycles=per_group * layer.groups,
                transform_elements=0.0, units=layer.groups * max(tiles_m, tiles_n), read_bytes=w + i,
                write_bytes=o, efficiency=(m * n * k) / (tiles_m * mr * tiles_n * nr * kp),
                even_cycles=even * layer.groups)


def winograd_work(hw: ArmConfig, layer: Layer, wbits: int, abits: int, out_bits: int) -> Work | None:
    """The layer as Winograd F(m, 3) on int16 transformed operands; None where it does not apply."""
    tm = hw.winograd_tile
    if not tm or layer.groups != 1 or (layer.kernel_h, layer.kernel_w, layer.stride) != (3, 3, 1):
        return None
    t = (tm + 2) ** 2  # transformed positions per tile
    cin, m = layer.in_channels, layer.out_channels
    tiles = layer.batch * math.ceil(layer.out_h / tm) * math.ceil(layer.out_w / tm)
    mr, nr = hw.tile_int16
    blocks, reload = _block_grid(hw, m, tiles, cin, mr, nr, elem_bytes=2)
    # int16 x int16 -> int32 (SMLAL by lane): 4 MACs per op; operands are 2 bytes, so 2 vectors per 16 steps
    block = mr * nr * LANES / 4 / hw.neon_q_ops_per_cycle + 2 * (mr + nr) * hw.load_cycles_per_vector \
        + hw.loop_cycles_per_block
    requant = layer.gemm_m * m * hw.requant_cycles_per_output
    cycles = t * (blocks * block + reload) + requant
    transforms = t * tiles * (cin + m)
    _, i, o = _dram_bytes(hw, layer, wbits, abits, out_bits)
    w = t * m * cin * 2  # pre-transformed int16 weights
    read, write = w + i, o
    for size in (t * tiles * cin * 2, t * tiles * m * 4):  # transformed input (int16), GEMM output (int32)
        if size > _l2_half(hw):  # spills: written out and read back
            read, write = read + size, write + size
    useful = layer.macs / (9 * tm * tm) * t  # transformed-domain MACs the padding does not waste
    return Work(kernel=f"winograd F({tm},3)", mode=(8, 8), cycles=cycles, transform_elements=transforms,
                units=t * math.ceil(m / mr), read_bytes=read, write_bytes=write,
                efficiency=min(1.0, useful / (t * tiles * cin * m)), even_cycles=requant)


FLOAT_LANES = 4  # float32 lanes in a NEON register: vector operators run in float, as the int8 libraries do
CONVERT_OPS = 2.0  # per element: dequantize the input, quantize the output


def vector_work(hw: ArmConfig, layer: Layer, abits: int, out_bits: int) -> Work:
    """A vector layer (softmax, a norm, an activation, an add) in float32 on NEON: the accelerator's first-order
    operation counts (:class:`hwsim.config.VectorUnit`) plus a conversion in and out, split evenly over the cores."""
    ops = layer.ofmap_elements * (VectorUnit().ops_per_element(layer.op) + CONVERT_OPS)
    cycles = ops / (FLOAT_LANES * hw.neon_q_ops_per_cycle)
    return Work(kernel=f"vector {layer.op}", mode=(abits, abits), cycles=cycles, transform_elements=0.0,
                units=layer.batch, read_bytes=layer.ifmap_elements * abits / 8,
                write_bytes=layer.ofmap_elements * out_bits / 8, efficiency=1.0, even_cycles=cycles)


def layer_works(layer: Layer, hw: ArmConfig, wbits: int, abits: int, out_bits: int) -> list[Work]:
    """Every way the board can run the layer at ``wbits`` x ``abits`` (outputs requantized to ``out_bits``)."""
    if layer.kind == "vector":
        return [vector_work(hw, layer, abits, out_bits)]
    if layer.groups != 1 and layer.kind != "matmul":  # a matmul's groups (heads) are whole GEMMs, run as any GEMM
        return [im2col_work(hw, layer, 8, 8, out_bits, (8, 8))]
    wino = winograd_work(hw, layer, wbits, abits, out_bits)
    # the int8 library's rule (ncnn: every 3x3 stride-1 int8 convolution is Winograd): its int8 is Winograd
    int8 = [] if wino and hw.winograd_always else [(8, 8)]
    works = [im2col_work(hw, layer, wbits, abits, out_bits, (w, a))
             for w in hw.bits for a in hw.bits if w >= wbits and a >= abits and ((w, a) != (8, 8) or int8)]
    return works + ([wino] if wino else [])


def work_cycles(work: Work, hw: ArmConfig, threads: int | None = None) -> tuple[float, float, float]:
    """(total, compute, memory) cycles of one way on up to ``threads`` cores (default: the config's).

    A layer runs on all of them, or on one when forking and joining would cost more than they save.
    """
    most = hw.threads if threads is None else threads
    tiled = work.cycles - work.even_cycles  # equal units (rows or columns of tiles, padded): whole units per core
    even = work.even_cycles + work.transform_elements * hw.winograd_transform_cycles  # any share per core
    best = None
    for t in sorted({1, most}):
        compute = tiled * math.ceil(work.units / t) / work.units + even / t
        memory = (work.read_bytes + work.write_bytes) / hw.bytes_per_cycle(t)
        fixed = (hw.layer_overhead_us + (hw.fork_join_us if t > 1 else 0.0)) * hw.clock_mhz
        total = max(compute, memory) + (1 - hw.memory_overlap) * min(compute, memory) + fixed
        if best is None or total < best[0]:
            best = (total, compute, memory)
    return best


def simulate_layer_arm(layer: Layer, hw: ArmConfig, wbits: int = 8, abits: int = 8,
                       out_bits: int | None = None) -> LayerResult:
    """Latency of one layer on the board at ``wbits`` x ``abits`` (cycles at the core clock, bytes, ms).

    ``out_bits``: precision the outputs are requantized to (the consumer's activation bits);
    defaults to ``abits``.  Runs on ``hw.threads`` cores at ``hw.clock_mhz``.
    """
    check_bits(hw, wbits, abits, f"layer {layer.name}: ")
    out_bits = abits if out_bits is None else out_bits
    # the fastest way; ties: the narrowest im2col kernel (the data's own), then Winograd
    options = [(work_cycles(w, hw), w) for w in layer_works(layer, hw, wbits, abits, out_bits)]
    (total_f, compute, memory), work = min(options, key=lambda o: (o[0][0], o[1].mode, o[1].kernel))
    total, compute_i = math.ceil(total_f), math.ceil(compute)
    peak_per_cycle = LANES * hw.threads  # MLA.16B: 16 MACs per cycle per core
    if layer.kind == "vector":
        note = f"{layer.op} in float32 on NEON"
    elif layer.groups != 1 and layer.kind != "matmul":
        note = FALLBACK_NOTE
    elif work.kernel == f"im2col w{wbits}a{abits}":
        note = ""
    elif work.kernel.startswith("winograd") and hw.winograd_always and (wbits, abits) == (8, 8):
        note = f"runs {work.kernel} (the int8 library's rule)"
    else:
        note = f"runs {work.kernel} (faster here)"
    return LayerResult(
        name=layer.name, wbits=wbits, abits=abits, dataflow=work.kernel, macs=layer.macs,
        total_cycles=total, compute_cycles=compute_i, stall_cycles=total - compute_i,
        onchip_stall_cycles=0, dram_stall_cycles=max(0, math.ceil(memory - compute)),
        folds=0, utilization=layer.macs / (total * peak_per_cycle), mapping_efficiency=work.efficiency,
        compute_utilization=layer.macs / max(compute * peak_per_cycle, 1),
        sram_ifmap_bytes=0, sram_filter_bytes=0, sram_ofmap_bytes=0,
        dram_read_bytes=int(work.read_bytes), dram_write_bytes=int(work.write_bytes),
        latency_ms=total / (hw.clock_mhz * 1e3), note=note,
    )
