"""``limpq``: learned layer-wise importance indicators (Tang et al., supplement sections 1-2).

The indicators are the learned scale factors (LSQ step sizes) of each layer's quantizers, one weight step
and one activation step per layer and candidate bit-width, trained once, jointly with the weights, by
quantization-aware training over the bit list (the supplement's Algorithm 1): at every step the gradients
of the n *key policies* (every layer at the same bit-width, for each bit-width of the list) and of one
policy drawn uniformly at random (each layer's weight and activation bit-widths drawn independently) are
accumulated, then one SGD step updates weights and steps together.  The supplement trains 5 epochs at
learning rate 0.01 for ResNet-18; here the default is 10 epochs of the embedded task's 1,078 training
originals, a fresh distorted view each time (15 s on two cores in benchmarks/compare_methods.py); ``epochs`` and ``lr`` are parameters.

The search then minimises, over layers, ``I_a(l, a) + alpha * I_w(l, w)`` (the official search's objective;
``alpha`` balances weights against activations: 3.0 for ResNet-18, 2.0 for ResNet-50, 1.0 for MobileNet
in the supplement, 3.0 by default here); these sums are the table's entries, and our exact solver is the
ILP.  The official search gives an indicator that is smaller at a lower bit-width than at the next higher
one (an outlier of the joint training) a huge value; here the table's monotone projection (least squares,
equal weights) moves the out-of-order entries to their mean instead, and ``outliers`` counts them.  Layers the precision policy pins are trained at 8 bits.

The quantizers are LSQ's (Esser et al.): signed weight grid [-2^(b-1), 2^(b-1) - 1] per tensor, unsigned or
signed activation grid by the sign of calibration inputs, step initialised to 2 mean|x| / sqrt(Q_p),
gradient scale 1 / sqrt(n Q_p).
"""

from __future__ import annotations

import math
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from hwsim.precision import PrecisionPolicy, parse_label

from ..qmodel import QuantLayer, _set_module
from .probes import batches, prepare, table_document

DEFAULT_ALPHA = 3.0


def _grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    return (x - x * scale).detach() + x * scale


def lsq(x: torch.Tensor, step: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """LSQ fake quantization of ``x`` on [lo, hi] * step, with LSQ's gradient scale on the step."""
    s = _grad_scale(step.abs().clamp(min=1e-8), 1.0 / math.sqrt(x.numel() * max(hi, 1)))
    v = (x / s).clamp(lo, hi)
    return ((v.round() - v).detach() + v) * s


class MultiBitLayer(nn.Module):
    """A conv or linear layer with one LSQ weight step and one activation step per candidate bit-width; the
    bit-widths in use are chosen by ``select``."""

    def __init__(self, layer: QuantLayer, bits: list[int], signed_input: bool):
        super().__init__()
        self.linear_op = layer.linear_op  # the conv or matrix product (not a submodule: its parameters stay out)
        self.bits = list(bits)
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone())
        self.signed_input = signed_input
        self.w_step = nn.Parameter(torch.ones(len(bits)))
        self.a_step = nn.Parameter(torch.ones(len(bits)))
        self.current = (len(bits) - 1, len(bits) - 1)

    def w_levels(self, b: int) -> tuple[int, int]:
        return -(2 ** (b - 1)), 2 ** (b - 1) - 1

    def a_levels(self, b: int) -> tuple[int, int]:
        return (-(2 ** (b - 1)), 2 ** (b - 1) - 1) if self.signed_input else (0, 2 ** b - 1)

    def init_steps(self, inputs: torch.Tensor) -> None:
        """LSQ's initialisation, 2 mean|x| / sqrt(Q_p), for every bit-width."""
        with torch.no_grad():
            for k, b in enumerate(self.bits):
                self.w_step[k] = 2 * self.weight.abs().mean() / math.sqrt(self.w_levels(b)[1])
                self.a_step[k] = 2 * inputs.abs().mean() / math.sqrt(self.a_levels(b)[1])

    def select(self, wbits: int, abits: int) -> None:
        self.current = (self.bits.index(wbits), self.bits.index(abits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wi, ai = self.current
        x = lsq(x, self.a_step[ai], *self.a_levels(self.bits[ai]))
        w = lsq(self.weight, self.w_step[wi], *self.w_levels(self.bits[wi]))
        return self.linear_op(x, w, self.bias)


def build_multibit(prep, calib_x: torch.Tensor, bits: list[int]) -> dict[str, MultiBitLayer]:
    """Replace every layer of ``prep.qmodel`` by a MultiBitLayer (pinned layers: their 8-bit choice only)."""
    inputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, i, n=n: inputs.setdefault(n, i[0].detach().clone()))
               for n, m in prep.layers]
    with torch.no_grad():
        prep.qmodel(calib_x[:256])
    for h in handles:
        h.remove()
    layers = {}
    for name, layer in prep.layers:
        own = sorted(set(parse_label(prep.pinned[name]))) if name in prep.pinned else bits
        m = MultiBitLayer(layer, own, bool(inputs[name].min() < 0))
        m.init_steps(inputs[name])
        _set_module(prep.qmodel, name, m)
        layers[name] = m
    return layers


def _apply(layers: dict[str, MultiBitLayer], policy: dict[str, tuple[int, int]]) -> None:
    for name, m in layers.items():
        m.select(*policy[name])


def train_indicators(prep, data, bits: list[int], epochs: int = 10, lr: float = 0.01, batch: int = 64, seed: int = 0,
                     progress: bool = False, on_policy=None) -> dict[str, MultiBitLayer]:
    """Algorithm 1: one-time training of weights and per-bit steps; returns the layers (their steps are the
    indicators).  ``on_policy(policy)`` is called for every policy a step trains (tests count them)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    layers = build_multibit(prep, data.calib_x, bits)
    pinned = {n: parse_label(prep.pinned[n]) for n in prep.pinned}
    params = [p for p in prep.qmodel.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    x_all, y_all = data.train_x, data.train_y
    steps = epochs * math.ceil(len(x_all) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    prep.qmodel.train()
    bar = tqdm(total=steps, desc="limpq training", unit="step", disable=not progress, file=sys.stderr)
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=gen)
        for xb, yb in batches(x_all[order], y_all[order], batch):
            if data.augment is not None:
                xb = data.augment(xb, gen)
            opt.zero_grad()
            key = [{n: pinned.get(n, (b, b)) for n in layers} for b in bits]  # the n key policies
            drawn = {n: pinned.get(n, (rng.choice(bits), rng.choice(bits))) for n in layers}  # one random policy
            for policy in key + [drawn]:
                _apply(layers, policy)
                if on_policy is not None:
                    on_policy(policy)
                F.cross_entropy(prep.qmodel(xb), yb).backward()
            opt.step()
            sched.step()
            bar.update()
    bar.close()
    prep.qmodel.eval()
    return layers


def limpq_sensitivity(model, data, choices, policy: PrecisionPolicy | None = None, model_name: str = "", seed: int = 0,
                      epochs: int = 10, lr: float = 0.01, alpha: float = DEFAULT_ALPHA, batch: int = 64,
                      progress: bool = False) -> dict:
    """The limpq table: per layer and choice (w, a), I_a(l, a) + alpha * I_w(l, w) (see the module docstring)."""
    policy = policy or PrecisionPolicy()
    start = time.perf_counter()
    choices = [tuple(c) for c in choices]
    bits = sorted({b for c in choices for b in c})
    prep = prepare(model, data.calib_x, policy)
    layers = train_indicators(prep, data, bits, epochs=epochs, lr=lr, batch=batch, seed=seed, progress=progress)
    indicators = {n: {"weight": {str(b): float(m.w_step[k].detach().abs()) for k, b in enumerate(m.bits)},
                      "activation": {str(b): float(m.a_step[k].detach().abs()) for k, b in enumerate(m.bits)}}
                  for n, m in layers.items()}
    outliers = 0
    for n in prep.free:
        for kind in ("weight", "activation"):
            v = [indicators[n][kind][str(b)] for b in bits]
            outliers += sum(1 for lo, hi in zip(v, v[1:]) if lo < hi)  # a lower bit-width with a smaller step
    entries = {n: np.array([indicators[n]["activation"][str(a)] + alpha * indicators[n]["weight"][str(w)]
                            for w, a in choices]) for n in prep.free}
    details = {"indicators": indicators, "alpha": alpha, "epochs": epochs, "lr": lr, "bits": bits,
               "outliers": outliers, "seconds": time.perf_counter() - start}
    return table_document(prep, "limpq", model_name, choices, policy, entries, details)
