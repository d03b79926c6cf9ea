"""BRECQ post-training quantization: quantizers, AdaRound, BN folding, Fisher weights, bit settings,
reconstruction, resume, sensitivities, and accuracy on the embedded digits model."""

import json

import numpy as np

import pytest
import torch
from torch import nn

from conftest import randomize_bn

from hwsim.errors import HwsimError
from hwsim.precision import PrecisionPolicy
from hwsim.quant.api import quantize
from hwsim.quant.digits_model import DigitsResNet
from hwsim.quant.qmodel import assign_bits, calibrate_activations, fold_bn, quant_layers, set_mode, wrap
from hwsim.quant.quantizers import ActQuantizer, WeightQuantizer, lp_search_affine
from hwsim.quant.reconstruct import ReconConfig, reconstruct_unit, unit_inputs, unit_targets
from hwsim.quant.units import find_units

torch.set_num_threads(2)




def test_weight_grid_values_and_clipping():
    w = torch.randn(4, 3, 3, 3)
    q = WeightQuantizer(w, bits=2)
    q.mode = "nearest"
    out = q(w)
    for c in range(4):
        assert len(torch.unique(out[c])) <= 4  # 2 bits: at most 4 levels per channel
        levels = (out[c] / q.scale[c]).round() + q.zero_point[c]
        assert levels.min() >= 0 and levels.max() <= 3
    rows = torch.cat([torch.linspace(-1, 1, 10000)[None, :], torch.tensor([[3.0]])], dim=1)  # one outlier
    scale, _ = lp_search_affine(rows, 2)
    assert scale.item() < 0.5 * 4.0 / 3  # at 2 bits it clips the outlier rather than spanning [-1, 3]


def test_per_tensor_has_one_scale():
    w = torch.randn(8, 16)
    assert WeightQuantizer(w, 4, per_channel=False).scale.numel() == 1
    assert WeightQuantizer(w, 4).scale.numel() == 8


def test_activation_sign_follows_the_data():
    aq = ActQuantizer(4)
    aq.initialize(torch.relu(torch.randn(10000)))
    aq.enabled = True
    assert not aq.signed and aq.levels() == (0, 15)
    x = aq(torch.randn(1000) * 3)
    assert x.min() == 0 and (x / aq.step).max() <= 15 + 1e-4
    aq.initialize(torch.randn(10000))
    assert aq.signed and aq.levels() == (-8, 7)


def test_adaround_converges_to_hard_decisions():
    torch.manual_seed(0)
    layer = nn.Linear(32, 16)
    x = torch.randn(512, 32)
    _, q = wrap(nn.Sequential(layer), x[:2])
    layers = quant_layers(q)
    assign_bits(q, (3, 8), layers, PrecisionPolicy("none"))
    calibrate_activations(q, layers, x)
    unit = find_units(q, layers, "layer", x[:2])[0]
    with torch.no_grad():
        target = layer(x)
    # the default learning rate, 20 / iters, travels the paper's distance (1e-3 over 20,000 iterations)
    cfg = ReconConfig(iters=1000, learn_act=False)
    reconstruct_unit(unit, x, target, None, cfg, torch.Generator().manual_seed(0))
    wq = layers[0][1].wq
    h = wq.soft_rounding()
    assert ((h < 0.01) | (h > 0.99)).float().mean() > 0.99
    soft = wq.scale * ((layers[0][1].weight / wq.scale).floor() + h + wq.zero_point).clamp(0, 7) - wq.scale * wq.zero_point
    assert torch.allclose(soft, layers[0][1].quantized_weight(), atol=0.02 * wq.scale.max().item())


def test_bn_folding_is_equivalent():
    from hwsim.models import resnet18

    for net, shape in ((DigitsResNet(), (4, 1, 16, 16)), (resnet18(num_classes=10), (2, 3, 64, 64))):
        net = randomize_bn(net)
        x = torch.randn(*shape)
        folded = fold_bn(net, x[:1])
        assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
        with torch.no_grad():
            assert torch.allclose(net(x), folded(x), atol=1e-4, rtol=1e-4)


def test_fisher_weights_cover_every_batch(model, data):
    fp, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    unit = find_units(q, layers, "block", data.calib_x[:2])[3]
    x, y = data.calib_x[:96], data.calib_y[:96]
    out, w = unit_targets(fp, unit, x, y, fisher=True, batch=32)  # three batches
    assert out.shape == w.shape and out.shape[0] == 96
    second = w[32:64]
    assert torch.isfinite(second).all() and second.std() > 0
    assert torch.allclose(second.flatten(1).mean(1), torch.ones(32), atol=1e-4)  # per-sample normalisation
    # the weight of sample 40 equals its own squared gradient, normalised
    fp.zero_grad()
    store = {}

    def keep(module, inputs, output):
        output.retain_grad()
        store["o"] = output

    h = fp.get_submodule(unit.exit).register_forward_hook(keep)
    torch.nn.functional.cross_entropy(fp(x[40:41]), y[40:41], reduction="sum").backward()
    h.remove()
    g = store["o"].grad[0] ** 2
    assert torch.allclose(w[40], g / g.mean(), rtol=1e-3, atol=1e-5)


def test_first_and_last_layers_stay_8bit(model, data):
    _, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    plan, _ = assign_bits(q, (2, 4), layers)
    assert plan["conv1"] == plan["fc"] == (8, 8) and plan["layer1.0.conv1"] == (2, 4)
    calibrate_activations(q, layers, data.calib_x[:64])
    set_mode(layers, "nearest", True)
    fc = dict(layers)["fc"]
    seen = []
    h = fc.register_forward_pre_hook(lambda m, i: seen.append(fc.aq(i[0])))
    with torch.no_grad():
        q(data.calib_x[:64])
    h.remove()
    levels = torch.unique((seen[0] / fc.aq.step).round())
    assert fc.bits == (8, 8) and len(levels) > 16  # really 8-bit input, not 4-bit
    assert len(torch.unique(dict(layers)["layer1.0.conv1"].quantized_weight()[0])) <= 4
    assert assign_bits(q, (2, 4), layers, PrecisionPolicy("none"))[0]["fc"] == (2, 4)


@pytest.mark.slow
def test_reconstruction_lowers_block_error(model, data):
    fp, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    assign_bits(q, (2, 8), layers)
    calibrate_activations(q, layers, data.calib_x)
    block = find_units(q, layers, "block", data.calib_x[:2])[2]
    x = unit_inputs(q, block, data.calib_x)
    target, _ = unit_targets(fp, block, data.calib_x, data.calib_y, fisher=False)
    set_mode(block.layers, "nearest", True)
    with torch.no_grad():
        rtn_err = ((block.module(x) - target) ** 2).mean().item()
    reconstruct_unit(block, x, target, None, ReconConfig(iters=300), torch.Generator().manual_seed(0))
    with torch.no_grad():
        recon_err = ((block.module(x) - target) ** 2).mean().item()
    assert recon_err < 0.7 * rtn_err


def test_units_at_four_granularities(model, data):
    _, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    names = {g: [u.name for u in find_units(q, layers, g, data.calib_x[:2])] for g in ("layer", "block", "stage", "net")}
    assert len(names["layer"]) == 16
    assert names["block"] == ["conv1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "fc"]
    assert names["stage"] == ["conv1", "layer1.0..1", "layer2.0..1", "layer3.0..1", "fc"]
    assert names["net"] == ["net"]


@pytest.mark.parametrize("name,blocks,stages", [("mobilenet_v2", 17, 7), ("regnet_x_600mf", 16, 4)])
def test_blocks_and_stages_of_zoo_models(name, blocks, stages):
    from hwsim.models import build_model

    x = torch.randn(1, 3, 64, 64)
    _, q = wrap(build_model(name, num_classes=10).eval(), x)
    layers = quant_layers(q, x)
    units = find_units(q, layers, "block", x)
    block_units = [u for u in units if type(u.module).__name__ in ("InvertedResidual", "ResBottleneckBlock")]
    assert len(block_units) == blocks
    stage_units = [u for u in find_units(q, layers, "stage", x) if isinstance(u.module, nn.Sequential)
                   or type(u.module).__name__ in ("InvertedResidual", "ResBottleneckBlock")]
    assert len(stage_units) == stages
    assert sum(len(u.layers) for u in find_units(q, layers, "stage", x)) == len(layers)


@pytest.mark.slow
def test_brecq_beats_round_to_nearest_at_2_bits(model, data):
    args = (model, data.calib_x, data.calib_y, data.test_x, data.test_y, (2, 8))
    rtn = quantize(*args, method="rtn", progress=False)
    brecq = quantize(*args, method="brecq", iters=200, progress=False)
    assert rtn.fp_accuracy > 0.85  # the noisy digits task (shipped weights: 86.59%)
    # measured with the pinned kernels (the same on every machine): RTN 55.64%, BRECQ 85.27% (within 1.4 points of FP)
    assert brecq.quant_accuracy > rtn.fp_accuracy - 0.02 and brecq.quant_accuracy > rtn.quant_accuracy + 0.25


@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_model(model, data, tmp_path, monkeypatch):
    import hwsim.quant.api as api
    from hwsim.quant import memo

    args = (model, data.calib_x[:128], data.calib_y[:128], data.test_x, data.test_y, (4, 4))
    whole = quantize(*args, iters=30, progress=False)
    real, calls = api.reconstruct_unit, []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(api, "reconstruct_unit", flaky)
    memo.clear()  # else every unit comes from the in-process store and nothing is interrupted or resumed
    with pytest.raises(KeyboardInterrupt):
        quantize(*args, iters=30, checkpoint_dir=tmp_path, progress=False)
    monkeypatch.setattr(api, "reconstruct_unit", real)
    memo.clear()
    resumed = quantize(*args, iters=30, checkpoint_dir=tmp_path, progress=False)
    assert len(calls) == 4  # three units reconstructed, the fourth interrupted
    assert [u["unit"] for u in resumed.units] == [u["unit"] for u in whole.units]
    for (n, a), (_, b) in zip(whole.qmodel.state_dict().items(), resumed.qmodel.state_dict().items()):
        assert torch.equal(a, b), n


def test_mixed_precision_mapping_and_errors(model, data):
    _, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    plan = {n: (4, 8) for n, _ in layers}
    plan["layer2.0.conv1"] = (2, 2)
    plan["layer2.0.downsample.0"] = (4, 2)  # reads the same tensor: one activation bit-width
    assert assign_bits(q, plan, layers)[0]["layer2.0.conv1"] == (2, 2)
    assert dict(layers)["layer2.0.conv1"].bits == (2, 2)
    with pytest.raises(HwsimError, match="unknown layer 'nope'"):
        assign_bits(q, {**plan, "nope": (2, 2)}, layers)
    with pytest.raises(HwsimError, match="no bits for layer 'fc'"):
        assign_bits(q, {k: v for k, v in plan.items() if k != "fc"}, layers)


def test_checkpoint_mismatch_is_a_clear_error(tmp_path):
    from hwsim.quant.sources import load_model_and_data

    bad = tmp_path / "bad.pt"
    torch.save(DigitsResNet(num_classes=7).state_dict(), bad)
    with pytest.raises(HwsimError, match="fc.weight has shape \\(7, 24\\), the architecture needs \\(10, 24\\)"):
        load_model_and_data(checkpoint=str(bad))
    with pytest.raises(HwsimError, match="needs --data DIR"):
        load_model_and_data("resnet18")
    with pytest.raises(HwsimError, match="expected train/ and val/"):
        load_model_and_data("resnet18", checkpoint=str(bad), data=str(tmp_path))


def test_image_folder_data(tmp_path):
    from PIL import Image

    from hwsim.quant.data import image_folder

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    bundle = image_folder(tmp_path, size=32)
    assert bundle.num_classes == 2 and bundle.test_x.shape == (4, 3, 32, 32)
    assert len(bundle.calib_y) + len(bundle.holdout_y) == 6 and len(bundle.holdout_y) == 3  # disjoint halves
    calib = {tuple(r.flatten().tolist()) for r in bundle.calib_x}
    assert not calib & {tuple(r.flatten().tolist()) for r in bundle.holdout_x}
    assert bundle.test_y.tolist() == [0, 0, 1, 1]
    (tmp_path / "val" / "bird").mkdir()
    with pytest.raises(HwsimError, match="differ from the training split"):
        image_folder(tmp_path, size=32)


@pytest.mark.slow
def test_cli_quantize_writes_summary_and_model(model, cache_dir, tmp_path, monkeypatch, capsys):
    from hwsim.cli import main

    monkeypatch.setenv("HWSIM_CACHE_DIR", str(cache_dir))
    bits = tmp_path / "bits.yaml"
    bits.write_text("default: w4a8\nlayer1.0.conv1: w2a4\n")
    out = tmp_path / "out"
    assert main(["quantize", "--bits", str(bits), "--iters", "20", "--quiet", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {"fp_accuracy", "quant_accuracy", "bits", "seconds", "top1_agreement", "max_logit_error"} <= set(summary)
    assert summary["bits"]["layer1.0.conv1"] == "w2a4" and summary["bits"]["conv1"] == "w8a8"
    assert summary["fp_accuracy"] > 0.85 and summary["quant_accuracy"] > 0.8 and summary["top1_agreement"] >= 0.995
    assert summary["policy"] == "first-last-8bit" and any(n.startswith("conv1: w4a8 -> w8a8") for n in summary["bit_changes"])
    saved = torch.load(out / "quantized.pt", weights_only=False)
    assert saved["layers"]["layer1.0.conv1"]["wbits"] == 2 and saved["layers"]["fc"]["mode"] == "hard"
    captured = capsys.readouterr()
    assert "FP top-1" in captured.out and "hwsim: note: conv1: w4a8 -> w8a8 (first layer" in captured.err
    assert main(["quantize", "--wbits", "2", "-o", str(out)]) == 2
    assert main(["quantize", "--model", "resnet18", "--wbits", "2", "--abits", "8", "-o", str(out)]) == 2
    assert "needs --data DIR" in capsys.readouterr().err
