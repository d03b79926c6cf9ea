"""Quantization that is right on real networks: captures immune to in-place ops, one activation quantizer per
tensor, one precision policy, AdaRound that converges, sensitivities with their noise, and whole-model integer
execution, on the digits model and on random-init ResNet-18 and MobileNetV2."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import randomize_bn

from hwsim.errors import HwsimError
from hwsim.models import build_model
from hwsim.precision import PrecisionPolicy
from hwsim.quant.api import quantize
from hwsim.quant.integer import fixed_point, integer_execution
from hwsim.quant.qmodel import activation_groups, assign_bits, calibrate_activations, quant_layers, set_mode, wrap
from hwsim.quant.quantizers import ActQuantizer, WeightQuantizer
from hwsim.quant.reconstruct import unit_inputs, unit_targets
from hwsim.quant.sensitivity import project_monotone
from hwsim.quant.units import find_units

torch.set_num_threads(2)




@pytest.fixture(scope="module", params=["resnet18", "mobilenet_v2"])
def zoo(request):
    """A random-init zoo model (in-place ReLUs, BN to fold) with 32x32 inputs (small: what is checked is exactness)."""
    torch.manual_seed(0)
    net = randomize_bn(build_model(request.param, num_classes=10))
    assert any(getattr(m, "inplace", False) for m in net.modules())  # the case that used to corrupt captures
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(2))
    return request.param, net, x, y


@pytest.mark.slow
@pytest.mark.parametrize("granularity", ["layer", "block"])
def test_reconstruction_targets_are_the_true_module_outputs(zoo, granularity):
    name, net, x, y = zoo
    x, y = x[:8], y[:8]  # one full forward and backward pass per unit (52 units of MobileNetV2 at layer granularity)
    fp, q = wrap(net, x[:2])
    layers = quant_layers(q, x[:2])
    units = find_units(q, layers, granularity, x[:2])
    for unit in units:  # every unit of the model
        target, fisher = unit_targets(fp, unit, x, y, fisher=True)
        inp = unit_inputs(fp, unit, x)  # the FP model's own input to the unit
        with torch.no_grad():
            true = fp.get_submodule(unit.name)(inp)
        assert torch.allclose(target, true, atol=1e-5, rtol=1e-5), (name, unit.name)
        assert fisher.shape == target.shape and torch.isfinite(fisher).all()
    assert len(units) >= (21 if name == "resnet18" and granularity == "layer" else 10)
    # conv1 feeds a (folded-BN, in-place) ReLU: its target must keep its negative values, and its Fisher
    # weight (gradient w.r.t. the pre-activation) must vanish exactly where the ReLU cut
    first = find_units(q, layers, "layer", x[:2])[0]
    target, fisher = unit_targets(fp, first, x, y, fisher=True, norm="global")
    assert (target < 0).float().mean() > 0.2
    assert fisher[target < 0].abs().max() == 0 and fisher[target > 0].abs().max() > 0


@pytest.mark.slow
def test_integer_execution_of_zoo_models(zoo):
    name, net, x, _ = zoo
    res = quantize(net, x, torch.zeros(len(x), dtype=torch.long), x[:4], torch.zeros(4, dtype=torch.long), (8, 8),
                   method="rtn", progress=False)
    report = integer_execution(res.qmodel, x, x)
    assert report.overflows == 0 and report.residual_saturations == 0
    assert report.top1_agreement >= 0.995, name  # measured: 100% on both
    assert report.max_logit_error <= 0.03 * report.logit_range, (name, report.max_logit_error, report.logit_range)


@pytest.mark.slow
def test_integer_execution_agrees_on_the_digits_model(model, data):
    res = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, (4, 4), iters=30, progress=False)
    report = integer_execution(res.qmodel, data.calib_x, data.test_x, data.test_y)
    assert report.top1_agreement >= 0.995 and report.passed
    assert abs(report.integer_top1 - res.quant_accuracy) <= 0.01
    assert report.accumulator_bits_needed <= 24 and report.max_logit_error < 0.2 * report.logit_range
    rec = report.to_json()
    assert {"top1_agreement", "max_logit_error", "passed", "layers"} <= set(rec)


def test_integer_execution_refuses_what_it_cannot_run(model, data):
    _, q = wrap(model, data.calib_x[:2])
    with pytest.raises(HwsimError, match="needs layer conv1 quantized"):
        integer_execution(q, data.calib_x[:8], data.calib_x[:8])


@settings(max_examples=500, deadline=None)
@given(st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False))
def test_fixed_point_multiplier_is_accurate(m):
    mant, shift = fixed_point(torch.tensor([m], dtype=torch.float64))
    assert 2 ** 30 <= int(mant[0]) < 2 ** 31
    assert abs(int(mant[0]) / 2.0 ** int(shift[0]) - m) <= m * 2.0 ** -30


def test_layers_reading_one_tensor_share_one_quantizer(model, data):
    _, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    groups = activation_groups(layers)
    assert sorted(sorted(g) for g in groups) == [["layer2.0.conv1", "layer2.0.downsample.0"],
                                                  ["layer3.0.conv1", "layer3.0.downsample.0"]]
    lay = dict(layers)
    assert lay["layer2.0.conv1"].aq is lay["layer2.0.downsample.0"].aq
    plan = {n: (4, 8) for n in lay}
    plan["layer2.0.conv1"] = (2, 4)
    applied, notes = assign_bits(q, plan, layers)
    assert applied["layer2.0.conv1"] == (2, 8)  # the tensor is read at the highest bits asked for
    assert any("layer2.0.conv1: w2a4 -> w2a8" in n and "one activation bit-width per tensor" in n for n in notes)
    calibrate_activations(q, layers, data.calib_x[:64])
    set_mode(layers, "nearest", True)
    seen = {}
    for n in ("layer2.0.conv1", "layer2.0.downsample.0"):
        lay[n].register_forward_pre_hook(lambda m, i, n=n: seen.setdefault(n, m.aq(i[0]).clone()))
    with torch.no_grad():
        q(data.calib_x[:16])
    assert torch.equal(seen["layer2.0.conv1"], seen["layer2.0.downsample.0"])


def test_precision_policy_is_one_rule_and_says_what_it_changed(model, data):
    _, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    names = [n for n, _ in layers]
    assert set(PrecisionPolicy().pinned(names)) == {"conv1", "fc"}
    applied, notes = assign_bits(q, (2, 4), layers)
    assert applied["conv1"] == applied["fc"] == (8, 8) and applied["layer1.0.conv1"] == (2, 4)
    assert any(n.startswith("conv1: w2a4 -> w8a8 (first layer") for n in notes)
    applied, notes = assign_bits(q, (2, 4), layers, PrecisionPolicy("none"))
    assert applied["fc"] == (2, 4) and notes == []
    with pytest.raises(HwsimError, match="allowed: first-last-8bit, none"):
        PrecisionPolicy("all-8bit")


@pytest.mark.slow
@pytest.mark.parametrize("bits", [(2, 4), (4, 4)])
def test_adaround_decides_every_rounding_and_hard_matches_soft(model, data, bits):
    res = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, bits, iters=200, progress=False)
    for u in res.units:
        assert u["undecided_fraction"] < 0.01, u
        assert u["hard_loss"] <= 1.10 * u["soft_loss"] + 1e-6, u


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.sampled_from([2, 3, 4, 8]), st.booleans())
def test_quantize_dequantize_is_idempotent(seed, bits, per_channel):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(4, 3, 3, 3, generator=gen) * float(torch.rand(1, generator=gen) * 3 + 0.01)
    wq = WeightQuantizer(w, bits, per_channel)
    wq.mode = "nearest"
    once = wq(w)
    assert torch.allclose(wq(once), once, atol=1e-6 * float(w.abs().max()))
    aq = ActQuantizer(bits)
    x = torch.randn(256, generator=gen)
    aq.initialize(x)
    once = aq(x)
    assert torch.allclose(aq(once), once, atol=1e-6)
    assert len(torch.unique(once)) <= 2 ** bits


@settings(max_examples=500, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=9, max_size=9),
       st.lists(st.floats(1e-4, 1, allow_nan=False), min_size=9, max_size=9))
def test_projection_is_nonnegative_monotone_and_a_fixed_point(values, cis):
    from hwsim.quant.sensitivity import _covering_pairs

    choices = [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
    order = _covering_pairs(choices)
    v = project_monotone(np.array(values), np.array(cis), order)
    assert (v >= 0).all()
    assert all(v[i] >= v[j] for i, j in order)
    assert np.allclose(project_monotone(v, np.array(cis), order), v)

