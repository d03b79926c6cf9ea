"""The end-to-end co-design pipeline: tables -> sensitivities -> search -> quantize -> validate.

Every step's result is cached under ``OUT/cache`` by a hash of what it depends on, so an
interrupted run resumes where it stopped and a finished one is re-reported instantly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from hwsim.config import load_config
from hwsim.errors import HwsimError
from hwsim.io import write_atomic
from hwsim.lut import cached_lut
from hwsim.precision import check_bits, parse_label
from hwsim.targets import simulate_network
from hwsim.workload import layers_from_module
from hwsim.precision import PrecisionPolicy
from quant.api import quantize
from quant.fingerprint import model_fingerprint
from quant.integer import integer_execution
from quant.sensitivity import measure_sensitivity
from quant.sources import load_model_and_data
from search.build import problem_from_tables
from search.exact import solve_exact
from search.ga import solve_ga

_CONFIG_DIR = Path(__file__).resolve().parent.parent / "hw_configs"  # shipped configs (source checkout)
DEFAULT_HW = tuple(str(_CONFIG_DIR / n) for n in ("bitfusion_16x32.yaml", "cortex_a53_rpi3b.yaml"))


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What to run; defaults are the digits model on the paper's accelerator and the Pi 3B."""

    model: str = "digits-resnet"
    checkpoint: str | None = None
    data: str | None = None
    hw: tuple[str, ...] = DEFAULT_HW
    budgets: tuple[float, ...] = (0.15, 0.35, 0.6)  # fractions of the latency range above all-lowest
    choices: tuple[str, ...] = ("w2a8", "w4a8", "w8a8")
    iters: int = 200
    seed: int = 0
    out: str = "out/pipeline"
    accumulator_bits: int = 32
    policy: str = "first-last-8bit"


class _Cache:
    """JSON results under OUT/cache keyed by a hash of their inputs; written atomically."""

    def __init__(self, root: Path):
        self.root = root

    def get(self, step: str, key: dict, make):
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        path = self.root / f"{step}-{digest}.json"
        if path.exists():
            try:
                doc = json.loads(path.read_text())
                if doc.get("key") == digest:
                    return doc["value"]
            except (json.JSONDecodeError, KeyError):
                pass  # corrupted: recompute
        value = make()
        write_atomic(path, json.dumps({"key": digest, "value": value}) + "\n")
        return value


def _log(msg: str, progress: bool) -> None:
    if progress:
        tqdm.write(msg, file=sys.stderr)


def run_pipeline(cfg: PipelineConfig, progress: bool = True) -> dict:
    """Run every step (cached) and return the results document (also written as OUT/results.json)."""
    start = time.perf_counter()
    out = Path(cfg.out)
    cache = _Cache(out / "cache")
    choices = [parse_label(c) for c in cfg.choices]
    hws = [load_config(h) for h in cfg.hw]  # config errors surface before any long step
    for hw in hws:
        for w, a in choices:
            check_bits(hw, w, a, f"choice w{w}a{a}: ")
    for b in cfg.budgets:
        if not 0 <= b <= 1:
            raise HwsimError(f"budget {b} is not a fraction in [0, 1] of the latency range")
    torch.manual_seed(cfg.seed)
    cached = sorted((out / "cache").glob("*.json")) if (out / "cache").is_dir() else []
    if cached:
        _log(f"resuming: {len(cached)} cached step results in {out / 'cache'} are reused where their inputs match",
             progress)

    _log("[1/6] model and data", progress)
    model, data = load_model_and_data(cfg.model, cfg.checkpoint, cfg.data, seed=cfg.seed, progress=progress)
    model_key = model_fingerprint(model)
    policy = PrecisionPolicy(cfg.policy)
    layers = layers_from_module(model, data.input_shape)

    _log("[2/6] latency and size tables", progress)
    luts = {hw.name: cached_lut(layers, hw, cfg.model, data.input_shape, progress=progress, policy=policy)[0]
            for hw in hws}

    _log("[3/6] uniform BRECQ at " + ", ".join(cfg.choices) + " and sensitivities", progress)
    key = {"model": model_key, "choices": cfg.choices, "iters": cfg.iters, "seed": cfg.seed, "data": data.name,
           "policy": cfg.policy}
    sens = cache.get("sensitivity", key, lambda: measure_sensitivity(
        model, data.calib_x, data.calib_y, data.holdout_x, data.holdout_y, data.test_x, data.test_y, choices,
        iters=cfg.iters, seed=cfg.seed, model_name=cfg.model, progress=progress, policy=policy))

    _log("[4/6] search (GA, checked by the exact solver)", progress)
    targets = []
    for hw in hws:
        lut = luts[hw.name]
        uniform = [{"choice": c, "latency_ms": lut["totals"][c]["latency_ms"],
                    "accuracy": sens["reconstruction"]["accuracy"][c]} for c in cfg.choices]
        configs = []
        for frac in cfg.budgets:
            problem = problem_from_tables(lut, sens, frac, "fraction", "latency")
            ga, exact = solve_ga(problem, cfg.seed), solve_exact(problem)
            gap = (ga.objective - exact.objective) / max(abs(exact.objective), 1e-12)
            configs.append({"budget_fraction": frac, "budget_ms": problem.budget, "assignment": ga.assignment,
                            "predicted_ms": ga.cost, "predicted_loss": ga.objective, "exact_loss": exact.objective,
                            "ga_gap_pct": 100 * gap, "ga_seconds": ga.seconds, "feasible": ga.feasible})
        targets.append({"hardware": hw.name, "kind": hw.kind, "uniform": uniform, "configs": configs})

    _log("[5/6] quantize the chosen configs by block reconstruction", progress)
    fp_accuracy = None
    for t in targets:
        for c in t["configs"]:
            bits = {n: parse_label(v) for n, v in c["assignment"].items()}
            qkey = {"model": model_key, "bits": c["assignment"], "iters": cfg.iters, "seed": cfg.seed,
                    "policy": cfg.policy}

            def run_q(bits=bits):
                r = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, bits, iters=cfg.iters,
                             seed=cfg.seed, policy=policy, progress=progress)
                report = integer_execution(r.qmodel, data.calib_x, data.test_x, data.test_y,
                                           accumulator_bits=cfg.accumulator_bits)
                return {"accuracy": r.quant_accuracy, "fp_accuracy": r.fp_accuracy, "seconds": r.seconds,
                        "bit_changes": r.notes, "integer": report.to_json()}

            q = cache.get("quantize", {**qkey, "acc": cfg.accumulator_bits}, run_q)
            c["accuracy"], c["integer"], fp_accuracy = q["accuracy"], q["integer"], q["fp_accuracy"]
            c["bit_changes"] = q["bit_changes"]

    _log("[6/6] validate: whole-network latency (integer execution ran with each quantization)", progress)
    for hw, t in zip(hws, targets):
        for c in t["configs"]:
            bits = {n: parse_label(v) for n, v in c["assignment"].items()}
            c["simulated_ms"] = simulate_network(layers, hw, bits, whole_network=True).latency_ms
            c["latency_error_pct"] = 100 * (c["predicted_ms"] - c["simulated_ms"]) / c["simulated_ms"]
    results = {"format": "hwsim-pipeline/1", "model": cfg.model, "data": data.name, "seed": cfg.seed,
               "iters": cfg.iters, "fp_accuracy": fp_accuracy if fp_accuracy is not None else
               sens["reconstruction"]["accuracy"].get("w8a8"), "choices": list(cfg.choices),
               "targets": targets, "sensitivity": {"base_loss": sens["base_loss"]},
               "layers": [layer.name for layer in layers], "seconds": time.perf_counter() - start}
    write_atomic(out / "results.json", json.dumps(results, indent=1) + "\n")
    return results

