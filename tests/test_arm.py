"""The Cortex-A53 model: its kernel point, widening, the shipped boards against their measurements, threads and clock."""

import dataclasses

import pytest

from hwsim.arm import FALLBACK_NOTE, _ops_per_block, kernel_block, max_product
from hwsim.config import load_config
from hwsim.errors import HwsimError
from hwsim.targets import simulate_layer, simulate_network
from hwsim.workload import layers_from_model_name

from conftest import CONFIGS, ROOT

MEAS = CONFIGS / "measurements"
BOARDS = {"cortex_a53_sd410": "ncnn_sd410.csv", "cortex_a53_rpi3bplus": "ncnn_rpi3bplus.csv"}


@pytest.fixture(scope="module")
def a53():
    return load_config(CONFIGS / "cortex_a53_rpi3b.yaml")


def test_8bit_kernel_is_xnnpack_a53_point(a53):
    # XNNPACK qs8-gemm 2x8c8 ...-cortex-a53: 256 MACs in 74 cycles
    blk = kernel_block(a53, 8, 8)
    assert (blk["path"], blk["macs"], blk["cycles"]) == ("int16", 256, pytest.approx(74.0))


@pytest.mark.parametrize("w,a,product,path,widen_every", [
    (2, 2, 2, "int8", 63),        # 2^1 * (2^1 - 1): 63 products per int8 lane before widening
    (2, 4, 8, "int8", 15),        # 2^3 * 1
    (4, 4, 56, "int8", 2),        # 2^3 * 7
    (4, 8, 896, "int16", 36),     # too big for int8 lanes: int16, widen every 36
    (8, 8, 16256, "int16", 2),    # 128 * 127: SMULL + SMLAL, then SADALP (XNNPACK)
])
def test_widening_interval(w, a, product, path, widen_every):
    assert max_product(w, a) == product
    assert _ops_per_block(w, a)[2] == path
    assert (127 if path == "int8" else 32767) // product == widen_every


def _network_ms(hw, model, threads, clock=None):
    run = hw.with_threads(threads)
    run = run if clock is None else run.with_clock(clock)
    return simulate_network(layers_from_model_name(model), run, (8, 8)).latency_ms


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_boards_reproduce_their_calibration_within_15_percent(board):
    """Every calibration figure within 15%, and each network's 1-to-4-thread ratio within 15% of the measured one."""
    from hwsim.calibrate import read_measurements

    hw = load_config(CONFIGS / f"{board}.yaml")
    rows = read_measurements(MEAS / BOARDS[board])
    assert len(rows) == 4 and {r.threads for r in rows} == {1, 4}
    got = {(r.model, r.threads): _network_ms(hw, r.model, r.threads, r.clock_mhz) for r in rows}
    want = {(r.model, r.threads): r.latency_ms for r in rows}
    for key in want:
        assert abs(got[key] / want[key] - 1) < 0.15, (key, got[key], want[key])
    for model in ("resnet18", "resnet50"):
        ratio, measured = got[model, 1] / got[model, 4], want[model, 1] / want[model, 4]
        assert abs(ratio / measured - 1) < 0.15, (model, ratio, measured)


def test_pi_scales_worse_than_the_phone_because_of_its_memory():
    """Same cores, same kernels: the Pi 3B+ gains ~2x from 4 threads, the Snapdragon 410 ~3x (ncnn)."""
    pi, phone = (load_config(CONFIGS / f"{b}.yaml") for b in ("cortex_a53_rpi3bplus", "cortex_a53_sd410"))
    pi_gain = _network_ms(pi, "resnet18", 1) / _network_ms(pi, "resnet18", 4)
    phone_gain = _network_ms(phone, "resnet18", 1) / _network_ms(phone, "resnet18", 4)
    assert pi_gain < 2.3 < 2.7 < phone_gain
    assert pi.dram_gb_per_s < phone.dram_gb_per_s


def test_pis_share_the_phones_core_constants_and_the_3b_is_derived_from_the_3bplus():
    import importlib.util

    spec = importlib.util.spec_from_file_location("boards", ROOT / "scripts" / "boards.py")
    boards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(boards)
    text = {n: (CONFIGS / f"cortex_a53_{n}.yaml").read_text() for n in ("sd410", "rpi3bplus", "rpi3b")}
    assert boards.share(text["sd410"], text["rpi3bplus"]) == text["rpi3bplus"]
    assert boards.derive(text["rpi3bplus"]) == text["rpi3b"]
    phone, bplus, b = (load_config(CONFIGS / f"cortex_a53_{n}.yaml") for n in ("sd410", "rpi3bplus", "rpi3b"))
    assert b.clock_mhz == 1200 and bplus.clock_mhz == 1400
    assert b.dram_gb_per_s == pytest.approx(bplus.dram_gb_per_s * 0.9, rel=1e-5)
    assert phone.memory_overlap == bplus.memory_overlap == b.memory_overlap


def test_threads_and_clock_scale_latency(a53):
    layers = layers_from_model_name("resnet18")
    one, four = (simulate_network(layers, a53.with_threads(t), (8, 8)).latency_ms for t in (1, 4))
    assert 1.5 < one / four < 4.0
    slow = simulate_network(layers, a53.with_clock(600), (8, 8)).latency_ms
    assert four < slow < 2 * four  # half the clock: compute doubles, DRAM time does not
    with pytest.raises(HwsimError, match="allowed: 1 to 4"):
        a53.with_threads(5)


def test_low_bit_gain_is_a_few_x_not_16x(a53):
    layers = layers_from_model_name("resnet18")
    t88 = simulate_network(layers, a53, (8, 8)).latency_ms
    t44 = simulate_network(layers, a53, (4, 4)).latency_ms
    t22 = simulate_network(layers, a53, (2, 2)).latency_ms
    assert 1.2 < t88 / t22 < 3.0
    assert t22 <= t44 < t88


def test_int8_3x3_runs_winograd_as_ncnn_does(a53):
    layer = {x.name: x for x in layers_from_model_name("resnet18")}["layer1.0.conv1"]
    r88 = simulate_layer(layer, a53, 8, 8)
    assert r88.dataflow == "winograd F(4,3)" and "library's rule" in r88.note
    off = dataclasses.replace(a53, winograd_tile=0)
    assert simulate_layer(layer, off, 8, 8).dataflow == "im2col w8a8"


def test_lower_bits_never_slower_on_dense_layers(a53):
    from conftest import assert_lower_bits_never_slower

    layer = layers_from_model_name("resnet18")[7]
    assert_lower_bits_never_slower(lambda w, a: simulate_layer(layer, a53, w, a).total_cycles)


def test_depthwise_is_marked_and_costed_as_int8_fallback(a53):
    layers = {layer.name: layer for layer in layers_from_model_name("mobilenet_v2")}
    dw, pw = layers["features.2.conv.1.0"], layers["features.2.conv.2"]
    r22, r88 = simulate_layer(dw, a53, 2, 2), simulate_layer(dw, a53, 8, 8)
    assert r22.note == r88.note == FALLBACK_NOTE
    assert r22.compute_cycles == r88.compute_cycles  # no low-bit gain in the fallback
    assert simulate_layer(pw, a53, 2, 2).note == ""
    assert simulate_layer(pw, a53, 2, 2).compute_cycles < simulate_layer(pw, a53, 8, 8).compute_cycles
    # the fallback pads each 1-channel group: K=9 -> 16 lanes, M=1 -> 2 rows
    assert r88.mapping_efficiency == pytest.approx(9 / 16 / 2, rel=0.01)


def test_requested_bits_outside_config(a53):
    only8 = dataclasses.replace(a53, bits=(8,))
    with pytest.raises(HwsimError, match="not supported by cortex_a53_rpi3b; allowed: 8"):
        simulate_layer(layers_from_model_name("resnet18")[0], only8, 4, 8)
