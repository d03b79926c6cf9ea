"""PNMQ: data-free parametric non-uniform weight quantization (Chikin and Antiukh, supplement A-C).

The grid of an n-bit layer, on weights divided by a per-channel scale, is symmetric: zero and the
levels +-d (1 + p + ... + p^k) = +-d (p^(k+1) - 1) / (p - 1) for k = 0 .. K - 1, K = 2^(n-1) - 1 (Eq. A.1),
so n bits hold 2K + 1 levels.  p > 1 puts levels densely near zero, where most weights are; p -> 1 is
the uniform grid.  d is fixed by p and n so that the largest level is 1 (d = (p - 1) / (p^K - 1)): the
per-channel scale maps that channel's clipped range onto [-1, 1].  One p per layer, one scale per output
channel, one n per layer (supplement C).

Rounding is Eq. A.2, k = round(log_p(|x| (p - 1) / d + 1)) - 1 (k = -1: zero), a closed form without
a search over the levels; it is not always the nearest level (``nearest_index`` is, for comparison).

p and the scales are tuned without data by the quantization-error norm the supplement selects (B.3):
L_4(e) = (sum e^4)^(1/4) / N of the layer's weight error, over a grid of p and of clipping ratios.

Mixed precision (:func:`hwsim.quant.sensitivity.pnmq.pnmq_table`): per layer and weight bit-width, the squared error ||Q(W) - W||^2 the
tuned grid leaves, for the exact search under a weight-size budget.  The accelerator's integer PEs cannot
multiply non-uniform codes: a PNMQ layer runs as a per-layer codebook lookup to 8-bit weights before the
MAC.  hwsim prices it by size only (weight bytes at n bits plus a 2^n-entry codebook of 8-bit values per
layer); its latency is that of 8-bit weights (the decode's own cycles are not modelled).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

P_GRID = tuple(float(v) for v in np.round(np.concatenate([[1.0001], np.linspace(1.05, 2.0, 20)]), 4))
CLIP_GRID = tuple(float(v) for v in np.linspace(0.5, 1.0, 26))
NORM = 4  # the supplement's L4 norm


def levels(p: float, bits: int) -> torch.Tensor:
    """The K positive levels d (p^(k+1) - 1) / (p - 1), k = 0 .. K - 1, the largest 1 (float64)."""
    K = 2 ** (bits - 1) - 1
    k = torch.arange(K, dtype=torch.float64)
    if abs(p - 1.0) < 1e-9:
        return (k + 1) / K
    d = (p - 1) / (p ** K - 1)
    return d * (p ** (k + 1) - 1) / (p - 1)


def closed_form_index(x: torch.Tensor, p: float, bits: int) -> torch.Tensor:
    """Eq. A.2: the level index of |x| (-1 = zero), clamped to the grid."""
    K = 2 ** (bits - 1) - 1
    a = x.abs().double()
    if abs(p - 1.0) < 1e-9:
        k = torch.round(a * K) - 1
    else:
        d = (p - 1) / (p ** K - 1)
        k = torch.round(torch.log(a * (p - 1) / d + 1) / np.log(p)) - 1
    return k.clamp(-1, K - 1).long()


def nearest_index(x: torch.Tensor, p: float, bits: int) -> torch.Tensor:
    """The index of the nearest level of |x| (-1 = zero), by search: the reference Eq. A.2 departs from."""
    grid = torch.cat([torch.zeros(1, dtype=torch.float64), levels(p, bits)])
    return (x.abs().double().unsqueeze(-1) - grid).abs().argmin(-1) - 1


def dequantize(index: torch.Tensor, sign: torch.Tensor, p: float, bits: int) -> torch.Tensor:
    """Values of level indices (-1 = zero) with signs."""
    grid = torch.cat([torch.zeros(1, dtype=torch.float64), levels(p, bits)])
    return sign * grid[index + 1]


def quantize_scaled(x: torch.Tensor, p: float, bits: int) -> torch.Tensor:
    """x (already divided by its scale) rounded onto the grid by Eq. A.2."""
    return dequantize(closed_form_index(x, p, bits), torch.sign(x).double(), p, bits)


@dataclasses.dataclass
class PnmqLayer:
    """A tuned grid: p, bits, per-output-channel scales, and the error norm it reached."""

    p: float
    bits: int
    scales: torch.Tensor  # (out_channels,)
    error: float

    def apply(self, weight: torch.Tensor) -> torch.Tensor:
        """The weights on this grid (fake-quantized, float32)."""
        view = (-1,) + (1,) * (weight.dim() - 1)
        s = self.scales.reshape(view)
        return (quantize_scaled(weight.double() / s, self.p, self.bits) * s).to(weight.dtype)


def _lm(err: torch.Tensor, m: int = NORM) -> float:
    """Supplement Eq. B.3: (sum |e|^m)^(1/m) / N."""
    return float(err.abs().pow(m).sum().pow(1.0 / m) / err.numel())


def tune(weight: torch.Tensor, bits: int, p_grid=P_GRID, clip_grid=CLIP_GRID) -> PnmqLayer:
    """p (per layer) and a clipping ratio of each channel's max |w| (its scale) minimising the L4 error."""
    w = weight.detach().double().reshape(weight.shape[0], -1)
    amax = w.abs().max(dim=1).values.clamp(min=1e-12)
    best = None
    for p in p_grid:
        # per channel, the clipping ratio with the smallest error (channels are independent given p)
        errs = []
        for c in clip_grid:
            s = (amax * c)[:, None]
            errs.append((quantize_scaled(w / s, p, bits) * s - w).abs().pow(NORM).sum(dim=1))
        errs = torch.stack(errs)  # (clips, channels)
        pick = errs.argmin(dim=0)
        scales = amax * torch.tensor(clip_grid, dtype=torch.float64)[pick]
        q = quantize_scaled(w / scales[:, None], p, bits) * scales[:, None]
        e = _lm(q - w)
        if best is None or e < best.error:
            best = PnmqLayer(p, bits, scales, e)
    return best


def quantizable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Conv2d and Linear."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def pnmq_quantize(model: nn.Module, bits: dict[str, int] | int) -> tuple[nn.Module, dict[str, PnmqLayer]]:
    """A copy of ``model`` with every Conv2d/Linear's weights on its tuned PNMQ grid (activations stay FP:
    PNMQ is a weight quantizer), and the grids."""
    import copy

    q = copy.deepcopy(model).eval()
    grids = {}
    for name, m in quantizable(q):
        b = bits if isinstance(bits, int) else bits[name]
        grids[name] = tune(m.weight, b)
        with torch.no_grad():
            m.weight.copy_(grids[name].apply(m.weight))
    return q, grids


def size_bytes(module: nn.Module, bits: int) -> int:
    """A PNMQ layer's stored size: codes at ``bits`` per weight, one 8-bit codebook of 2^bits entries."""
    return int(np.ceil(module.weight.numel() * bits / 8)) + 2 ** bits


@dataclasses.dataclass
class PnmqResult:
    """A PNMQ-quantized model (BN folded, weights on their grids, activations FP) and what it measured."""

    qmodel: nn.Module
    grids: dict[str, PnmqLayer]
    bits: dict[str, int]
    notes: list[str]
    fp_accuracy: float
    quant_accuracy: float
    size_bytes: int
    fp_bytes: int
    differs_from_nearest: float  # share of weights whose Eq. A.2 level is not the nearest one

    def summary(self) -> dict:
        """The JSON summary (OUT/summary.json)."""
        return {"quantizer": "pnmq", "fp_accuracy": self.fp_accuracy, "quant_accuracy": self.quant_accuracy,
                "bits": dict(self.bits), "p": {n: g.p for n, g in self.grids.items()},
                "l4_error": {n: g.error for n, g in self.grids.items()}, "size_bytes": self.size_bytes,
                "fp32_bytes": self.fp_bytes, "compression": self.fp_bytes / max(self.size_bytes, 1),
                "differs_from_nearest": self.differs_from_nearest, "bit_changes": list(self.notes),
                "activations": "float (PNMQ quantizes weights only)"}


def quantize_pnmq(model: nn.Module, data, bits: dict[str, int] | int, policy=None) -> PnmqResult:
    """PNMQ on the BN-folded model: ``bits`` weight bits per layer (or one for all); the precision policy
    pins its layers at 8 bits.  Data-free (the data only measures accuracy)."""
    from hwsim.precision import PrecisionPolicy

    from .digits_model import accuracy
    from .qmodel import quant_layers, wrap

    policy = policy or PrecisionPolicy()
    fp, wrapped = wrap(model, data.calib_x[:2])
    names = [n for n, _ in quant_layers(wrapped, data.calib_x[:2])]
    plan = {n: ((bits if isinstance(bits, int) else bits[n]), 8) for n in names}
    plan, notes = policy.apply(plan, names)
    wbits = {n: plan[n][0] for n in names}
    qmodel, grids = pnmq_quantize(fp, wbits)
    modules = dict(quantizable(fp))
    differ = total = 0
    for n, g in grids.items():
        w = modules[n].weight.detach().double().reshape(len(g.scales), -1) / g.scales[:, None]
        differ += int((closed_form_index(w, g.p, g.bits) != nearest_index(w, g.p, g.bits)).sum())
        total += w.numel()
    return PnmqResult(qmodel, grids, wbits, notes, accuracy(fp, data.test_x, data.test_y),
                      accuracy(qmodel, data.test_x, data.test_y),
                      sum(size_bytes(modules[n], b) for n, b in wbits.items()),
                      sum(4 * modules[n].weight.numel() for n in wbits), differ / max(total, 1))
