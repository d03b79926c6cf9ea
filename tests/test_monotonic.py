"""More hardware is never slower (timing hwsim): property tests over random layers and configs.

Each test draws a layer (conv, depthwise, grouped, GEMM; odd sizes) and a valid config, makes one
resource better, and checks that the best schedule's cycles do not grow.  500 examples each
(``HWSIM_MONO_EXAMPLES`` overrides).
"""

import pytest
import dataclasses
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.config import Buffers
from hwsim.systolic import simulate_layer

from test_accounting import configs, layers

PROPS = settings(max_examples=int(os.environ.get("HWSIM_MONO_EXAMPLES", 500)), deadline=None,
                 suppress_health_check=list(HealthCheck), derandomize=True)
BITS = st.sampled_from([2, 4, 8])


def _cycles(layer, hw, w, a):
    return simulate_layer(layer, hw, w, a).total_cycles


def _msg(layer, hw, *rest):
    return f"{layer}\n{hw}\n{rest}"


@pytest.mark.slow
@PROPS
@given(layers(), configs(), BITS, BITS, BITS, BITS)
def test_fewer_bits_never_slower(layer, hw, w, a, w2, a2):
    lo_w, hi_w = sorted((w, w2))
    lo_a, hi_a = sorted((a, a2))
    slow, fast = _cycles(layer, hw, hi_w, hi_a), _cycles(layer, hw, lo_w, lo_a)
    assert fast <= slow, _msg(layer, hw, (lo_w, lo_a), fast, (hi_w, hi_a), slow)


@pytest.mark.slow
@PROPS
@given(layers(), configs(), BITS, BITS, st.sampled_from(["ifmap", "filter", "ofmap", "dram", "psum", "requant"]),
       st.sampled_from([1.5, 2.0, 8.0, None]))
def test_more_bandwidth_never_slower(layer, hw, w, a, which, factor):
    scale = (lambda v: None if v is None or factor is None else v * factor)
    if which in ("ifmap", "filter", "ofmap"):
        bw = hw.sram_bytes_per_cycle._replace(**{which: scale(getattr(hw.sram_bytes_per_cycle, which))})
        better = dataclasses.replace(hw, sram_bytes_per_cycle=bw)
    elif which == "dram":
        better = dataclasses.replace(hw, dram_gb_per_s=scale(hw.dram_gb_per_s))
    elif which == "psum":
        better = dataclasses.replace(hw, psum_bytes_per_cycle=scale(hw.psum_bytes_per_cycle))
    else:
        better = dataclasses.replace(hw, requant_outputs_per_cycle=scale(hw.requant_outputs_per_cycle))
    base, fast = _cycles(layer, hw, w, a), _cycles(layer, better, w, a)
    assert fast <= base, _msg(layer, hw, which, factor, base, fast)


@pytest.mark.slow
@PROPS
@given(layers(), configs(), BITS, BITS, st.integers(0, 2), st.sampled_from([1.5, 2.0, 4.0, 64.0]))
def test_bigger_buffer_never_slower(layer, hw, w, a, which, factor):
    sizes = list(hw.sram_kib)
    sizes[which] *= factor
    better = dataclasses.replace(hw, sram_kib=Buffers(*sizes))
    base, fast = _cycles(layer, hw, w, a), _cycles(layer, better, w, a)
    assert fast <= base, _msg(layer, hw, which, factor, base, fast)


@pytest.mark.slow
@PROPS
@given(layers(), configs(), BITS, BITS, st.integers(0, 8), st.integers(0, 8))
def test_bigger_array_never_slower(layer, hw, w, a, more_rows, more_cols):
    better = dataclasses.replace(hw, rows=hw.rows + more_rows, cols=hw.cols + more_cols)
    base, fast = _cycles(layer, hw, w, a), _cycles(layer, better, w, a)
    assert fast <= base, _msg(layer, hw, (more_rows, more_cols), base, fast)


# ---- the ARM model: the same checks where they apply (no array, no buffers but L2) ----

from conftest import CONFIGS  # noqa: E402
from hwsim.arm import simulate_layer_arm  # noqa: E402
from hwsim.layers import Layer  # noqa: E402
from hwsim.config import load_config  # noqa: E402

A53 = load_config(CONFIGS / "cortex_a53_rpi3b.yaml")


@PROPS
@given(layers(), BITS, BITS, BITS, BITS)
def test_arm_fewer_bits_never_slower(layer, w, a, w2, a2):
    lo, hi = (min(w, w2), min(a, a2)), (max(w, w2), max(a, a2))
    fast, slow = simulate_layer_arm(layer, A53, *lo), simulate_layer_arm(layer, A53, *hi)
    assert fast.total_cycles <= slow.total_cycles, _msg(layer, A53, lo, hi)


@PROPS
@given(layers(), BITS, BITS, st.sampled_from(["dram", "core", "threads", "clock", "l1", "l2"]),
       st.sampled_from([1.25, 2.0, 8.0]), st.sampled_from(["cortex_a53_rpi3b", "cortex_a53_sd410"]))
def test_arm_more_resources_never_slower(layer, w, a, which, factor, board):
    base_hw = ARM_BOARDS[board]
    if which == "threads":
        base_hw = base_hw.with_threads(1)
        better = base_hw.with_threads(min(base_hw.cores, max(2, int(factor))))
    else:
        field = {"dram": "dram_gb_per_s", "core": "core_gb_per_s", "clock": "clock_mhz", "l1": "l1d_kib",
                 "l2": "l2_kib"}[which]
        better = dataclasses.replace(base_hw, **{field: getattr(base_hw, field) * factor})
    base, fast = simulate_layer_arm(layer, base_hw, w, a), simulate_layer_arm(layer, better, w, a)
    # a faster clock does more cycles of waiting for DRAM in the same time: compare time, not cycles
    assert fast.latency_ms <= base.latency_ms * (1 + 1e-12), _msg(layer, base_hw, which, factor)
    assert fast.total_cycles >= layer.macs / (16 * better.threads)  # never above the NEON peak


ARM_BOARDS = {name: load_config(CONFIGS / f"{name}.yaml") for name in ("cortex_a53_rpi3b", "cortex_a53_sd410")}



GEMMS = st.builds(lambda m, k, n, kind, groups: Layer("g", kind, 1, 1, k * groups, 1, 1, n * groups, groups=groups,
                                                      batch=m),
                  st.integers(1, 300), st.integers(1, 300), st.integers(1, 300), st.sampled_from(["linear", "matmul"]),
                  st.sampled_from([1, 1, 2, 8]))


@settings(PROPS, max_examples=4 * PROPS.max_examples)  # cheap, and the cases it hunts are about 1 in 400
@given(st.one_of(layers(), GEMMS), BITS, BITS, st.sampled_from(["out_channels", "batch"]), st.integers(1, 8),
       st.integers(2, 4), st.sampled_from(["cortex_a53_rpi3b", "cortex_a53_sd410"]))
def test_arm_more_work_never_faster(layer, w, a, which, extra, threads, board):
    # more output channels or more rows (images, tokens), on any number of cores: never faster.  A core runs whole
    # rows or columns of tiles, and only packing and requantization split evenly; when all cycles were spread evenly
    # over the tiles, one partial tile more lowered the busiest core's share (a decode step 746 -> 747 keys).
    hw = ARM_BOARDS[board].with_threads(min(threads, ARM_BOARDS[board].cores))
    grow = layer.groups * extra if which == "out_channels" else extra
    bigger = dataclasses.replace(layer, **{which: getattr(layer, which) + grow})
    small, big = simulate_layer_arm(layer, hw, w, a), simulate_layer_arm(bigger, hw, w, a)
    assert small.total_cycles <= big.total_cycles, _msg(layer, hw, which, extra)
