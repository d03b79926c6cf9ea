"""Workloads from torch models (fx and hooks agree) and from SCALE-Sim topology files."""

import dataclasses
import pytest
from torch import nn

from hwsim.errors import HwsimError
from hwsim.workload import layers_from_model_name, layers_from_module, layers_from_topology


def test_resnet18_layers_and_shapes():
    layers = layers_from_model_name("resnet18")
    assert len(layers) == 21
    conv1 = layers[0]
    assert (conv1.name, conv1.out_h, conv1.out_channels, conv1.gemm_k, conv1.gemm_m) == ("conv1", 112, 64, 147, 12544)
    fc = layers[-1]
    assert (fc.kind, fc.gemm_m, fc.gemm_k, fc.gemm_n) == ("linear", 1, 512, 1000)


def test_fx_and_hooks_agree():
    from hwsim.models import resnet50

    model = resnet50()
    shapes = lambda layers: [dataclasses.replace(layer, consumers=()) for layer in layers]
    fx_layers = layers_from_module(model, method="fx")
    assert shapes(fx_layers) == layers_from_module(model, method="hooks")  # hooks see shapes, not the graph
    graph = {layer.name: layer.consumers for layer in fx_layers}
    assert graph["layer1.0.conv1"] == ("layer1.0.conv2",)
    assert graph["layer1.0.conv3"] == ("@residual", "layer1.1.conv1")
    assert graph["fc"] == ("@output",)


@pytest.mark.parametrize("name,count,depthwise,macs", [
    ("resnet50", 54, 0, 4_089_184_256),
    ("mobilenet_v2", 53, 17, 300_774_272),
    ("regnet_x_600mf", 54, 0, 600_890_112),  # stem + 16 blocks x 3 + 4 projections + fc
])
def test_named_models(name, count, depthwise, macs):
    layers = layers_from_model_name(name)
    assert len(layers) == count
    assert sum(layer.is_depthwise for layer in layers) == depthwise
    assert sum(layer.macs for layer in layers) == macs


def test_untraceable_model_falls_back_to_hooks():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.b = nn.Linear(8, 4)

        def forward(self, x):
            y = self.a(x)
            if y.sum() > -1e9:  # data-dependent control flow: fx cannot trace this
                y = y.mean(dim=(2, 3))
            return self.b(y)

    layers = layers_from_module(Branchy(), (2, 3, 10, 10))
    assert [(layer.name, layer.gemm_m, layer.gemm_k, layer.gemm_n) for layer in layers] == [
        ("a", 200, 27, 8), ("b", 2, 8, 4)]
    with pytest.raises(HwsimError, match="torch.fx could not trace"):
        layers_from_module(Branchy(), (2, 3, 10, 10), method="fx")


def test_unknown_model_lists_allowed():
    with pytest.raises(HwsimError, match="unknown model 'vgg99'; allowed: mobilenet_v1, mobilenet_v2, regnet_x_600mf, resnet18"):
        layers_from_model_name("vgg99")


def test_topology_depthwise_and_rounding(tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer, H, W, FH, FW, C, NF, S,\nconv, 224, 224, 7, 7, 3, 64, 2,\nconv_DP, 16, 16, 3, 3, 32, 1, 1,\n")
    conv, dp = layers_from_topology(topo)
    assert conv.out_h == 110  # SCALE-Sim rounds a partial last window up (no padding)
    assert dp.is_depthwise and dp.groups == 32 and dp.gemm_n == 1 and dp.gemm_k == 9


@pytest.mark.parametrize("body,message", [
    ("conv, 10, 10, 3, 3, x, 4, 1,\n", "expected whole numbers"),
    ("conv, 10, 10, 3, 3, 0, 4, 1,\n", "allowed: integers from 1 to"),
    ("conv, 10, 10, 3, 3,\n", "expected 7 numbers"),
    ("conv, 2, 2, 3, 3, 1, 4, 1,\n", "larger than the input"),
])
def test_topology_errors(tmp_path, body, message):
    topo = tmp_path / "t.csv"
    topo.write_text("header\n" + body)
    with pytest.raises(HwsimError, match=message):
        layers_from_topology(topo)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(__import__("hwsim.models", fromlist=["MODEL_BUILDERS"]).MODEL_BUILDERS))
def test_shipped_layer_lists_equal_a_fresh_extraction(name):
    """hwsim/zoo_layers/*.json (read instead of torch at 224x224): stale after a model change until
    `python scripts/ship_zoo_layers.py` is run."""
    from hwsim.models import MODEL_BUILDERS
    from hwsim.workload import ZOO_SHAPE, layers_from_model_name

    fresh = layers_from_module(MODEL_BUILDERS[name](), ZOO_SHAPE)
    assert layers_from_model_name(name) == fresh, "run python scripts/ship_zoo_layers.py"
