"""Transformer workloads built from their dimensions, without weights: ViT/DeiT and BERT encoders, and decoders
(Llama-style with grouped-query attention and a SwiGLU MLP, or GPT-2-style) in their prefill and decode phases.

Each is a list of :class:`~hwsim.layers.Layer`: the projections and MLPs as ``linear`` layers (rows = tokens x
batch), and attention's two products as ``matmul`` layers, whose second operand is an activation (K, or V):

* ``attn.qk`` (Q x K^T): per KV head and batch item, the ``heads / kv_heads`` query heads that share it stacked
  as rows (grouped-query attention as it is computed), ``head_dim`` deep, one column per key;
* ``attn.pv`` (P x V): the same rows, one reduction step per key, ``head_dim`` columns.

In ``decode`` one token per sequence attends to a KV cache of ``seq`` tokens, which the matmuls read as their
second operand (from DRAM, at the first bits of their (w, a) pair: the KV cache's bits); in ``prefill`` (and in
the encoders) ``seq`` tokens attend to each other.  A decoder's prefill is causal: its attention runs in blocks
of ``causal_block`` queries (256 by default), each against the keys up to its last query, so the masked blocks
above the diagonal are skipped (FlashAttention's schedule) and only the diagonal blocks compute masked
products; ``causal_block=0`` computes the whole score matrix.
Softmax, the norms, GELU and SiLU x up, residual adds and rotary embeddings are ``vector`` layers, run on the
accelerator's vector unit (:class:`hwsim.config.VectorUnit`) or in float32 on NEON.  Embedding lookups are not
layers.  The final norm and the language-model head run on the last token only in prefill (what generation
needs), the final norm and the head of a ViT on the class token.

A name may carry options: ``llama3_8b:phase=decode,seq=4096``, ``bert_base:seq=384``, ``vit_b_16:batch=8``.
"""

from __future__ import annotations

import dataclasses
from typing import Union

from .errors import HwsimError
from .layers import MAX_LAYER_MACS, MAX_TOPOLOGY_LAYERS, Layer, linear as _linear, matmul as _matmul
from .layers import vector as _vector

PHASES = ("prefill", "decode")
MLPS = ("swiglu", "gelu")


@dataclasses.dataclass(frozen=True)
class VitSpec:
    """A Vision Transformer (ViT, DeiT): patches of ``patch`` pixels of an ``image`` x ``image`` picture, a class
    token, ``layers`` pre-norm blocks, a linear classifier."""

    hidden: int
    heads: int
    layers: int
    ffn: int
    patch: int = 16
    image: int = 224
    classes: int = 1000
    batch: int = 1

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2 + 1


@dataclasses.dataclass(frozen=True)
class BertSpec:
    """A BERT encoder on ``seq`` tokens: word, position and token-type embeddings, ``layers`` post-norm blocks,
    the pooler."""

    hidden: int
    heads: int
    layers: int
    ffn: int
    vocab: int = 30522
    positions: int = 512
    seq: int = 128
    batch: int = 1


@dataclasses.dataclass(frozen=True)
class DecoderSpec:
    """A decoder-only language model.  ``kv_heads`` < ``heads``: grouped-query attention; ``mlp``: ``swiglu``
    (gate, up, down) or ``gelu`` (two layers, with biases as in GPT-2); ``positions`` > 0: learned position
    embeddings (else rotary: no parameters); ``phase``: ``prefill`` (``seq`` tokens) or ``decode`` (one token per
    sequence against a KV cache of ``seq``).  ``causal_block``: a causal prefill's attention runs in blocks of that
    many queries, each against the keys up to its last (the masked blocks above the diagonal skipped, as
    FlashAttention-style kernels do); 0 computes the whole score matrix."""

    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    layers: int
    vocab: int
    mlp: str = "swiglu"
    tied_embeddings: bool = False
    positions: int = 0
    bias: bool = False
    phase: str = "prefill"
    seq: int = 2048
    batch: int = 1
    causal_block: int = 256

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def tokens(self) -> int:
        """Tokens each sequence runs through the layers in this phase."""
        return self.seq if self.phase == "prefill" else 1


Spec = Union[VitSpec, BertSpec, DecoderSpec]

PRESETS: dict[str, Spec] = {
    # Dosovitskiy et al. 2021, ViT-B/16: 86.6 M parameters, 17.6 GMACs at 224 x 224
    "vit_b_16": VitSpec(hidden=768, heads=12, layers=12, ffn=3072),
    # Touvron et al. 2021, DeiT-Ti and DeiT-S: 5.7 M and 22 M parameters
    "deit_tiny": VitSpec(hidden=192, heads=3, layers=12, ffn=768),
    "deit_small": VitSpec(hidden=384, heads=6, layers=12, ffn=1536),
    # Devlin et al. 2019, BERT-base: 110 M parameters
    "bert_base": BertSpec(hidden=768, heads=12, layers=12, ffn=3072),
    # Meta's model cards: Llama 3 8B (GQA, 8 KV heads), Llama 3.2 1B (tied embeddings)
    "llama3_8b": DecoderSpec(hidden=4096, heads=32, kv_heads=8, ffn=14336, layers=32, vocab=128256),
    "llama3_2_1b": DecoderSpec(hidden=2048, heads=32, kv_heads=8, ffn=8192, layers=16, vocab=128256,
                               tied_embeddings=True),
    # Radford et al. 2019, GPT-2 small: 124 M parameters, 1,024 learned positions, tied embeddings
    "gpt2_small": DecoderSpec(hidden=768, heads=12, kv_heads=12, ffn=3072, layers=12, vocab=50257, mlp="gelu",
                              tied_embeddings=True, positions=1024, bias=True, seq=512),
    # a decoder to shape at will: every dimension an option (Llama 3 8B's by default)
    "llama": DecoderSpec(hidden=4096, heads=32, kv_heads=8, ffn=14336, layers=32, vocab=128256),
}


def names() -> list[str]:
    """The built-in transformer workloads."""
    return sorted(PRESETS)


def is_transformer(name: str) -> bool:
    """True when ``name`` (with or without options) names a built-in transformer."""
    return name.split(":", 1)[0] in PRESETS


def spec_of(name: str, image: int | None = None) -> Spec:
    """The dimensions of a built-in transformer, with the options its name carries (``name:key=value,...``);
    ``image``: a ViT's picture size (``--input-size``)."""
    base, _, options = name.partition(":")
    if base not in PRESETS:
        raise HwsimError(f"unknown transformer {base!r}; allowed: {', '.join(names())}")
    spec = PRESETS[base]
    fields = {f.name: f.type for f in dataclasses.fields(spec)}
    changes: dict = {}
    for item in filter(None, options.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in fields:
            raise HwsimError(f"{base}: option {item!r}; allowed: " + ", ".join(f"{k}=..." for k in fields))
        changes[key] = _value(base, key, value.strip(), getattr(spec, key))
    if image is not None:
        if not isinstance(spec, VitSpec):
            raise HwsimError(f"--input-size applies to image models; {base} takes seq=... in its name "
                             f"({base}:seq=N)")
        changes.setdefault("image", image)
    spec = dataclasses.replace(spec, **changes)
    _check(base, spec)
    return spec


def _value(base: str, key: str, text: str, default):
    if isinstance(default, bool):
        if text not in ("true", "false"):
            raise HwsimError(f"{base}: {key}={text!r}; allowed: true, false")
        return text == "true"
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise HwsimError(f"{base}: {key}={text!r}; allowed: a whole number") from None
    allowed = {"phase": PHASES, "mlp": MLPS}[key]
    if text not in allowed:
        raise HwsimError(f"{base}: {key}={text!r}; allowed: {', '.join(allowed)}")
    return text


MAX_DIM = 2 ** 24  # any dimension (as for a topology row)


def _check(base: str, spec: Spec) -> None:
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_DIM:
            raise HwsimError(f"{base}: {f.name}={value}; allowed: 0 to {MAX_DIM:,}")
        if isinstance(value, int) and not isinstance(value, bool) and value == 0 and f.name not in ("positions", "causal_block"):
            raise HwsimError(f"{base}: {f.name}=0; allowed: 1 to {MAX_DIM:,}")
    if spec.hidden % spec.heads:
        raise HwsimError(f"{base}: hidden={spec.hidden} is not a multiple of heads={spec.heads}")
    if isinstance(spec, DecoderSpec) and spec.heads % spec.kv_heads:
        raise HwsimError(f"{base}: heads={spec.heads} is not a multiple of kv_heads={spec.kv_heads}")
    if isinstance(spec, VitSpec) and spec.image < spec.patch:
        raise HwsimError(f"{base}: image={spec.image} is smaller than a patch ({spec.patch})")
    if isinstance(spec, BertSpec) and spec.seq > spec.positions:
        raise HwsimError(f"{base}: seq={spec.seq}; allowed: up to its {spec.positions} positions")
    if isinstance(spec, DecoderSpec) and spec.positions and spec.seq + (spec.phase == "decode") > spec.positions:
        limit = spec.positions - (spec.phase == "decode")
        what = "cached tokens in decode (the new token takes the next position)" if spec.phase == "decode" else "tokens"
        raise HwsimError(f"{base}: seq={spec.seq}; allowed: up to {limit} {what}, for its {spec.positions} learned "
                         f"positions")


def causal_blocks(tokens: int, block: int) -> list[tuple[int, int]]:
    """(queries, keys) of each block of a causal attention over ``tokens``: blocks of ``block`` queries (the last
    shorter), each against the keys up to its last query; one block of every query and key when ``block`` is 0."""
    if not block or block >= tokens:
        return [(tokens, tokens)]
    return [(min(block, tokens - start), min(start + block, tokens)) for start in range(0, tokens, block)]


def _attention(prefix: str, batch: int, tokens: int, keys: int, hidden: int, heads: int, kv_heads: int,
               rotary: bool = False, causal_block: int = 0) -> list[Layer]:
    """Q, K, V, (rotary embedding,) Q x K^T, softmax, P x V, the output projection; a causal attention over
    ``tokens`` (``causal_block`` > 0) in blocks of queries (``attn.qk.0``, ``attn.softmax.0``, ``attn.pv.0``, ...)."""
    hd, share = hidden // heads, heads // kv_heads
    rows = batch * tokens
    blocks = causal_blocks(tokens, causal_block) if causal_block else [(tokens, keys)]
    products: list[Layer] = []
    for i, (q, k) in enumerate(blocks):
        tag = f".{i}" if len(blocks) > 1 else ""
        products += attention_products(f"{prefix}.attn", tag, batch * kv_heads, q * share, hd, k, hd,
                                       batch * heads * q)
    out = _linear(f"{prefix}.attn.o", rows, heads * hd, hidden)
    if len(blocks) == 1:  # P x V's output is all the projection reads (in blocks, it reads every block's)
        products[-1] = _chain(products[-1], out)[0]
    return ([_linear(f"{prefix}.attn.q", rows, hidden, heads * hd),
             _linear(f"{prefix}.attn.k", rows, hidden, kv_heads * hd),
             _linear(f"{prefix}.attn.v", rows, hidden, kv_heads * hd)]
            + ([_vector(f"{prefix}.attn.rope", "rope", rows, (heads + kv_heads) * hd)] if rotary else [])
            + products + [out])


def attention_products(prefix: str, tag: str, groups: int, rows: int, depth: int, keys: int, width: int,
                       score_rows: int) -> list[Layer]:
    """Q x K^T, softmax, P x V (``{prefix}.qk{tag}``, ...), chained: per group ``rows`` queries (the query heads
    sharing a key head stacked) of ``depth`` against ``keys`` keys, values ``width`` wide; ``score_rows`` rows of
    scores in all."""
    return _chain(_matmul(f"{prefix}.qk{tag}", groups, rows, depth, keys),
                  _vector(f"{prefix}.softmax{tag}", "softmax", score_rows, keys),
                  _matmul(f"{prefix}.pv{tag}", groups, rows, keys, width))


def _chain(*layers: Layer) -> list[Layer]:
    """``layers`` with each one's output read by the next alone: the graph edges whole-network mode keeps on chip
    when the tensor fits (the other edges of a block are left out: a tensor read by several layers, or a layer
    reading several tensors, is not kept)."""
    return [dataclasses.replace(a, consumers=(b.name,)) for a, b in zip(layers, layers[1:])] + [layers[-1]]


def _mlp(prefix: str, rows: int, hidden: int, ffn: int, kind: str) -> list[Layer]:
    """The MLP with its activation: SwiGLU (gate, up, SiLU(gate) x up, down) or GELU (fc1, GELU, fc2)."""
    if kind == "swiglu":
        return [_linear(f"{prefix}.mlp.gate", rows, hidden, ffn), _linear(f"{prefix}.mlp.up", rows, hidden, ffn),
                *_chain(_vector(f"{prefix}.mlp.act", "silu_mul", rows, ffn),
                        _linear(f"{prefix}.mlp.down", rows, ffn, hidden))]
    return _chain(_linear(f"{prefix}.mlp.fc1", rows, hidden, ffn), _vector(f"{prefix}.mlp.act", "gelu", rows, ffn),
                  _linear(f"{prefix}.mlp.fc2", rows, ffn, hidden))


def _pre_norm_block(prefix: str, norm: str, rows: int, hidden: int, attention: list[Layer], mlp: list[Layer],
                    names: tuple[str, str]) -> list[Layer]:
    """x + attention(norm(x)), then x + mlp(norm(x)) (ViT, Llama, GPT-2)."""
    return ([_vector(f"{prefix}.{names[0]}", norm, rows, hidden)] + attention
            + [_vector(f"{prefix}.attn.add", "add", rows, hidden), _vector(f"{prefix}.{names[1]}", norm, rows, hidden)]
            + mlp + [_vector(f"{prefix}.mlp.add", "add", rows, hidden)])


def _norm(spec: DecoderSpec) -> str:
    """GPT-2-style decoders (GELU MLP) use LayerNorm, Llama-style ones (SwiGLU) RMSNorm."""
    return "layernorm" if spec.mlp == "gelu" else "rmsnorm"


def layers(spec: Spec) -> list[Layer]:
    """The GEMM layers of ``spec`` in execution order."""
    out: list[Layer] = []
    if isinstance(spec, VitSpec):
        side, t = spec.image // spec.patch, spec.tokens
        out.append(Layer("patch_embed", "conv", side * spec.patch, side * spec.patch, 3, side, side, spec.hidden,
                         spec.patch, spec.patch, spec.patch, batch=spec.batch))
        for i in range(spec.layers):
            out += _pre_norm_block(f"blocks.{i}", "layernorm", spec.batch * t, spec.hidden,
                                   _attention(f"blocks.{i}", spec.batch, t, t, spec.hidden, spec.heads, spec.heads),
                                   _mlp(f"blocks.{i}", spec.batch * t, spec.hidden, spec.ffn, "gelu"),
                                   ("norm1", "norm2"))
        out += [_vector("norm", "layernorm", spec.batch, spec.hidden),  # the class token's row is all the head reads
                _linear("head", spec.batch, spec.hidden, spec.classes)]
    elif isinstance(spec, BertSpec):
        rows = spec.batch * spec.seq
        out.append(_vector("embeddings.norm", "layernorm", rows, spec.hidden))
        for i in range(spec.layers):  # post-norm: norm(x + attention(x)), then norm(x + mlp(x))
            out += _attention(f"layer.{i}", spec.batch, spec.seq, spec.seq, spec.hidden, spec.heads, spec.heads)
            out += [_vector(f"layer.{i}.attn.add", "add", rows, spec.hidden),
                    _vector(f"layer.{i}.attn.norm", "layernorm", rows, spec.hidden)]
            out += _mlp(f"layer.{i}", rows, spec.hidden, spec.ffn, "gelu")
            out += [_vector(f"layer.{i}.mlp.add", "add", rows, spec.hidden),
                    _vector(f"layer.{i}.mlp.norm", "layernorm", rows, spec.hidden)]
        out.append(_linear("pooler", spec.batch, spec.hidden, spec.hidden))
    else:
        t, norm = spec.tokens, _norm(spec)
        for i in range(spec.layers):
            out += _pre_norm_block(f"layers.{i}", norm, spec.batch * t, spec.hidden,
                                   _attention(f"layers.{i}", spec.batch, t, spec.seq, spec.hidden, spec.heads,
                                              spec.kv_heads, rotary=not spec.positions,
                                              causal_block=spec.causal_block if spec.phase == "prefill" else 0),
                                   _mlp(f"layers.{i}", spec.batch * t, spec.hidden, spec.ffn, spec.mlp),
                                   ("input_norm", "post_attention_norm"))
        out += [_vector("norm", norm, spec.batch, spec.hidden),  # the last token's row is all the head reads
                _linear("lm_head", spec.batch, spec.hidden, spec.vocab)]
    return out


def parameter_count(spec: Spec) -> int:
    """Every parameter of the model: its layers' weights, and the biases, norms and embeddings no layer holds."""
    built = layers(spec)
    weights = sum(layer.weight_count for layer in built)
    h = spec.hidden
    if isinstance(spec, VitSpec):
        biases = sum(layer.out_channels for layer in built if layer.weight_count)  # linears, patch conv
        norms = (2 * spec.layers + 1) * 2 * h  # LayerNorm: weight and bias
        return weights + biases + norms + h + spec.tokens * h  # class token, position embeddings
    if isinstance(spec, BertSpec):
        biases = sum(layer.out_channels for layer in built if layer.kind == "linear")
        norms = (2 * spec.layers + 1) * 2 * h  # two per block and the embeddings'
        return weights + biases + norms + (spec.vocab + spec.positions + 2) * h  # word, position, token type
    block_linears = [layer for layer in built if layer.kind == "linear" and layer.name != "lm_head"]
    biases = sum(layer.out_channels for layer in block_linears) if spec.bias else 0
    per_norm = 2 * h if _norm(spec) == "layernorm" else h  # LayerNorm (GPT-2): weight and bias; RMSNorm: weight
    norms = (2 * spec.layers + 1) * per_norm
    embeddings = (spec.vocab + spec.positions) * h
    tied = spec.vocab * h if spec.tied_embeddings else 0  # the head's weights are the token embeddings: once
    return weights - tied + biases + norms + embeddings


def phase_label(name: str, batch: int | None = None) -> str | None:
    """What a decoder's total time is (time to first token, or per output token); None for other workloads."""
    if not is_transformer(name):
        return None
    spec = spec_of(name)
    if not isinstance(spec, DecoderSpec):
        return None
    if batch is not None and "batch=" not in name:
        spec = dataclasses.replace(spec, batch=batch)
    if spec.phase == "prefill":
        return f"time to first token (prefill of {spec.seq:,} tokens, batch {spec.batch})"
    return f"time per output token (decode against {spec.seq:,} cached tokens, batch {spec.batch})"


def kv_cache_bytes(spec: DecoderSpec, bits: int) -> float:
    """Bytes of the KV cache a decode step reads: 2 (K and V) x layers x kv_heads x head_dim x seq x bits / 8, per
    sequence of the batch."""
    return 2 * spec.layers * spec.kv_heads * spec.head_dim * spec.seq * bits / 8 * spec.batch


def transformer_layers(name: str, image: int | None = None, batch: int | None = None) -> list[Layer]:
    """The layers of a built-in transformer by name (``vit_b_16``, ``llama3_8b:phase=decode,seq=4096``, ...);
    ``batch``, when given, for a name that does not set it."""
    base = name.partition(":")[0]
    spec = spec_of(name, image)
    if batch is not None and "batch=" in name and batch != spec.batch:
        raise HwsimError(f"{base}: --batch {batch} and batch={spec.batch} in the name; give one")
    if batch is not None and "batch=" not in name:
        spec = dataclasses.replace(spec, batch=batch)
        _check(base, spec)
    blocks = 1
    if isinstance(spec, DecoderSpec) and spec.phase == "prefill" and spec.causal_block:
        blocks = -(-spec.seq // spec.causal_block)
    if spec.layers * (20 + 3 * blocks) > MAX_TOPOLOGY_LAYERS:  # about 20 layers a block, 3 per causal block
        raise HwsimError(f"{base}: {spec.layers:,} blocks of {3 * blocks + 17} layers or more; allowed: at most "
                         f"{MAX_TOPOLOGY_LAYERS:,} layers (fewer layers=, or a larger causal_block=)")
    out = layers(spec)
    biggest = max(out, key=lambda x: x.macs)
    if biggest.macs > MAX_LAYER_MACS:
        raise HwsimError(f"{base}: layer {biggest.name} has {biggest.macs:.3g} MACs; allowed: at most "
                         f"{MAX_LAYER_MACS:.0e} in one layer")
    return out
