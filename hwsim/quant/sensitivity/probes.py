"""What the gradient- and curvature-based sensitivity methods share: quantization errors and input probes.

- :func:`prepare`: the BN-folded FP model wrapped for quantization, its layers in execution order, and
  which of them the precision policy pins (the methods score only the others).
- :func:`quantization_errors`: per layer, the squared error each weight bit-width's grid makes on the
  weights, ||Q_b(W) - W||^2 (the project's per-channel Lp-searched affine grid, round to nearest), and
  the mean squared error each activation bit-width's grid makes on one sample's input,
  E_x ||Q_a(x) - x||^2 (the LSQ step initialised by the same Lp search on calibration inputs).
- :class:`InputProbes`: a zero tensor added to every layer's input, shaped like one batch's input and
  requiring a gradient, so gradients and Hessian-vector products with respect to each layer's input
  are taken as with respect to independent variables (a perturbation of one layer's input still flows
  through the rest of the network).

These methods predict the loss a choice adds from these errors and a per-layer scale (a gradient
norm, a Hessian trace); the table they produce is the same ``hwsim-sensitivity/2`` document the
search reads (:func:`table_document`).
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import torch
from torch import nn

from hwsim.precision import PrecisionPolicy, label

from ..fingerprint import model_fingerprint
from ..memo import data_fingerprint
from ..qmodel import activation_groups, calibrate_activations, quant_layers, set_mode, wrap

FORMAT = "hwsim-sensitivity/2"


@dataclasses.dataclass
class Prepared:
    """A model ready to be probed: FP model, its quantizable copy, layers in execution order, pinned layers."""

    fp: nn.Module
    qmodel: nn.Module
    layers: list  # (name, QuantLayer) in execution order
    pinned: dict[str, str]  # layer -> label the policy fixes

    @property
    def free(self) -> list[str]:
        """The layers whose bits the search chooses."""
        return [n for n, _ in self.layers if n not in self.pinned]


def prepare(model: nn.Module, example: torch.Tensor, policy: PrecisionPolicy) -> Prepared:
    """Wrap ``model`` (a copy; BN folded) with every quantizer off."""
    fp, qmodel = wrap(model, example[:2])
    layers = quant_layers(qmodel, example[:2])
    set_mode(layers, "fp", False)
    names = [n for n, _ in layers]
    pinned = {n: label(*bits) for n, (bits, _) in policy.pinned(names).items()}
    return Prepared(fp, qmodel, layers, pinned)


def quantization_errors(prep: Prepared, calib_x: torch.Tensor, wbits: list[int], abits: list[int],
                        samples: int = 256) -> tuple[dict, dict, dict, dict]:
    """(dw2, dx2, n_w, n_x): ``dw2[layer][b]`` = ||Q_b(W) - W||^2, ``dx2[layer][a]`` = mean over ``samples``
    calibration inputs of ||Q_a(x) - x||^2; ``n_w`` weights and ``n_x`` input elements per sample."""
    dw2 = {n: {} for n, _ in prep.layers}
    n_w = {n: int(m.weight.numel()) for n, m in prep.layers}
    for name, layer in prep.layers:
        for b in wbits:
            layer.wq.set_bits(layer.weight, b)
            layer.wq.mode = "nearest"
            with torch.no_grad():
                dw2[name][b] = float(((layer.quantized_weight() - layer.weight) ** 2).sum())
        layer.wq.mode = "fp"
    inputs = {}
    x = calib_x[:samples]
    with _recording_inputs(prep.layers, inputs), torch.no_grad():
        prep.qmodel(x)
    n_x = {n: int(inputs[n][0].numel()) for n, _ in prep.layers}
    dx2 = {n: {} for n, _ in prep.layers}
    calib_key = model_fingerprint(prep.fp) + data_fingerprint(calib_x)  # every layer runs in FP here
    for a in abits:
        for _, layer in prep.layers:
            layer.aq.bits = a
        calibrate_activations(prep.qmodel, prep.layers, calib_x, memo_key=calib_key)
        with torch.no_grad():
            for name, layer in prep.layers:
                v = inputs[name]
                dx2[name][a] = float(((layer.aq(v) - v) ** 2).flatten(1).sum(1).mean())
    return dw2, dx2, n_w, n_x


@contextlib.contextmanager
def _recording_inputs(layers, store: dict):
    handles = [m.register_forward_pre_hook(lambda mod, i, n=n: store.__setitem__(n, i[0].detach().clone()))
               for n, m in layers]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class InputProbes:
    """Zero perturbations added to each layer's input (leaves with gradients), made afresh for every batch.

    Use as ``with probes.attached(batch_size):`` around a forward pass; ``probes.leaves`` then holds one
    tensor per layer (in ``layers`` order) whose gradient is the loss's gradient with respect to that input.
    """

    def __init__(self, layers):
        self.layers = layers
        self.leaves: list[torch.Tensor] = []

    @contextlib.contextmanager
    def attached(self):
        self.leaves = [None] * len(self.layers)

        def hook(module, inputs, k):
            x = inputs[0]
            if self.leaves[k] is None:
                self.leaves[k] = torch.zeros_like(x, requires_grad=True)
            return (x + self.leaves[k],) + tuple(inputs[1:])

        handles = [m.register_forward_pre_hook(lambda mod, i, k=k: hook(mod, i, k))
                   for k, (_, m) in enumerate(self.layers)]
        try:
            yield self
        finally:
            for h in handles:
                h.remove()


def weights_requiring_grad(prep: Prepared) -> list[torch.Tensor]:
    """Every layer's weight tensor, switched to require a gradient (in ``prep.layers`` order)."""
    ws = []
    for _, layer in prep.layers:
        layer.weight.requires_grad_(True)
        ws.append(layer.weight)
    return ws


def batches(x: torch.Tensor, y: torch.Tensor, size: int):
    """Consecutive (x, y) batches."""
    for i in range(0, len(x), size):
        yield x[i:i + size], y[i:i + size]


def table_document(prep: Prepared, method: str, model_name: str, choices: list[tuple[int, int]], policy: PrecisionPolicy,
                   entries: dict[str, np.ndarray], details: dict) -> dict:
    """The ``hwsim-sensitivity/2`` document of per-layer entries (one value per choice, in ``choices`` order).

    Entries are made never negative and monotone in bits (a lower weight or activation bit-width never
    predicts a smaller loss) by the same projection BRECQ's table gets, with equal weights.
    """
    from .brecq import _covering_pairs, project_monotone

    order = _covering_pairs(choices)
    table, fixed = {}, 0
    for name in prep.free:
        raw = np.asarray(entries[name], dtype=float)
        proj = project_monotone(raw, np.ones_like(raw), order)
        fixed += int((np.abs(proj - raw) > 1e-12 * max(1.0, float(np.abs(raw).max()))).sum())
        table[name] = {label(*c): float(v) for c, v in zip(choices, proj)}
    return {"format": FORMAT, "model": model_name, "method": method, "choices": [label(*c) for c in choices],
            "policy": policy.name, "pinned": dict(prep.pinned), "act_groups": activation_groups(prep.layers),
            "layers": table, "measured": {n: [float(v) for v in entries[n]] for n in prep.free},
            "projection": {"moved": fixed}, "blocks": {}, "pairs": [], **details}
