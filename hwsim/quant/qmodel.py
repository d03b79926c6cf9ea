"""Quantizable models: BN folding and the wrapping of every Conv2d/Linear into a :class:`QuantLayer`.

Each QuantLayer quantizes its weights (per output channel) and its *input* activations, so a
layer's (w, a) bits are exactly what the hardware tables price: the weights it stores and the
activations it reads.  The last layer's input is therefore really 8-bit when asked.

One activation quantizer per tensor: layers that read the same tensor (a block's first conv and
its projection shortcut) share one :class:`ActQuantizer`, as the hardware stores that tensor once
at one step and bit-width.  Their activation bits are therefore one choice (see
:func:`activation_groups` and :func:`assign_bits`).
"""

from __future__ import annotations

import copy
from typing import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import HwsimError
from hwsim.precision import PrecisionPolicy, label

from . import memo
from .hooks import observing, snapshot
from .quantizers import ActQuantizer, WeightQuantizer


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def execution_order(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module, object, object]]:
    """(name, module, input tensor, output tensor) of every leaf module call, in execution order."""
    calls = []
    leaves = [(m, lambda i, o, n=name, m=m: calls.append((n, m, i[0], o)))
              for name, m in model.named_modules() if not list(m.children())]
    with observing(leaves), torch.no_grad():
        model(example)
    return calls


def fold_bn(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (eval mode) with every BatchNorm2d that directly consumes a conv folded into it.

    Pairs are found from the real data flow (the BN's input is the conv's output tensor), not
    from registration order.  Folded BNs become Identity.
    """
    model = copy.deepcopy(model).eval()
    calls = execution_order(model, example)
    producer = {id(out): (name, mod) for name, mod, _, out in calls if isinstance(mod, nn.Conv2d)}
    for name, mod, inp, _ in calls:
        if not isinstance(mod, nn.BatchNorm2d) or id(inp) not in producer:
            continue
        conv_name, conv = producer[id(inp)]
        std = torch.sqrt(mod.running_var + mod.eps)
        gamma = mod.weight if mod.affine else torch.ones_like(std)
        beta = mod.bias if mod.affine else torch.zeros_like(std)
        with torch.no_grad():
            conv.weight.mul_((gamma / std).reshape(-1, 1, 1, 1))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(std)
            new_bias = (bias - mod.running_mean) * gamma / std + beta
        conv.bias = nn.Parameter(new_bias.detach().clone())
        _set_module(model, name, nn.Identity())
    return model


class QuantLayer(nn.Module):
    """A Conv2d or Linear with a weight quantizer and an input-activation quantizer.

    ``act_quant`` switches the quantization of this layer's input on or off for this layer
    alone (a shared quantizer may be on for one consumer and off for another while
    sensitivities are measured).
    """

    def __init__(self, layer: nn.Module, wbits: int = 8, abits: int = 8, per_channel: bool = True):
        super().__init__()
        self.kind = "conv" if isinstance(layer, nn.Conv2d) else "linear"
        self.conv_args = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                              groups=layer.groups) if self.kind == "conv" else {}
        self.weight = nn.Parameter(layer.weight.detach().clone(), requires_grad=False)
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone(), requires_grad=False)
        self.wq = WeightQuantizer(self.weight, wbits, per_channel)
        self.aq = ActQuantizer(abits)
        self.act_quant = False

    @property
    def bits(self) -> tuple[int, int]:
        """(weight bits, activation bits)."""
        return self.wq.bits, self.aq.bits

    def quantized_weight(self) -> torch.Tensor:
        """The weights as the current mode quantizes them."""
        return self.wq(self.weight)

    def linear_op(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """This layer's convolution or matrix product of ``x`` and ``w`` (no quantization)."""
        if self.kind == "conv":
            return F.conv2d(x, w, bias, **self.conv_args)
        return F.linear(x, w, bias)

    def quantized_bias(self) -> torch.Tensor | None:
        """The bias on the accumulator grid (step = weight scale x input step) when weights and input are
        quantized, as the integer accumulator holds it; else the float bias."""
        if self.bias is None or not self.act_quant or self.wq.mode == "fp":
            return self.bias
        unit = self.wq.scale.detach().reshape(-1) * self.aq.step.detach().abs().clamp(min=1e-8)
        return torch.round(self.bias / unit) * unit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act_quant:
            x = self.aq(x)
        return self.linear_op(x, self.quantized_weight(), self.quantized_bias())


def quantizable_names(model: nn.Module) -> list[str]:
    """Names of the modules :func:`wrap` turns into QuantLayers (every Conv2d and Linear)."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def without_inplace(model: nn.Module) -> nn.Module:
    """Turn off ``inplace`` on every module that has it (ReLU, ReLU6, ...); returns ``model``."""
    for m in model.modules():
        if isinstance(getattr(m, "inplace", None), bool):
            m.inplace = False
    return model


def _share_input_quantizers(qmodel: nn.Module, example: torch.Tensor) -> None:
    """Give every QuantLayer that reads the same tensor one ActQuantizer (the first reader's)."""
    layers = [(n, m) for n, m in qmodel.named_modules() if isinstance(m, QuantLayer)]
    first_reader: dict[int, QuantLayer] = {}
    keep_alive = []  # tensor ids are only unique while the tensors live

    def see(inputs, layer):
        keep_alive.append(inputs[0])
        owner = first_reader.setdefault(id(inputs[0]), layer)
        if owner is not layer:
            layer.aq = owner.aq

    with observing([(m, lambda i, m=m: see(i, m)) for _, m in layers], pre=True), torch.no_grad():
        qmodel(example)


def wrap(model: nn.Module, example: torch.Tensor, per_channel: bool = True) -> tuple[nn.Module, nn.Module]:
    """(BN-folded FP model, quantizable copy with QuantLayers at the same module names).

    Both are copies without in-place modules; layers reading one tensor share its quantizer.
    """
    fp = without_inplace(fold_bn(model, example))
    qmodel = copy.deepcopy(fp)
    names = quantizable_names(qmodel)
    if not names:
        raise HwsimError("the model has no Conv2d or Linear layer to quantize")
    for name in names:
        _set_module(qmodel, name, QuantLayer(qmodel.get_submodule(name), per_channel=per_channel))
    _share_input_quantizers(qmodel, example)
    for p in qmodel.parameters():
        p.requires_grad_(False)
    return fp.eval(), qmodel.eval()


def quant_layers(qmodel: nn.Module, example: torch.Tensor | None = None) -> list[tuple[str, QuantLayer]]:
    """(name, QuantLayer) pairs, in execution order when ``example`` is given, else registration order."""
    layers = [(n, m) for n, m in qmodel.named_modules() if isinstance(m, QuantLayer)]
    if example is None:
        return layers
    order: dict[str, int] = {}
    with observing([(m, lambda i, n=n: order.setdefault(n, len(order))) for n, m in layers], pre=True), \
            torch.no_grad():
        qmodel(example)
    return sorted(layers, key=lambda nm: order.get(nm[0], len(order)))


def activation_groups(layers: list[tuple[str, QuantLayer]]) -> list[list[str]]:
    """Names of the layers that share one input quantizer (one tensor), groups of two or more, in order."""
    groups: dict[int, list[str]] = {}
    for n, m in layers:
        groups.setdefault(id(m.aq), []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def assign_bits(qmodel: nn.Module, bits: Mapping[str, tuple[int, int]] | tuple[int, int], layers: list,
                policy: PrecisionPolicy | None = None) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Set every layer's (w, a) bits. Returns (the bits applied, a note for every requested bit-width changed).

    Two rules change a request, each stated in a note: the precision ``policy`` (default
    first-last-8bit; layers in execution order), and one activation bit-width per tensor
    (layers sharing an input take the highest activation bits any of them asked for).
    """
    names = [n for n, _ in layers]
    if isinstance(bits, tuple):
        plan = {n: bits for n in names}
    else:
        unknown = [n for n in bits if n not in names]
        missing = [n for n in names if n not in bits]
        if unknown:
            raise HwsimError(f"bits given for unknown layer {unknown[0]!r}; layers are: {', '.join(names[:6])} ...")
        if missing:
            raise HwsimError(f"no bits for layer {missing[0]!r} ({len(missing)} layers missing)")
        plan = {n: tuple(bits[n]) for n in names}
    for name in names:
        for kind, b in zip(("weight", "activation"), plan[name]):
            if not 2 <= b <= 8:
                raise HwsimError(f"layer {name}: {kind} bits {b} outside 2..8")
    plan, notes = (policy or PrecisionPolicy()).apply(plan, names)
    for group in activation_groups(layers):
        a = max(plan[n][1] for n in group)
        for n in group:
            if plan[n][1] != a:
                notes.append(f"{n}: {label(*plan[n])} -> {label(plan[n][0], a)} (reads the same tensor as "
                             f"{', '.join(g for g in group if g != n)}: one activation bit-width per tensor)")
                plan[n] = (plan[n][0], a)
    for name, layer in layers:
        w, a = plan[name]
        layer.wq.set_bits(layer.weight, w)
        layer.aq.bits = a
    return plan, notes


def calibrate_activations(qmodel: nn.Module, layers: Iterable[tuple[str, QuantLayer]], x: torch.Tensor,
                          batch: int = 256, max_samples: int = 200_000, memo_key: str | None = None) -> None:
    """Initialise every input quantizer's sign and step from the inputs seen on ``x`` (Lp search), once per tensor.

    ``memo_key`` (the FP model's fingerprint and ``x``'s) keeps each quantizer's result per bit-width in
    :mod:`.memo`, so another quantization of the same model reuses it.  Give it only while every layer runs in
    FP (weights ``"fp"``, input quantization off): the inputs seen are then a function of that model and ``x``.
    """
    readers: dict[int, tuple[str, QuantLayer]] = {}
    for n, m in layers:
        readers.setdefault(id(m.aq), (n, m))
    keys = {n: ("act-step", memo_key, n, m.aq.bits, m.aq.p, batch, max_samples) for n, m in readers.values()}
    held = {n: memo.lookup(k) for n, k in keys.items()} if memo_key is not None else {}
    if held and all(v is not None for v in held.values()):  # every search done before: no forward pass
        for name, layer in readers.values():
            _set_step(layer.aq, held[name])
        return
    seen: dict[str, list[torch.Tensor]] = {}
    record = [(m, lambda i, n=n: seen.setdefault(n, []).append(snapshot(i[0]).flatten()))
              for n, m in readers.values()]
    with observing(record, pre=True), torch.no_grad():
        for i in range(0, len(x), batch):
            qmodel(x[i:i + batch])
    gen = torch.Generator().manual_seed(0)
    for name, layer in readers.values():
        values = torch.cat(seen[name])
        if len(values) > max_samples:  # draw for every reader, cached or not: later draws depend on it
            values = values[torch.randperm(len(values), generator=gen)[:max_samples]]

        def search(aq=layer.aq, values=values):
            aq.initialize(values)
            return aq.signed, aq.step.detach().clone()

        if memo_key is None:
            search()
        else:
            _set_step(layer.aq, memo.cached(keys[name], search))


def _set_step(aq: ActQuantizer, signed_step: tuple[bool, torch.Tensor]) -> None:
    aq.signed = signed_step[0]
    with torch.no_grad():
        aq.step.copy_(signed_step[1])


def set_mode(layers: Iterable[tuple[str, QuantLayer]], weight_mode: str, act: bool) -> None:
    """Put the given layers' weight quantizers in ``weight_mode`` and switch their input quantization."""
    for _, layer in layers:
        layer.wq.mode = weight_mode
        layer.act_quant = act
