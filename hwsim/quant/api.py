"""Post-training quantization of a whole model: the one function the CLI, benchmarks and pipeline call.

Methods (a registry, not an if-chain):
``rtn``      round to nearest on the Lp-searched grid, activation steps from the same search;
``adaround`` layer-wise AdaRound (Nagel et al. 2020): layer output MSE, rounding learned, steps fixed;
``brecq``    BRECQ: reconstruction at the chosen granularity and objective, rounding and steps learned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Mapping

import torch
from torch import nn
from tqdm import tqdm

from hwsim.cache import code_identity
from hwsim.errors import HwsimError
from hwsim.io import replace_atomic
from hwsim.resources import check_memory
from hwsim.precision import PrecisionPolicy, label

from . import memo
from .digits_model import accuracy
from .qmodel import QuantLayer, assign_bits, calibrate_activations, quant_layers, set_mode, wrap
from .fingerprint import model_fingerprint
from .memo import data_fingerprint
from .hooks import observing
from .reproducible import pin_torch
from .reconstruct import FISHER_NORMS, OBJECTIVES, ReconConfig, reconstruct_unit, unit_inputs, unit_targets
from .units import GRANULARITIES, find_units

METHODS = {
    "rtn": None,
    "adaround": {"granularity": "layer", "objective": "mse", "learn_act": False},
    "brecq": {},
}


@dataclasses.dataclass
class QuantResult:
    """A quantized model and what it scored."""

    qmodel: nn.Module
    fp_model: nn.Module
    bits: dict[str, tuple[int, int]]
    fp_accuracy: float
    quant_accuracy: float
    seconds: float
    units: list[dict]
    notes: list[str] = dataclasses.field(default_factory=list)  # requested bit-widths the rules changed
    policy: str = "first-last-8bit"

    def summary(self, **extra) -> dict:
        """The JSON record written as summary.json."""
        return {"fp_accuracy": self.fp_accuracy, "quant_accuracy": self.quant_accuracy,
                "bits": {n: label(w, a) for n, (w, a) in self.bits.items()}, "policy": self.policy,
                "bit_changes": self.notes, "seconds": self.seconds, "units": self.units, **extra}


def layer_state(layers: list[tuple[str, QuantLayer]]) -> dict:
    """Python-side quantizer state (bits, sign, modes) that a state_dict does not hold."""
    return {n: {"wbits": m.wq.bits, "abits": m.aq.bits, "signed": m.aq.signed, "mode": m.wq.mode,
                "act": m.act_quant} for n, m in layers}


def restore_layer_state(layers: list[tuple[str, QuantLayer]], state: dict) -> None:
    """Inverse of :func:`layer_state` (after load_state_dict)."""
    for n, m in layers:
        s = state[n]
        m.wq.bits, m.aq.bits, m.aq.signed, m.wq.mode, m.act_quant = s["wbits"], s["abits"], s["signed"], s["mode"], s["act"]


def unit_state(layers: list[tuple[str, QuantLayer]]) -> dict:
    """Copies of what reconstruction learns in ``layers`` (rounding, scales, activation steps and their modes)."""
    return {"tensors": {n: {k: v.detach().clone() for k, v in m.state_dict().items() if k not in ("weight", "bias")}
                        for n, m in layers}, "layers": layer_state(layers)}


def load_unit_state(layers: list[tuple[str, QuantLayer]], state: dict) -> None:
    """Inverse of :func:`unit_state`: put the learned values back into ``layers``."""
    for n, m in layers:
        m.load_state_dict(state["tensors"][n], strict=False)  # every learned entry; weight and bias are unchanged
    restore_layer_state(layers, state["layers"])


def reconstruction_memory_bytes(qmodel: nn.Module, units: list, example: torch.Tensor, n: int) -> float:
    """Estimated peak memory of reconstruction: the largest unit's cached input, target and Fisher weights for
    ``n`` samples, plus the model."""
    sizes: dict[str, int] = {}
    record = [(_module_of(qmodel, u.entry), lambda i, u=u: sizes.__setitem__(u.name + "<", i[0][:1].numel()))
              for u in units]
    record_out = [(_module_of(qmodel, u.exit), lambda i, o, u=u: sizes.__setitem__(u.name + ">", o[:1].numel()))
                  for u in units]
    with observing(record, pre=True), observing(record_out), torch.no_grad():
        qmodel(example[:1])
    per_sample = max(sizes.get(u.name + "<", 0) + 2 * sizes.get(u.name + ">", 0) for u in units)
    params = sum(p.numel() for p in qmodel.parameters())
    return 4.0 * (n * per_sample + 4 * params)


def _module_of(model: nn.Module, name: str) -> nn.Module:
    return model if name == "" else model.get_submodule(name)


def _save_atomic(obj, path: Path) -> None:
    replace_atomic(path, lambda tmp: torch.save(obj, tmp))


def quantize(model: nn.Module, calib_x: torch.Tensor, calib_y: torch.Tensor, test_x: torch.Tensor,
             test_y: torch.Tensor, bits: tuple[int, int] | Mapping[str, tuple[int, int]] = (4, 8),
             method: str = "brecq", granularity: str = "block", objective: str = "fisher", iters: int = 500,
             seed: int = 0, policy: PrecisionPolicy | None = None, checkpoint_dir: Path | None = None,
             progress: bool = True, recon: ReconConfig | None = None, per_channel: bool = True) -> QuantResult:
    """Quantize ``model`` at ``bits`` (one pair or per layer) with ``method``; evaluate FP and quantized top-1.

    ``policy`` (default first-last-8bit) pins layers; every requested bit-width it or the
    one-quantizer-per-tensor rule changes is listed in ``QuantResult.notes``.  With
    ``checkpoint_dir`` every finished unit is saved, and a rerun with the same settings resumes
    after the last finished unit.
    """
    if method not in METHODS:
        raise HwsimError(f"method {method!r} is not known; allowed: {', '.join(METHODS)}")
    if granularity not in GRANULARITIES:
        raise HwsimError(f"granularity {granularity!r} is not known; allowed: {', '.join(GRANULARITIES)}")
    if objective not in OBJECTIVES:
        raise HwsimError(f"objective {objective!r} is not known; allowed: {', '.join(OBJECTIVES)}")
    pin_torch()
    start = time.perf_counter()
    torch.manual_seed(seed)
    example = calib_x[:2]
    fp, qmodel = wrap(model, example, per_channel)
    layers = quant_layers(qmodel, example)
    policy = policy or PrecisionPolicy()
    plan, notes = assign_bits(qmodel, bits, layers, policy)
    fp_key, calib_key = model_fingerprint(fp), data_fingerprint(calib_x)  # what the FP work below depends on
    calibrate_activations(qmodel, layers, calib_x, memo_key=fp_key + calib_key)
    units_log: list[dict] = []
    if method == "rtn":
        set_mode(layers, "nearest", True)
    else:
        opts = {"granularity": granularity, "objective": objective, "learn_act": True, **METHODS[method]}
        cfg = recon or ReconConfig(iters=iters, objective=opts["objective"], learn_act=opts["learn_act"])
        if cfg.fisher_norm not in FISHER_NORMS:
            raise HwsimError(f"fisher norm {cfg.fisher_norm!r} is not known; allowed: {', '.join(FISHER_NORMS)}")
        units = find_units(qmodel, layers, opts["granularity"], example)
        check_memory(f"block reconstruction of {len(calib_x)} calibration images",
                     reconstruction_memory_bytes(qmodel, units, example, len(calib_x)))
        key = hashlib.sha256(json.dumps({"cfg": dataclasses.asdict(cfg), "gran": opts["granularity"], "seed": seed,
                                         "bits": sorted(plan.items()), "method": method, "per_channel": per_channel,
                                         "model": model_fingerprint(model),
                                         "calib": list(calib_x.shape), "code": code_identity()},
                                        default=str).encode()).hexdigest()[:16]
        ckpt = Path(checkpoint_dir) / "progress.pt" if checkpoint_dir else None
        done: list[str] = []
        if ckpt is not None and ckpt.exists():
            try:
                saved = torch.load(ckpt, map_location="cpu", weights_only=True)  # tensors and plain data only
            except Exception as exc:  # a truncated or foreign file: start over, say so
                saved = {}
                print(f"hwsim: warning: {ckpt} is unreadable ({type(exc).__name__}); starting over", file=sys.stderr)
            if saved.get("key") == key:
                qmodel.load_state_dict(saved["state"])
                restore_layer_state(layers, saved["layers"])
                done, units_log = saved["done"], saved["log"]
            elif saved:
                print(f"hwsim: warning: {ckpt} was made with other settings; starting over", file=sys.stderr)
        bar = tqdm(units, desc=f"{method} {opts['granularity']}", unit="unit", disable=not progress, file=sys.stderr)
        labels_key = data_fingerprint(calib_y)
        prefix: tuple = ("unit-recon", fp_key, calib_key, labels_key, cfg, opts["granularity"], seed, per_channel)
        for ui, unit in enumerate(bar):
            bar.set_postfix(unit=unit.name[:24])
            # a unit's result depends on the FP work, the settings and the bits of this unit and every earlier one
            prefix += ((unit.name, tuple((n, plan[n]) for n, _ in unit.layers)),)
            if unit.name in done:
                continue

            def run(unit=unit, ui=ui) -> tuple[dict, dict]:
                inputs = unit_inputs(qmodel, unit, calib_x)
                targets, weights = memo.cached(
                    ("unit-targets", fp_key, calib_key, labels_key, unit.exit, cfg.objective == "fisher",
                     cfg.fisher_norm),
                    lambda: unit_targets(fp, unit, calib_x, calib_y, cfg.objective == "fisher", cfg.fisher_norm))
                gen = torch.Generator().manual_seed(seed * 1000 + ui)
                losses = reconstruct_unit(unit, inputs, targets, weights, cfg, gen)
                return unit_state(unit.layers), losses

            held = memo.lookup(prefix)  # another quantization reconstructed this unit after the same prefix
            if held is None:
                held = memo.cached(prefix, run)
            else:
                load_unit_state(unit.layers, held[0])
            losses = held[1]
            units_log.append({"unit": unit.name, "layers": [n for n, _ in unit.layers], **losses})
            done.append(unit.name)
            if ckpt is not None:
                _save_atomic({"key": key, "done": done, "log": units_log, "state": qmodel.state_dict(),
                              "layers": layer_state(layers)}, ckpt)
        set_mode(layers, "hard", True)
    fp_accuracy = memo.cached(("fp-accuracy", fp_key, data_fingerprint(test_x, test_y)),
                              lambda: accuracy(fp, test_x, test_y))
    return QuantResult(qmodel, fp, plan, fp_accuracy, accuracy(qmodel, test_x, test_y),
                       time.perf_counter() - start, units_log, notes, policy.name)


def save_quantized(result: QuantResult, out_dir: Path, **summary_extra) -> None:
    """OUT/quantized.pt (state dict + quantizer state) and OUT/summary.json, each written atomically."""
    from hwsim.io import write_atomic

    layers = quant_layers(result.qmodel)
    _save_atomic({"state_dict": result.qmodel.state_dict(), "layers": layer_state(layers),
                  "bits": result.bits}, Path(out_dir) / "quantized.pt")
    write_atomic(Path(out_dir) / "summary.json", json.dumps(result.summary(**summary_extra), indent=2, allow_nan=False) + "\n")
