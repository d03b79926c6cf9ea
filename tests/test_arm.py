"""The Cortex-A53 low-bit GEMM model: its kernel point, the published calibration anchors, bit scaling."""

import pytest

from hwsim.arm import FALLBACK_NOTE, _ops_per_block, kernel_block, max_product
from hwsim.config import load_config
from hwsim.targets import simulate_layer, simulate_network
from hwsim.workload import layers_from_model_name

from conftest import CONFIGS


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


def test_calibration_anchors_within_25_percent(a53):
    # ncnn int8, 4x A53 @ 1.2 GHz (Snapdragon 410): ResNet-18 106.8 ms, ResNet-50 323.2 ms
    r18 = simulate_network(layers_from_model_name("resnet18"), a53, (8, 8)).latency_ms
    r50 = simulate_network(layers_from_model_name("resnet50"), a53, (8, 8)).latency_ms
    assert abs(r18 / 106.8 - 1) < 0.25, r18
    assert abs(r50 / 323.2 - 1) < 0.25, r50


def test_low_bit_gain_is_a_few_x_not_16x(a53):
    layers = layers_from_model_name("resnet18")
    t88 = simulate_network(layers, a53, (8, 8)).latency_ms
    t22 = simulate_network(layers, a53, (2, 2)).latency_ms
    t44 = simulate_network(layers, a53, (4, 4)).latency_ms
    assert 1.5 < t88 / t22 < 3.0
    assert t22 < t44 < t88


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
    import dataclasses

    from hwsim.errors import HwsimError

    only8 = dataclasses.replace(a53, bits=(8,))
    with pytest.raises(HwsimError, match="not supported by cortex_a53_rpi3b; allowed: 8"):
        simulate_layer(layers_from_model_name("resnet18")[0], only8, 4, 8)
