"""Attention in a torch model: nn.MultiheadAttention (traced or hooked), F.scaled_dot_product_attention and a
product of two activations (traced) become matmul and softmax layers; norms and GELU modules vector layers."""

import collections

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from hwsim.api import module_layers, simulate  # noqa: E402


class Traceable(nn.Module):
    """A pre-norm block torch.fx can trace: attention through scaled_dot_product_attention or by hand."""

    def __init__(self, d=32, heads=4, sdpa=True, kv_heads=None):
        super().__init__()
        self.d, self.heads, self.sdpa = d, heads, sdpa
        self.kv_heads = kv_heads or heads
        hd = d // heads
        self.ln = nn.LayerNorm(d)
        self.q, self.kv = nn.Linear(d, d), nn.Linear(d, 2 * self.kv_heads * hd)
        self.o, self.fc, self.act = nn.Linear(d, d), nn.Linear(d, d), nn.GELU()

    def forward(self, x):
        n, t, hd = x.size(0), x.size(1), self.d // self.heads
        y = self.ln(x)
        q = self.q(y).view(n, t, self.heads, hd).transpose(1, 2)
        kv = self.kv(y).view(n, t, 2, self.kv_heads, hd)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        if self.sdpa:
            a = F.scaled_dot_product_attention(q, k, v, enable_gqa=self.kv_heads != self.heads)
        else:
            a = torch.softmax(q @ k.transpose(-2, -1) / hd ** 0.5, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(n, t, self.d))
        return x + self.act(self.fc(x))


class WithMultihead(nn.Module):
    def __init__(self, d=32, heads=4, traceable=True):
        super().__init__()
        self.traceable = traceable
        self.ln, self.attn, self.fc = nn.LayerNorm(d), nn.MultiheadAttention(d, heads, batch_first=True), nn.Linear(d, d)

    def forward(self, x):
        y = self.ln(x)
        a, _ = self.attn(y, y, y)
        if not self.traceable and float(a.sum()) > 1e30:  # data-dependent: torch.fx cannot trace this
            a = a * 0
        return x + self.fc(a)


def _summary(layers):
    return [(x.kind, x.op, x.groups, x.gemm_m, x.gemm_k, x.gemm_n) for x in layers if x.kind in ("matmul", "vector")]


@pytest.mark.parametrize("sdpa", [True, False])
def test_functional_attention_is_traced(sdpa):
    layers = module_layers(Traceable(sdpa=sdpa).eval(), (2, 10, 32))
    # per batch item and head (2 x 4): 10 queries x 8 dims x 10 keys; the softmax over 2 x 4 x 10 rows of 10
    assert _summary(layers) == [("vector", "layernorm", 1, 20, 32, 32), ("matmul", "", 8, 10, 8, 10),
                                ("vector", "softmax", 1, 80, 10, 10), ("matmul", "", 8, 10, 10, 8),
                                ("vector", "gelu", 1, 20, 32, 32)]
    assert sum(x.kind == "linear" for x in layers) == 4


def test_grouped_query_attention_through_sdpa():
    layers = module_layers(Traceable(d=64, heads=8, kv_heads=2).eval(), (1, 16, 64))
    qk = next(x for x in layers if x.kind == "matmul")
    # 2 KV heads, each shared by 4 query heads stacked as rows: 4 x 16 queries x 8 dims x 16 keys
    assert (qk.groups, qk.gemm_m, qk.gemm_k, qk.gemm_n) == (2, 64, 8, 16) and qk.macs == 8 * 16 * 8 * 16


@pytest.mark.parametrize("traceable", [True, False])
def test_multihead_attention_module(traceable):
    layers = module_layers(WithMultihead(traceable=traceable).eval(), (2, 10, 32))
    names = [x.name for x in layers]
    assert names == ["ln", "attn.q", "attn.k", "attn.v", "attn.qk", "attn.softmax", "attn.pv", "attn.out_proj", "fc"]
    qk = layers[4]
    assert (qk.kind, qk.groups, qk.gemm_m, qk.gemm_k, qk.gemm_n) == ("matmul", 8, 10, 8, 10)
    assert collections.Counter(x.kind for x in layers)["linear"] == 5
    for hw in ("bitfusion_16x32", "cortex_a53_rpi3b"):
        assert simulate(layers, hw, (4, 8)).latency_ms > 0


def test_review_cases_of_torch_models():
    class Projection(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(64, 32))

        def forward(self, x):
            return x @ self.w

    (proj,) = module_layers(Projection().eval(), (2, 10, 64))
    assert (proj.kind, proj.batch, proj.weight_count) == ("linear", 20, 64 * 32)  # a weight, not activations

    class Keywords(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.MultiheadAttention(64, 8, batch_first=True)

        def forward(self, x):
            return self.a(query=x, key=x, value=x)[0]

    assert [x.name for x in module_layers(Keywords().eval(), (2, 10, 64))][:5] == \
        ["a.q", "a.k", "a.v", "a.qk", "a.softmax"]
    unbatched = module_layers(Keywords().eval(), (10, 64))
    qk = next(x for x in unbatched if x.name == "a.qk")
    assert (unbatched[0].batch, qk.groups, qk.gemm_m, qk.gemm_n) == (10, 8, 10, 10)  # (L, E): one sequence

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 8, 128, batch_first=True), 2)

        def forward(self, x):
            return self.enc(x)

    from hwsim.errors import HwsimError

    with pytest.raises(HwsimError, match="TransformerEncoderLayer: not supported"):
        module_layers(Encoder().eval(), (2, 10, 64))
