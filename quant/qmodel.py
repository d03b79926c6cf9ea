"""Quantizable models: BN folding and the wrapping of every Conv2d/Linear into a :class:`QuantLayer`.

Each QuantLayer quantizes its weights (per output channel) and its *input* activations, so a
layer's (w, a) bits are exactly what the hardware tables price: the weights it stores and the
activations it reads.  The last layer's input is therefore really 8-bit when asked.
"""

from __future__ import annotations

import copy
from typing import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import HwsimError

from .hooks import observing
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
    """A Conv2d or Linear with a weight quantizer and an input-activation quantizer."""

    def __init__(self, layer: nn.Module, wbits: int = 8, abits: int = 8, per_channel: bool = True):
        super().__init__()
        self.kind = "conv" if isinstance(layer, nn.Conv2d) else "linear"
        self.conv_args = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                              groups=layer.groups) if self.kind == "conv" else {}
        self.weight = nn.Parameter(layer.weight.detach().clone(), requires_grad=False)
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone(), requires_grad=False)
        self.wq = WeightQuantizer(self.weight, wbits, per_channel)
        self.aq = ActQuantizer(abits)

    @property
    def bits(self) -> tuple[int, int]:
        """(weight bits, activation bits)."""
        return self.wq.bits, self.aq.bits

    def quantized_weight(self) -> torch.Tensor:
        """The weights as the current mode quantizes them."""
        return self.wq(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.aq(x)
        w = self.quantized_weight()
        if self.kind == "conv":
            return F.conv2d(x, w, self.bias, **self.conv_args)
        return F.linear(x, w, self.bias)


def quantizable_names(model: nn.Module) -> list[str]:
    """Names of the modules :func:`wrap` turns into QuantLayers (every Conv2d and Linear)."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def wrap(model: nn.Module, example: torch.Tensor, per_channel: bool = True) -> tuple[nn.Module, nn.Module]:
    """(BN-folded FP model, quantizable copy with QuantLayers at the same module names)."""
    fp = fold_bn(model, example)
    qmodel = copy.deepcopy(fp)
    names = quantizable_names(qmodel)
    if not names:
        raise HwsimError("the model has no Conv2d or Linear layer to quantize")
    for name in names:
        _set_module(qmodel, name, QuantLayer(qmodel.get_submodule(name), per_channel=per_channel))
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


def assign_bits(qmodel: nn.Module, bits: Mapping[str, tuple[int, int]] | tuple[int, int], layers: list,
                first_last_8bit: bool = True) -> dict[str, tuple[int, int]]:
    """Set every layer's (w, a) bits; first and last layer (execution order) 8/8 unless disabled. Returns the map."""
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
    if first_last_8bit:
        plan[names[0]] = plan[names[-1]] = (8, 8)
    for name, layer in layers:
        w, a = plan[name]
        for kind, b in (("weight", w), ("activation", a)):
            if not 2 <= b <= 8:
                raise HwsimError(f"layer {name}: {kind} bits {b} outside 2..8")
        layer.wq.set_bits(layer.weight, w)
        layer.aq.bits = a
    return plan


def calibrate_activations(qmodel: nn.Module, layers: Iterable[tuple[str, QuantLayer]], x: torch.Tensor,
                          batch: int = 256, max_samples: int = 200_000) -> None:
    """Initialise every input quantizer's sign and step from the inputs seen on ``x`` (Lp search)."""
    seen: dict[str, list[torch.Tensor]] = {}
    layers = list(layers)
    record = [(m, lambda i, n=n: seen.setdefault(n, []).append(i[0].detach().flatten())) for n, m in layers]
    with observing(record, pre=True), torch.no_grad():
        for i in range(0, len(x), batch):
            qmodel(x[i:i + batch])
    gen = torch.Generator().manual_seed(0)
    for name, layer in layers:
        values = torch.cat(seen[name])
        if len(values) > max_samples:
            values = values[torch.randperm(len(values), generator=gen)[:max_samples]]
        layer.aq.initialize(values)


def set_mode(layers: Iterable[tuple[str, QuantLayer]], weight_mode: str, act: bool) -> None:
    """Put the given layers' weight quantizers in ``weight_mode`` and switch their input quantizers."""
    for _, layer in layers:
        layer.wq.mode = weight_mode
        layer.aq.enabled = act
