"""The systolic model: precision scaling, peaks, depthwise parallelism, bandwidth stalls, and
the numba kernel against a plain-Python step-by-step reference of the same schedule."""

import dataclasses
import math

import pytest

from hwsim.config import Buffers
from hwsim.layers import Layer
from hwsim.systolic import simulate_layer
from hwsim.targets import simulate_network
from hwsim.systolic.mapping import map_layer
from hwsim.systolic.dram import plan_traffic
from hwsim.systolic.simulate import layer_tiles
from hwsim.workload import layers_from_model_name

BIG = Layer("conv4_x", "conv", 16, 16, 256, 14, 14, 256, 3, 3, 1, 1)  # K=2304, M=196, N=256


def test_peaks_match_the_paper(paper_hw):
    assert paper_hw.peak_macs_per_s(8, 8) == pytest.approx(256e9)
    assert paper_hw.peak_macs_per_s(4, 8) == pytest.approx(512e9)
    assert paper_hw.peak_macs_per_s(2, 2) == pytest.approx(4.096e12)
    assert sorted({paper_hw.fusion_factor(w, a) for w in (2, 4, 8) for a in (2, 4, 8)}) == [1, 2, 4, 8, 16]


@pytest.mark.parametrize("dataflow", ["ws", "is", "os"])
def test_2x2_is_about_16x_faster_at_unlimited_bandwidth(unlimited_hw, dataflow):
    c88 = simulate_layer(BIG, unlimited_hw, 8, 8, dataflow).total_cycles
    c22 = simulate_layer(BIG, unlimited_hw, 2, 2, dataflow).total_cycles
    # OS keeps R+C-2 fill/drain cycles per fold while its reduction shrinks 16x
    low = 11.0 if dataflow == "os" else 15.0
    assert low < c88 / c22 <= 16.01


FOUR_BIT_PORTS = Buffers(32, 64, 32)  # B/cycle: 16 rows x 2 bytes, 32 cols x 2 bytes (full speed down to 4 bits)


def test_bandwidth_caps_the_low_precision_gain(paper_hw, unlimited_hw):
    paper_hw = dataclasses.replace(paper_hw, sram_kib=Buffers(4096, 4096, 4096),  # on-chip bandwidth alone
                                   sram_bytes_per_cycle=FOUR_BIT_PORTS)
    free = simulate_layer(BIG, unlimited_hw, 2, 2)
    bound = simulate_layer(BIG, paper_hw, 2, 2)
    assert bound.onchip_stall_cycles > 0
    assert bound.total_cycles > 1.5 * free.total_cycles
    ratio = simulate_layer(BIG, paper_hw, 8, 8).total_cycles / bound.total_cycles
    assert 2.0 < ratio < 0.8 * simulate_layer(BIG, unlimited_hw, 8, 8).total_cycles / free.total_cycles


def test_buffers_sized_for_4bit_do_not_stall_at_4x4(paper_hw):
    four = dataclasses.replace(paper_hw, fold_overlap=False, sram_bytes_per_cycle=FOUR_BIT_PORTS)
    r = simulate_layer(BIG, four, 4, 4, search=False)
    assert r.onchip_stall_cycles == four.requant_latency_cycles  # only the requantizer's pipeline drains
    assert simulate_layer(BIG, four, 2, 2, search=False).onchip_stall_cycles > 0
    # the shipped config's ports (16 x 4 B, 32 x 4 B) feed even 2-bit operands at full speed
    full = dataclasses.replace(paper_hw, fold_overlap=False)
    assert simulate_layer(BIG, full, 2, 2, search=False).onchip_stall_cycles == full.requant_latency_cycles


def test_lower_precision_is_never_slower(paper_hw):
    from conftest import assert_lower_bits_never_slower

    assert_lower_bits_never_slower(lambda w, a: simulate_layer(BIG, paper_hw, w, a).total_cycles)


def test_depthwise_has_low_utilization(paper_hw):
    layers = {layer.name: layer for layer in layers_from_model_name("mobilenet_v2")}
    dw = layers["features.2.conv.1.0"]  # 3x3 depthwise, 96 channels
    pw = layers["features.2.conv.2"]  # 1x1 pointwise after it
    assert dw.is_depthwise and not pw.is_depthwise
    rdw, rpw = simulate_layer(dw, paper_hw), simulate_layer(pw, paper_hw)
    assert rdw.utilization < 0.05 < 0.5 < rpw.utilization
    assert rdw.mapping_efficiency == pytest.approx(1 / paper_hw.cols)  # OS: one channel column per fold


def test_depthwise_packs_groups_when_they_fit(unlimited_hw):
    unlimited_hw = dataclasses.replace(unlimited_hw, fold_overlap=False)
    dw = Layer("dw", "conv", 16, 16, 64, 14, 14, 64, 3, 3, 1, 64)
    m = map_layer(dw, unlimited_hw, 2, 2, "ws")  # K=9 fuses into one step: 16 groups per fold
    assert (m.sr, m.sc, m.groups_per_fold) == (1, 1, 16)
    assert map_layer(dw, unlimited_hw, 8, 8, "ws").groups_per_fold == 1  # 9 rows each: one fits
    ws88 = simulate_layer(dw, unlimited_hw, 8, 8, "ws", search=False).total_cycles
    ws22 = simulate_layer(dw, unlimited_hw, 2, 2, "ws", search=False).total_cycles
    assert ws88 / ws22 == pytest.approx(16, rel=0.01)  # 64 folds -> 4 folds


def test_dram_bound_layer_takes_its_transfer_time(paper_hw):
    hw = dataclasses.replace(paper_hw, dram_gb_per_s=0.5)
    r = simulate_layer(BIG, hw, 8, 8)
    transfer = (r.dram_read_bytes + r.dram_write_bytes) / hw.dram_bytes_per_cycle()
    assert r.dram_stall_cycles > 0
    assert transfer <= r.total_cycles <= transfer + r.compute_cycles + r.onchip_stall_cycles + 1


def test_requantization_throughput_costs_cycles(unlimited_hw):
    slow = dataclasses.replace(unlimited_hw, requant_outputs_per_cycle=1)
    fast = simulate_layer(BIG, unlimited_hw, 8, 8, "ws")
    r = simulate_layer(BIG, slow, 8, 8, "ws")
    assert r.onchip_stall_cycles > 0
    # every output passes the one-per-cycle requantizer: at least M*N cycles of the last folds
    assert r.total_cycles >= BIG.gemm_m * BIG.gemm_n
    assert fast.stall_cycles == 0


def test_network_totals_add_up(paper_hw):
    layers = layers_from_model_name("resnet18")
    res = simulate_network(layers, paper_hw, (4, 8))
    total = res.total()
    assert len(layers) == 21
    assert total["total_cycles"] == sum(r.total_cycles for r in res.layers)
    assert total["macs"] == 1_814_073_344
    assert total["latency_ms"] == pytest.approx(total["total_cycles"] / 500e3)
    for r in res.layers:
        assert r.total_cycles == r.compute_cycles + r.stall_cycles


# ---------------------------------------------------------------------------------------------
# A plain-Python reference of the same schedule: enumerates PEs every step (no closed forms),
# steps every fold (no reuse of identical folds).  Small layers only.
# ---------------------------------------------------------------------------------------------


def _reference_demand(df, t, R, sr, sc, T, final, if_bits, f_bits, out_bits, scale_bits, g, sr_g, sc_g):
    """Demand at step t, enumerating PEs; ``g`` > 1 packs g groups block-diagonally (real PEs on the diagonal)."""
    real = (lambda r, c: r // sr_g == c // sc_g) if g > 1 else (lambda r, c: True)
    if df == 0:
        d_if = sum(1 for r in range(sr) if r <= t <= r + T - 1) * if_bits
        d_f = sum(1 for c in range(sc) if c <= t <= c + T - 1) * f_bits + (sc * scale_bits if t == 0 else 0)
        n_out = sum(1 for r in range(sr) for c in range(sc) if r + c + T - 1 == t and real(r, c))
    else:
        stream = sum(1 for r in range(sr) if R + r <= t <= R + r + T - 1)
        load = sum(1 for c in range(sc) if real(t, c)) if t < sr else 0
        n_out = sum(1 for c in range(sc) for m in range(T) if 2 * R - 1 + c + m == t)
        if df == 1:
            d_if, d_f = stream * if_bits, load * f_bits + (sc * scale_bits if final and t == 0 else 0)
        else:
            d_if, d_f = load * if_bits, stream * f_bits + (scale_bits if final and R <= t < R + T else 0)
    return d_if, d_f, n_out * out_bits


def reference_onchip(layer, hw, wbits, abits, dataflow):
    """(compute cycles incl. on-chip stalls and the final drain, stall cycles) at unlimited DRAM bandwidth.  Rates
    given as fractions.Fraction are stepped in exact arithmetic."""
    m = map_layer(layer, hw, wbits, abits, dataflow)
    R, C, T, pf = m.rows, m.cols, m.t, m.fusion
    if_bits, f_bits = pf * abits, pf * wbits
    acc, scale = hw.accumulator_bits, hw.scale_bits
    bw = [8 * b if b else math.inf for b in hw.sram_bytes_per_cycle]
    requant = hw.requant_outputs_per_cycle or math.inf
    plan = plan_traffic(layer_tiles(layer, m, wbits, abits, abits, hw),
                        tuple(kib * 4096 for kib in hw.sram_kib))
    folds = []
    for gb in range(math.ceil(m.groups / m.groups_per_fold)):
        g = min(m.groups_per_fold, m.groups - gb * m.groups_per_fold)
        nr, nc = m.row_folds, m.col_folds
        n_in = nc if plan.rows_outer else nr
        for b in range(math.ceil(n_in / plan.block)):
            for o in range(nr if plan.rows_outer else nc):
                for q in range(b * plan.block, min(n_in, (b + 1) * plan.block)):
                    i, j = (o, q) if plan.rows_outer else (q, o)
                    sr = g * m.sr if m.groups_per_fold > 1 else min(R, m.sr - i * R)
                    sc = g * m.sc if m.groups_per_fold > 1 else min(C, m.sc - j * C)
                    folds.append((sr, sc, m.dataflow == 0 or i == nr - 1, g if m.groups_per_fold > 1 else 1))
    # FIFO capacities: bandwidth plus the largest single-step demand of the largest fold, taken as
    # finishing (scales read); the psum queue at accumulator width, the requantizer queue at output width
    sr_max, sc_max = max(f[0] for f in folds), max(f[1] for f in folds)
    g_max = max(f[3] for f in folds)
    demand = lambda ob: [_reference_demand(m.dataflow, t, R, sr_max, sc_max, T, True, if_bits, f_bits, ob, scale,
                                           g_max, m.sr, m.sc) for t in range(m.fold_cycles())]
    acc_d, out_d = demand(acc), demand(abits)
    rq = requant * abits
    psum_port = None if hw.psum_via_ofmap else (8 * hw.psum_bytes_per_cycle if hw.psum_bytes_per_cycle else math.inf)
    cap = [bw[0] + max(d[0] for d in acc_d), bw[1] + max(d[1] for d in acc_d),
           (bw[2] if psum_port is None else psum_port) + max(d[2] for d in acc_d),
           min(bw[2], rq) + max(d[2] for d in out_d)]
    level = [cap[0], cap[1], 0, 0]

    def cycle(d, final):
        level[0] = min(level[0] + bw[0], cap[0])
        level[1] = min(level[1] + bw[1], cap[1])
        q = 3 if final else 2
        fired = level[0] >= d[0] and level[1] >= d[1] and level[q] + d[2] <= cap[q]
        if fired:
            level[0] -= d[0]
            level[1] -= d[1]
            level[q] += d[2]
        x = min(level[3], rq, bw[2])
        level[3] -= x
        level[2] = max(level[2] - ((bw[2] - x) if psum_port is None else psum_port), 0)  # shared or own port
        return fired

    cycles = stalls = 0
    for sr, sc, final, g in folds:
        for t in range(m.fold_cycles()):
            d = _reference_demand(m.dataflow, t, R, sr, sc, T, final, if_bits, f_bits, abits if final else acc, scale,
                                  g, m.sr, m.sc)
            while True:
                cycles += 1
                if cycle(d, final):
                    break
                stalls += 1
    tail = hw.requant_latency_cycles
    while level[2] > 0 or level[3] > 0:  # the queues drain before the layer ends
        cycle((0, 0, 0), True)
        tail += 1
    return cycles + tail, stalls + tail


SMALL = [
    Layer("edge", "conv", 11, 11, 7, 9, 9, 40, 3, 3, 1, 1),  # partial folds on both axes
    Layer("dw", "conv", 9, 9, 12, 7, 7, 12, 3, 3, 1, 12),  # depthwise
    Layer("fc", "linear", 1, 1, 100, 1, 1, 37, batch=3),
]


@pytest.mark.parametrize("layer", SMALL, ids=lambda layer: layer.name)
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("bits", [(8, 8), (2, 2), (2, 8), (8, 2)])
@pytest.mark.parametrize("psum", ["ofmap", 3.0, None])
def test_kernel_equals_plain_reference(paper_hw, layer, dataflow, bits, psum):
    hw = dataclasses.replace(paper_hw, rows=4, cols=8, dram_gb_per_s=None, requant_outputs_per_cycle=3,
                             sram_bytes_per_cycle=Buffers(3.0, 5.0, 2.0), requant_latency_cycles=2,
                             fold_overlap=False, psum_via_ofmap=psum == "ofmap",
                             psum_bytes_per_cycle=None if psum == "ofmap" else psum)
    r = simulate_layer(layer, hw, *bits, dataflow=dataflow, search=False)  # the kernel on SCALE-Sim's schedule
    cycles, stalls = reference_onchip(layer, hw, *bits, dataflow)
    assert r.onchip_stall_cycles == stalls
    assert r.total_cycles == cycles  # timing hwsim: every cycle counted, the output queue drained
    unlimited = dataclasses.replace(hw, requant_outputs_per_cycle=None, sram_bytes_per_cycle=Buffers(None, None, None),
                                    requant_latency_cycles=0)
    exact = simulate_layer(layer, dataclasses.replace(unlimited, timing="scalesim"), *bits, dataflow=dataflow)
    if layer.groups == 1:
        assert exact.total_cycles == simulate_layer(layer, unlimited, *bits, dataflow=dataflow,
                                                    search=False).total_cycles - 1
    else:  # SCALE-Sim runs a grouped layer as one layer per group
        one = dataclasses.replace(layer, in_channels=layer.in_channels // layer.groups,
                                  out_channels=layer.out_channels // layer.groups, groups=1)
        assert exact.total_cycles == layer.groups * simulate_layer(
            one, dataclasses.replace(unlimited, timing="scalesim"), *bits, dataflow=dataflow).total_cycles


@pytest.mark.parametrize("config", ["bitfusion_16x32", "bitfusion_16x32_starved"])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_reusing_identical_folds_is_exact(config, dataflow):
    from hwsim.config import load_config

    from conftest import CONFIGS

    hw = load_config(CONFIGS / f"{config}.yaml")
    layers = layers_from_model_name("resnet18")
    for layer in (layers[0], layers[5], layers[9], layers[-1]):  # stem, downsample, 3x3, fc
        for bits in ((2, 2), (8, 2), (4, 8)):
            fast = simulate_layer(layer, hw, *bits, dataflow=dataflow, search=False)
            slow = simulate_layer(layer, hw, *bits, dataflow=dataflow, reuse_folds=False, search=False)
            assert fast == slow, (layer.name, bits)
