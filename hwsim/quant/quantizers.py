"""Quantizers: uniform affine weights (with AdaRound), LSQ activation steps, and the Lp range search.

Weight modes of :class:`WeightQuantizer`:
``"fp"`` (no quantization), ``"nearest"`` (round to nearest), ``"soft"`` (AdaRound's rectified
sigmoid, differentiable, during reconstruction), ``"hard"`` (AdaRound's learned up/down decision).
"""

from __future__ import annotations

import torch
from torch import nn

GAMMA, ZETA = -0.1, 1.1  # AdaRound's rectified-sigmoid stretch (Nagel et al. 2020)
WEIGHT_MODES = ("fp", "nearest", "soft", "hard")


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest with a straight-through gradient."""
    return (x.round() - x).detach() + x


def lp_search_affine(x: torch.Tensor, bits: int, p: float = 2.4, steps: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (scale, zero point) of an affine ``bits`` grid minimising mean |x - q(x)|^p.

    ``x`` is (rows, n).  Candidate ranges shrink [min, max] of each row by 0%, 1%, ... (steps-1)%;
    all rows are searched at once.
    """
    levels = 2 ** bits - 1
    lo = x.min(dim=1, keepdim=True).values.clamp(max=0)
    hi = x.max(dim=1, keepdim=True).values.clamp(min=0)
    best_err = torch.full_like(lo, float("inf"))
    best_scale, best_zp = torch.ones_like(lo), torch.zeros_like(lo)
    for i in range(steps):
        f = 1.0 - 0.01 * i
        scale = ((hi - lo) * f / levels).clamp(min=1e-8)
        zp = (-lo * f / scale).round()
        q = ((x / scale).round() + zp).clamp(0, levels)
        err = ((q - zp) * scale - x).abs().pow(p).mean(dim=1, keepdim=True)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_scale = torch.where(better, scale, best_scale)
        best_zp = torch.where(better, zp, best_zp)
    return best_scale, best_zp


def lp_search_symmetric(x: torch.Tensor, lo_level: int, hi_level: int, p: float = 2.4, steps: int = 80) -> torch.Tensor:
    """Step of a zero-point-free grid [lo_level, hi_level] * step minimising mean |x - q(x)|^p (x flattened)."""
    x = x.flatten()
    amax = x.abs().max().clamp(min=1e-8)
    best_err, best = float("inf"), amax / max(hi_level, 1)
    for i in range(steps):
        step = amax * (1.0 - 0.01 * i) / max(hi_level, 1)
        err = ((x / step).round().clamp(lo_level, hi_level) * step - x).abs().pow(p).mean().item()
        if err < best_err:
            best_err, best = err, step
    return best


class WeightQuantizer(nn.Module):
    """Uniform affine weight quantizer, per output channel (default) or per tensor, with AdaRound."""

    def __init__(self, weight: torch.Tensor, bits: int = 8, per_channel: bool = True, p: float = 2.4):
        super().__init__()
        self.per_channel, self.p = per_channel, p
        self.shape = weight.shape
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("zero_point", torch.zeros(1))
        self.alpha = nn.Parameter(torch.zeros_like(weight))  # AdaRound's continuous rounding variable
        self.mode = "fp"
        self.set_bits(weight, bits, search=False)  # min/max grid until bits are assigned

    def set_bits(self, weight: torch.Tensor, bits: int, search: bool = True) -> None:
        """(Re)initialise the grid for ``bits`` (Lp search, or min/max) and AdaRound's alpha from the weights."""
        if not 2 <= bits <= 8:
            raise ValueError(f"weight bits must be 2..8, got {bits}")
        self.bits = bits
        rows = weight.detach().reshape(weight.shape[0] if self.per_channel else 1, -1)
        scale, zp = lp_search_affine(rows, bits, self.p, steps=80 if search else 1)
        view = (-1,) + (1,) * (weight.dim() - 1) if self.per_channel else (1,) * weight.dim()
        self.scale = scale.reshape(view)
        self.zero_point = zp.reshape(view)
        frac = weight.detach() / self.scale - (weight.detach() / self.scale).floor()
        # rectified sigmoid h(alpha) = clamp(sigmoid(alpha) * (ZETA - GAMMA) + GAMMA, 0, 1) starts at frac
        with torch.no_grad():
            self.alpha.copy_(-torch.log((ZETA - GAMMA) / (frac - GAMMA) - 1))

    def soft_rounding(self) -> torch.Tensor:
        """AdaRound's h(alpha) in [0, 1]."""
        return (torch.sigmoid(self.alpha) * (ZETA - GAMMA) + GAMMA).clamp(0, 1)

    def rounding_regularizer(self, beta: float) -> torch.Tensor:
        """sum(1 - |2h - 1|^beta): pushes every h to 0 or 1 as beta falls."""
        return (1 - (2 * self.soft_rounding() - 1).abs().pow(beta)).sum()

    def integer(self, weight: torch.Tensor) -> torch.Tensor:
        """Integer levels in [0, 2^bits - 1] (mode nearest or hard)."""
        base = (weight / self.scale).floor() + (self.alpha >= 0).float() if self.mode == "hard" else (weight / self.scale).round()
        return (base + self.zero_point).clamp(0, 2 ** self.bits - 1)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.mode == "fp":
            return weight
        if self.mode == "soft":
            q = ((weight / self.scale).floor() + self.soft_rounding() + self.zero_point).clamp(0, 2 ** self.bits - 1)
        else:
            q = self.integer(weight)
        return (q - self.zero_point) * self.scale


class ActQuantizer(nn.Module):
    """LSQ activation quantizer (per tensor, learnable step, no zero point, no gradient scale: BRECQ B.4.4).

    Unsigned grid [0, 2^b - 1] when the calibration inputs are non-negative (after ReLU),
    signed [-2^(b-1), 2^(b-1) - 1] otherwise.
    """

    def __init__(self, bits: int = 8, p: float = 2.4):
        super().__init__()
        self.bits, self.p = bits, p
        self.step = nn.Parameter(torch.ones(()))
        self.signed = True

    def levels(self) -> tuple[int, int]:
        """(lowest, highest) integer level."""
        return (-(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1) if self.signed else (0, 2 ** self.bits - 1)

    def initialize(self, samples: torch.Tensor, bits: int | None = None) -> None:
        """Set signedness from the samples' sign and the step by the Lp search."""
        if bits is not None:
            if not 2 <= bits <= 8:
                raise ValueError(f"activation bits must be 2..8, got {bits}")
            self.bits = bits
        self.signed = bool(samples.min() < 0)
        with torch.no_grad():
            self.step.copy_(lp_search_symmetric(samples.detach(), *self.levels(), p=self.p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.levels()
        step = self.step.abs().clamp(min=1e-8)
        return round_ste(x / step).clamp(lo, hi) * step
