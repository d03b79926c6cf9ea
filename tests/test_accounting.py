"""Simulator accounting as invariants over random layers and configs (hypothesis, 500 examples each): every
byte and every cycle counted as the hardware would.  Timing mode hwsim (physical cycles)."""

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.config import Buffers, SystolicConfig
from hwsim.layers import Layer
from hwsim.systolic import simulate_layer
from hwsim.systolic.dram import NO_PSUM, ONCE, PER_BLOCK, PER_FOLD, PER_OUTER, PSUM_AT_BLOCKS, PSUM_KEPT, \
    PSUM_PER_FOLD, fold_traffic, plan_traffic, plans
from hwsim.systolic.mapping import map_layer
from hwsim.systolic.simulate import layer_tiles
from hwsim.targets import simulate_network

PROPS = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
BITS = st.sampled_from([2, 4, 8])


@st.composite
def layers(draw):
    """A small conv (odd sizes, strides), a depthwise or grouped conv, or a GEMM."""
    kind = draw(st.sampled_from(["conv", "depthwise", "grouped", "gemm", "linear"]))
    if kind in ("gemm", "linear"):
        m, k, n = draw(st.integers(1, 70)), draw(st.integers(1, 90)), draw(st.integers(1, 70))
        if kind == "gemm":
            return Layer("g", "gemm", m, k, 1, m, 1, n, 1, k, 1, 1)
        return Layer("fc", "linear", 1, 1, k, 1, 1, n, batch=m)
    kh = draw(st.sampled_from([1, 3, 5]))
    stride = draw(st.sampled_from([1, 2]))
    h = draw(st.integers(kh, 13))
    oh = (h - kh) // stride + 1
    if kind == "depthwise":
        c = draw(st.integers(1, 40))
        return Layer("dw", "conv", h, h, c, oh, oh, c, kh, kh, stride, c, draw(st.integers(1, 2)))
    groups = draw(st.sampled_from([1, 2, 3])) if kind == "grouped" else 1
    cin, cout = groups * draw(st.integers(1, 12)), groups * draw(st.integers(1, 12))
    return Layer("c", "conv", h, h, cin, oh, oh, cout, kh, kh, stride, groups, draw(st.integers(1, 2)))


def _bw(draw, lo, hi):
    return draw(st.one_of(st.none(), st.floats(lo, hi)))


@st.composite
def configs(draw):
    """A random valid systolic config (timing hwsim)."""
    psum = draw(st.one_of(st.just("ofmap"), st.none(), st.floats(0.5, 64)))
    return SystolicConfig(
        name="random", rows=draw(st.integers(1, 24)), cols=draw(st.integers(1, 24)),
        dataflow=draw(st.sampled_from(["os", "ws", "is"])), clock_mhz=500.0, bits=(2, 4, 8),
        sram_kib=Buffers(*(draw(st.sampled_from([0.0625, 0.25, 1.0, 4.0, 64.0])) for _ in range(3))),
        sram_bytes_per_cycle=Buffers(*(_bw(draw, 0.5, 64) for _ in range(3))),
        dram_gb_per_s=draw(st.one_of(st.none(), st.floats(0.5, 50))),
        requant_outputs_per_cycle=draw(st.one_of(st.none(), st.floats(0.25, 64))),
        scale_bits=draw(st.sampled_from([0, 8, 16])), accumulator_bits=32,
        requant_latency_cycles=draw(st.integers(0, 8)), timing="hwsim",
        psum_via_ofmap=psum == "ofmap", psum_bytes_per_cycle=None if psum == "ofmap" else psum)


def compulsory_bits(layer: Layer, hw, w: int, a: int) -> float:
    """Each operand read once and each output written once, at their bit-widths."""
    ifmap = layer.groups * min(layer.gemm_m * layer.gemm_k, layer.ifmap_elements // layer.groups) * a
    weights = layer.weight_count * w + layer.out_channels * hw.scale_bits
    return ifmap + weights + layer.groups * layer.gemm_m * layer.gemm_n * a


@pytest.mark.slow
@PROPS
@given(layers(), configs(), BITS, BITS)
def test_cycles_respect_every_lower_bound(layer, hw, w, a):
    r = simulate_layer(layer, hw, w, a)
    pf = hw.fusion_factor(w, a)
    assert r.total_cycles >= 1
    assert r.total_cycles >= layer.macs / (hw.rows * hw.cols * pf)
    assert 0 < r.utilization <= 1.0 + 1e-12 and 0 < r.mapping_efficiency <= 1.0 + 1e-12
    assert r.compute_utilization <= 1.0 + 1e-12
    if hw.dram_gb_per_s is not None:
        bpc = hw.dram_bytes_per_cycle()
        assert r.total_cycles >= (r.dram_read_bytes + r.dram_write_bytes - 2) / bpc  # bytes round up per side
    if hw.requant_outputs_per_cycle is not None:
        outputs = layer.groups * layer.gemm_m * layer.gemm_n
        assert r.total_cycles >= outputs / hw.requant_outputs_per_cycle
    assert r.total_cycles == r.compute_cycles + r.stall_cycles


@pytest.mark.slow
@PROPS
@given(layers(), configs(), BITS, BITS)
def test_dram_bytes_are_at_least_the_compulsory_traffic(layer, hw, w, a):
    r = simulate_layer(layer, hw, w, a)
    assert 8 * (r.dram_read_bytes + r.dram_write_bytes) >= compulsory_bits(layer, hw, w, a)
    assert 8 * r.dram_write_bytes >= layer.groups * layer.gemm_m * layer.gemm_n * a


@PROPS
@given(layers(), configs(), BITS, BITS, st.integers(0, 2), st.sampled_from([2.0, 4.0, 16.0]))
def test_dram_bytes_never_grow_with_a_buffer(layer, hw, w, a, which, factor):
    """For the byte-optimal schedule (the cycle-optimal one may trade a few bytes for cycles)."""
    r = simulate_layer(layer, hw, w, a, search=False)
    sizes = list(hw.sram_kib)
    sizes[which] *= factor
    bigger = simulate_layer(layer, dataclasses.replace(hw, sram_kib=Buffers(*sizes)), w, a, search=False)
    assert bigger.dram_read_bytes + bigger.dram_write_bytes <= r.dram_read_bytes + r.dram_write_bytes


def _closed_form(t, plan) -> tuple[float, float]:
    """(read bits, write bits) of one group batch under ``plan`` from the rules of hwsim.systolic.dram's docstring,
    counted in closed form (an oracle written apart from the fold-by-fold count the simulator uses)."""
    nr, nc = len(t.row), len(t.out_col)
    nblk = math.ceil((nc if plan.rows_outer else nr) / plan.block)
    outer_times = {ONCE: 1, PER_OUTER: nblk}
    if plan.rows_outer:  # row folds outer: the row operand follows the outer loop, the column one the inner
        row_rd = t.row.sum() * outer_times.get(plan.row_mode, nc)
        col_rd = t.col.sum() * (1 if plan.col_mode == PER_BLOCK else nr)
    else:
        row_rd = t.row.sum() * (1 if plan.row_mode == PER_BLOCK else nc)
        col_rd = t.col.sum() * outer_times.get(plan.col_mode, nr)
    fold_rd = sum(t.fold_tile(i, j) for i in range(nr) for j in range(nc))
    out_wr = t.out_row.sum() * t.out_col.sum() if t.df == 0 else t.out_col.sum()
    spills = {NO_PSUM: 0, PSUM_KEPT: 0, PSUM_AT_BLOCKS: nblk - 1, PSUM_PER_FOLD: nr - 1}[plan.psum_mode]
    psum = spills * t.psum.sum()  # each spill writes a tile out and reads it back
    return row_rd + col_rd + fold_rd + psum, out_wr + psum


@PROPS
@given(layers(), configs(), BITS, BITS)
def test_fold_by_fold_traffic_equals_the_closed_form(layer, hw, w, a):
    """Every plan's traffic equals the closed form of the loading rules twice over: the totals the search ranks plans
    by (hwsim.systolic.dram.plans, a closed form of its own) and the fold-by-fold count the kernel pipelines
    (hwsim.systolic.dram.fold_traffic); and a layer's result reports its plan's traffic."""
    m = map_layer(layer, hw, w, a)
    batches = layer_tiles(layer, m, w, a, a, hw)
    half = tuple(kib * 4096 for kib in hw.sram_kib)
    for plan in plans(batches, half, family="all"):
        assert plan.row_mode in (ONCE, PER_OUTER, PER_BLOCK, PER_FOLD) and plan.col_mode in (ONCE, PER_OUTER,
                                                                                               PER_BLOCK, PER_FOLD)
        rd = sum(_closed_form(t, plan)[0] * count for t, count in batches)
        wr = sum(_closed_form(t, plan)[1] * count for t, count in batches)
        assert (plan.read_bits, plan.write_bits) == (rd, wr), plan
        walked = fold_traffic(batches, plan)
        assert (walked.read_bits, walked.write_bits) == (rd, wr), plan
    plan = plan_traffic(batches, half)
    r = simulate_layer(layer, hw, w, a, search=False)  # the byte-optimal plan
    assert r.dram_read_bytes == math.ceil(round(plan.read_bits, 6) / 8)
    assert r.dram_write_bytes == math.ceil(round(plan.write_bits, 6) / 8)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(layers(), min_size=2, max_size=4), configs(), st.randoms())
def test_results_do_not_depend_on_layer_order(layer_list, hw, rnd):
    named = [dataclasses.replace(layer, name=f"L{i}") for i, layer in enumerate(layer_list)]
    shuffled = named[:]
    rnd.shuffle(shuffled)
    a = {r.name: r for r in simulate_network(named, hw, (4, 4)).layers}
    b = {r.name: r for r in simulate_network(shuffled, hw, (4, 4)).layers}
    assert a == b


def test_packed_depthwise_counts_only_real_outputs_and_pes(paper_hw):
    """A 3x3 depthwise layer with a 1x1 output: 64 real outputs, not a dense 16x16 block per fold."""
    unlimited = dataclasses.replace(paper_hw, dram_gb_per_s=None, sram_bytes_per_cycle=Buffers(None, None, None),
                                    requant_outputs_per_cycle=None)
    dw = Layer("dw", "conv", 3, 3, 64, 1, 1, 64, 3, 3, 1, 64)
    for df in ("os", "ws"):
        r = simulate_layer(dw, unlimited, 2, 2, df, search=False)  # the full array (the search may use less)
        assert r.sram_ofmap_bytes == 64 * 2 // 8  # 64 outputs at 2 bits
        assert r.dram_write_bytes == 16
        m = map_layer(dw, unlimited, 2, 2, df)
        assert m.groups_per_fold == 16
        assert r.mapping_efficiency == pytest.approx(16 / (16 * 32))  # 16 real PEs of 512 per fold
        assert r.utilization < 0.05
    ws = simulate_layer(dw, unlimited, 2, 2, "ws", search=False)
    assert ws.sram_filter_bytes * 8 == 64 * 16 * 2 + 64 * unlimited.scale_bits  # 9 weights fused in 16 lanes


def test_a_tile_that_does_not_fit_is_restreamed(paper_hw):
    """ResNet-18 layer4.0.conv2 on the paper's array: the 147,456 B filter column tiles (+ scales) cannot stay in
    a 32 KiB half-buffer (not even the 64 KiB buffer), so they are re-read for each of the 4 row folds."""
    conv = Layer("layer4.0.conv2", "conv", 9, 9, 512, 7, 7, 512, 3, 3, 1, 1)
    r = simulate_layer(conv, paper_hw, 8, 8, search=False)
    filt = 512 * 4608 + 512 * 2  # weights + 16-bit scales, bytes
    ifmap = 4608 * 49  # im2col rows capped by the real input (9 x 9 x 512 = 41,472 < 225,792)
    assert r.dram_read_bytes == 4 * filt + 9 * 9 * 512  # 9,445,376 + 41,472
    big = dataclasses.replace(paper_hw, sram_kib=Buffers(32, 8192, 16))  # all 16 column tiles fit a half
    assert simulate_layer(conv, big, 8, 8, search=False).dram_read_bytes == filt + 9 * 9 * 512
    assert ifmap > 9 * 9 * 512


@pytest.mark.slow
def test_requantizer_queue_drains_before_the_layer_ends(paper_hw):
    slow = dataclasses.replace(paper_hw, requant_outputs_per_cycle=0.1, dataflow="ws", requant_latency_cycles=0)
    conv = Layer("layer4.0.conv2", "conv", 9, 9, 512, 7, 7, 512, 3, 3, 1, 1)
    r = simulate_layer(conv, slow, 2, 2)
    assert r.total_cycles >= 49 * 512 / 0.1  # 250,880: every output passes the requantizer
    fixed = simulate_layer(conv, slow, 2, 2, search=False)
    lat = dataclasses.replace(slow, requant_latency_cycles=7)
    assert simulate_layer(conv, lat, 2, 2, search=False).total_cycles == fixed.total_cycles + 7


def test_byte_counts_are_exact(paper_hw):
    """A 1x1 conv writes every output byte (no float flooring: 100,352, not 100,351)."""
    conv = Layer("pw", "conv", 28, 28, 64, 28, 28, 128)
    r = simulate_layer(conv, paper_hw, 8, 8)
    assert r.dram_write_bytes == 28 * 28 * 128
    tiny = dataclasses.replace(paper_hw, rows=1, cols=1, sram_bytes_per_cycle=Buffers(None, None, None),
                               dram_gb_per_s=None, requant_outputs_per_cycle=None, requant_latency_cycles=0)
    one = simulate_layer(Layer("one", "gemm", 1, 1, 1, 1, 1, 1), tiny, 8, 8)
    assert one.total_cycles == 1 and one.utilization == 1.0
    two = simulate_layer(Layer("k2", "gemm", 1, 2, 1, 1, 1, 1, 1, 2), tiny, 8, 8)
    assert two.total_cycles == 2 and two.utilization == 1.0
    exact = simulate_layer(Layer("k2", "gemm", 1, 2, 1, 1, 1, 1, 1, 2), dataclasses.replace(tiny, timing="scalesim"),
                           8, 8)
    assert exact.total_cycles == 1  # SCALE-Sim reports the index of the last cycle


def test_batch_grows_traffic_at_most_in_proportion(paper_hw):
    base = Layer("ds", "conv", 14, 14, 256, 7, 7, 512, 1, 1, 2, 1)  # ResNet-18 layer4.0.downsample.0
    r1 = simulate_layer(base, paper_hw, 8, 8, search=False)
    r4 = simulate_layer(dataclasses.replace(base, batch=4), paper_hw, 8, 8, search=False)
    ratio = (r4.dram_read_bytes + r4.dram_write_bytes) / (r1.dram_read_bytes + r1.dram_write_bytes)
    assert ratio <= 4.0
