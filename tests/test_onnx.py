"""ONNX import: models exported here by torch (not downloaded) become the layers the torch path gives, attention
becomes matmul and vector layers, and what cannot be modelled is refused in one line or left out and counted."""

import collections

import pytest

pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from hwsim.api import onnx_layers, simulate  # noqa: E402
from hwsim.cli import main  # noqa: E402
from hwsim.models import build_model  # noqa: E402
from hwsim.workload import layers_from_module  # noqa: E402


def _export(model, shape, path, **kwargs):
    torch.onnx.export(model.eval(), (torch.randn(*shape),), str(path), dynamo=False, **kwargs)
    return path


def _shapes(layers):
    keep = ("kind", "in_h", "in_w", "in_channels", "out_h", "out_w", "out_channels", "kernel_h", "kernel_w", "stride",
            "groups", "batch")
    return collections.Counter(tuple(getattr(x, f) for f in keep) for x in layers if x.kind in ("conv", "linear"))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_a_cnn_imports_as_the_torch_path_traces_it(name, tmp_path):
    model, shape = build_model(name), (1, 3, 64, 64)
    layers, skipped = onnx_layers(_export(model, shape, tmp_path / f"{name}.onnx"))
    assert not skipped
    assert _shapes(layers) == _shapes(layers_from_module(model, shape))  # every conv (depthwise too) and the FC
    # the residual adds are vector layers here (the torch path folds them into the requantizer)
    adds = [x for x in layers if x.kind == "vector"]
    assert all(x.op == "add" for x in adds) and len(adds) == (8 if name == "resnet18" else 10)


class Block(nn.Module):
    """A pre-norm transformer block: fused QKV, attention (by hand or F.scaled_dot_product_attention), GELU MLP."""

    def __init__(self, d=32, heads=4, sdpa=False):
        super().__init__()
        self.heads, self.sdpa = heads, sdpa
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for y in self.qkv(self.ln1(x)).split(d, dim=-1))
        if self.sdpa:
            a = F.scaled_dot_product_attention(q, k, v)
        else:
            a = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


@pytest.mark.parametrize("sdpa", [False, True])
def test_attention_becomes_matmuls_and_a_softmax(sdpa, tmp_path):
    layers, _ = onnx_layers(_export(Block(sdpa=sdpa), (2, 10, 32), tmp_path / "block.onnx"))
    kinds = collections.Counter(x.kind for x in layers)
    assert kinds["linear"] == 4 and kinds["matmul"] == 2
    qk, pv = [x for x in layers if x.kind == "matmul"]
    # per batch item and head (2 x 4): 10 queries x 8 dims x 10 keys, then 10 x 10 keys x 8 dims
    assert (qk.groups, qk.gemm_m, qk.gemm_k, qk.gemm_n) == (8, 10, 8, 10)
    assert (pv.groups, pv.gemm_m, pv.gemm_k, pv.gemm_n) == (8, 10, 10, 8)
    ops = collections.Counter(x.op for x in layers if x.kind == "vector")
    assert ops["softmax"] == 1 and ops["layernorm"] == 2 and ops["gelu"] == 1 and ops["add"] == 2
    softmax = next(x for x in layers if x.op == "softmax")
    assert (softmax.batch, softmax.out_channels) == (2 * 4 * 10, 10)
    qkv = next(x for x in layers if x.kind == "linear")
    assert (qkv.batch, qkv.in_channels, qkv.out_channels) == (20, 32, 96)
    assert sum(x.macs for x in layers) == 20 * (32 * 96 + 32 * 32 + 2 * 32 * 128) + 2 * 8 * 10 * 8 * 10
    for hw in ("bitfusion_16x32", "cortex_a53_rpi3b"):
        assert simulate(layers, hw, (4, 8)).latency_ms > 0


class Cumulative(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        return torch.cumsum(self.fc(x), dim=-1)


def test_unsupported_operators_are_one_line_or_counted(tmp_path, capsys):
    path = _export(Cumulative(), (3, 16), tmp_path / "cumsum.onnx")
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and "unsupported operators: CumSum (1)" in err and err.count("\n") == 1
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(path), "--skip-unsupported",
                 "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert "left out 1 unsupported operators: CumSum (1)" in err and out.count("\n") == 3  # header, fc, total


def test_the_input_shape_fixes_dynamic_axes(tmp_path, capsys):
    model = build_model("resnet18")
    path = _export(model, (1, 3, 32, 32), tmp_path / "dynamic.onnx", input_names=["x"],
                   dynamic_axes={"x": {0: "batch", 2: "h", 3: "w"}})
    layers, _ = onnx_layers(path, input_shape=(4, 3, 64, 64))
    assert _shapes(layers) == _shapes(layers_from_module(model, (4, 3, 64, 64)))
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(path)]) == 2
    assert "give the input shape (--input-shape)" in capsys.readouterr().err
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(path), "--input-shape", "4,3,64"]) == 2
    assert "has 4 dimensions; --input-shape gave 3" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [(None, "no such file"), (b"\x00garbage" * 10, "not an ONNX model")])
def test_a_bad_file_is_one_line(content, message, tmp_path, capsys):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and message in err and err.count("\n") == 1


def test_onnx_flags_need_onnx(capsys):
    assert main(["simulate", "--hw", "bitfusion_16x32", "--model", "resnet18", "--skip-unsupported"]) == 2
    assert "apply to --onnx" in capsys.readouterr().err



class Gram(nn.Module):
    def forward(self, x):
        return x @ x.transpose(-1, -2)


def test_a_huge_model_is_refused_in_one_line(tmp_path, capsys):
    path = _export(Gram(), (1, 8, 64), tmp_path / "gram.onnx", input_names=["x"], dynamic_axes={"x": {1: "rows"}})
    layers, _ = onnx_layers(path, input_shape=(1, 8, 64))
    assert [(x.kind, x.gemm_m, x.gemm_k, x.gemm_n) for x in layers] == [("matmul", 8, 64, 8)]
    # 2^24 rows: 2^24 x 64 x 2^24 = 1.8e16 MACs in one product
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(path), "--input-shape", "1,16777216,64"]) == 2
    err = capsys.readouterr().err
    assert "MACs; allowed: at most 1e+15 in one layer" in err and err.count("\n") == 1


def test_input_shape_never_overrides_a_fixed_dimension(tmp_path, capsys):
    path = _export(Block(), (2, 10, 32), tmp_path / "static.onnx")
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(path), "--input-shape", "8,10,32"]) == 2
    assert "dimension 0 of input" in capsys.readouterr().err
    dynamic = _export(Block(), (2, 10, 32), tmp_path / "dynamic.onnx", input_names=["x"],
                      dynamic_axes={"x": {0: "batch", 1: "seq"}})
    assert main(["simulate", "--hw", "bitfusion_16x32", "--onnx", str(dynamic), "--input-shape", "2,10,32"]) == 2
    assert "export the model with fixed shapes" in capsys.readouterr().err
