"""The reconstruction loop (BRECQ Algorithm 1), one function for every unit granularity.

For each unit, in order: cache its input from the partly quantized model (all earlier units
quantized), its output from the FP model, and, for the Fisher objective, the squared gradient
of the task loss with respect to that FP output (paper Eq. 11: the diagonal Fisher); then learn
the unit's AdaRound rounding (Adam) and, for BRECQ, its LSQ activation steps (lr 4e-5) on random
batches of 32, with AdaRound's regulariser (beta 20 -> 2 after a 20% warm-up).  Finally the
unit's rounding is made hard and its activations stay quantized; the loss of the hard rounding
is measured beside the soft one, with the fraction of rounding variables still undecided.

Defaults that differ from the paper, because we run 500 iterations per unit, not 20,000: the
rounding learning rate is 20 / iters (the paper's 1e-3 x 20,000: the same distance travelled)
and the regulariser weight lambda is 3.0 (paper 0.01), so that every rounding variable is decided
by the last iteration and the deployed hard rounding scores what the optimiser saw.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import observing, retaining_output, snapshot
from .qmodel import set_mode
from .units import Unit

OBJECTIVES = ("fisher", "mse")
FISHER_NORMS = ("sample", "global")


@dataclasses.dataclass(frozen=True)
class ReconConfig:
    """Hyper-parameters of block reconstruction; defaults follow BRECQ B.4 except ``iters`` (paper: 20,000)."""

    iters: int = 500
    batch: int = 32
    lr_rounding: float | None = None  # None: 20 / iters (paper: 1e-3 over 20,000 iterations)
    lr_act: float = 4e-5
    round_lambda: float = 3.0  # paper: 0.01 over 20,000 iterations
    beta_start: float = 20.0
    beta_end: float = 2.0
    warmup: float = 0.2
    objective: str = "fisher"
    learn_act: bool = True  # BRECQ learns activation steps; plain AdaRound does not
    fisher_damping: float = 0.0
    fisher_norm: str = "sample"  # "sample": each sample's weights to mean 1; "global": the paper's, one constant

    @property
    def rounding_lr(self) -> float:
        """Adam's learning rate for the rounding variables."""
        return self.lr_rounding if self.lr_rounding is not None else 20.0 / self.iters

    def beta(self, it: int) -> float | None:
        """AdaRound's temperature at iteration ``it``; None during warm-up (no regulariser)."""
        start = self.warmup * self.iters
        if it < start:
            return None
        frac = (it - start) / max(1.0, self.iters - start)
        return self.beta_start + (self.beta_end - self.beta_start) * frac


class _Stop(Exception):
    pass


def _module(model: nn.Module, name: str) -> nn.Module:
    return model if name == "" else model.get_submodule(name)


def unit_inputs(qmodel: nn.Module, unit: Unit, x: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """The unit's input on ``x`` as the current (partly quantized) model produces it."""
    if unit.entry == "":
        return x.clone()
    got = []

    def grab(inp):
        got.append(snapshot(inp[0]))
        raise _Stop  # the rest of the model is not needed

    with observing([(_module(qmodel, unit.entry), grab)], pre=True), torch.no_grad():
        for i in range(0, len(x), batch):
            try:
                qmodel(x[i:i + batch])
            except _Stop:
                pass
    return torch.cat(got)


def unit_targets(fp: nn.Module, unit: Unit, x: torch.Tensor, y: torch.Tensor, fisher: bool,
                 norm: str = "sample", batch: int = 128) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(FP output of the unit, per-element Fisher weights or None) over every calibration batch.

    The Fisher weight is the squared gradient of each sample's cross-entropy w.r.t. the unit's
    output (paper Eq. 11).  ``norm="global"`` divides all of them by one constant (their mean),
    which is the paper's estimate up to the scale that lambda absorbs.  ``norm="sample"``
    (default) scales each sample's weights to mean 1: on a model that fits its data the
    gradients of confidently right samples nearly vanish, and the global form lets a handful of
    hard samples decide every rounding (the ablation is in benchmarks/bench_brecq_digits.py).
    """
    if norm not in FISHER_NORMS:
        raise ValueError(f"fisher norm {norm!r}; allowed: {', '.join(FISHER_NORMS)}")
    outs, grads = [], []
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        store: list[torch.Tensor] = []
        with retaining_output(_module(fp, unit.exit), store):
            if fisher:
                with torch.enable_grad():
                    F.cross_entropy(fp(xb), yb, reduction="sum").backward()  # per-sample gradients
                grads.append(store[0].grad.detach() ** 2)
            else:
                with torch.no_grad():
                    fp(xb)
        outs.append(snapshot(store[0]))
    fp.zero_grad(set_to_none=True)
    if not fisher:
        return torch.cat(outs), None
    g = torch.cat(grads)
    if norm == "sample":
        return torch.cat(outs), g / g.flatten(1).mean(1).clamp(min=1e-30).reshape(-1, *([1] * (g.dim() - 1)))
    return torch.cat(outs), g / g.mean().clamp(min=1e-30)


def _rec_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None, damping: float) -> torch.Tensor:
    """(Fisher-weighted) squared error, summed over channels, averaged over samples and positions."""
    err = (pred - target) ** 2
    if weights is not None:
        err = err * (weights + damping)
    return err.sum(1).mean() if err.dim() > 1 else err.mean()


def undecided_fraction(unit: Unit, margin: float = 0.01) -> float:
    """Share of the unit's rounding variables with soft value strictly inside (margin, 1 - margin)."""
    h = torch.cat([layer.wq.soft_rounding().flatten() for _, layer in unit.layers])
    return float(((h > margin) & (h < 1 - margin)).float().mean())


def unit_loss(unit: Unit, inputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None,
              weight_mode: str, damping: float = 0.0, batch: int = 256) -> float:
    """The reconstruction loss of the unit over all cached samples with its weights in ``weight_mode``."""
    set_mode(unit.layers, weight_mode, True)
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            w = None if weights is None else weights[i:i + batch]
            total += _rec_loss(unit.module(inputs[i:i + batch]), targets[i:i + batch], w, damping).item() * \
                len(inputs[i:i + batch])
    return total / len(inputs)


def reconstruct_unit(unit: Unit, inputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None,
                     cfg: ReconConfig, gen: torch.Generator, on_step=None) -> dict:
    """Learn the unit's rounding (and activation steps); leaves it hard-rounded and quantized.

    Returns ``first_loss`` and ``last_loss`` (the optimised soft objective on the first and last
    batch), ``soft_loss`` and ``hard_loss`` (the objective over every cached sample with the
    final soft and hard rounding) and ``undecided_fraction``.
    """
    set_mode(unit.layers, "soft", True)
    rounding = [layer.wq.alpha for _, layer in unit.layers]
    steps = list({id(layer.aq): layer.aq.step for _, layer in unit.layers}.values())  # shared once
    for p in rounding + (steps if cfg.learn_act else []):
        p.requires_grad_(True)
    groups = [{"params": rounding, "lr": cfg.rounding_lr}]
    if cfg.learn_act:
        groups.append({"params": steps, "lr": cfg.lr_act})
    opt = torch.optim.Adam(groups)
    first = last = None
    try:
        for it in range(cfg.iters):
            idx = torch.randint(0, len(inputs), (min(cfg.batch, len(inputs)),), generator=gen)
            rec = _rec_loss(unit.module(inputs[idx]), targets[idx], None if weights is None else weights[idx],
                            cfg.fisher_damping)
            beta = cfg.beta(it)
            reg = sum(layer.wq.rounding_regularizer(beta) for _, layer in unit.layers) if beta else 0.0
            loss = rec + cfg.round_lambda * reg
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = rec.item() if first is None else first
            last = rec.item()
            if on_step is not None:
                on_step()
    finally:
        for p in rounding + steps:
            p.requires_grad_(False)
    soft = unit_loss(unit, inputs, targets, weights, "soft", cfg.fisher_damping)
    hard = unit_loss(unit, inputs, targets, weights, "hard", cfg.fisher_damping)
    return {"first_loss": first, "last_loss": last, "soft_loss": soft, "hard_loss": hard,
            "undecided_fraction": undecided_fraction(unit)}
