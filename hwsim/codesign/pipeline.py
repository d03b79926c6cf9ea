"""The end-to-end co-design pipeline: tables -> sensitivities -> search -> quantize -> validate.

Every step's result is cached under ``OUT/cache`` by a hash of what it depends on, so an
interrupted run resumes where it stopped and a finished one is re-reported instantly.  The run
is deterministic from ``seed`` (Python, numpy and torch seeds, a fixed torch thread count, the
data split, the GA): two runs give the same ``results.json`` except for wall-clock fields
(``seconds`` and ``*_seconds``).

``results.json`` (format ``hwsim-pipeline/2``)::

    {"format": "hwsim-pipeline/2", "model", "data", "seed", "iters", "policy", "pinned": {layer: reason},
     "fp_accuracy": 87.15 (percent), "choices": ["w2a2", ...],
     "targets": [{"hardware", "kind", "area_mm2" (systolic targets),
                  "uniform": [{"w_bits", "a_bits", "latency_ms", "energy_uj", "predicted_ms", "accuracy"}, ...],
                  "configs": [{"budget_label", "budget_fraction", "budget_ms", "assignment": {layer: {"w", "a"}},
                               "predicted_ms", "simulated_ms", "energy_uj", "latency_error_pct", "accuracy",
                               "predicted_loss", "exact_loss", "ga_gap_pct", "ga_seconds", "bits_file",
                               "earns_place", "best_uniform_no_slower", "top1_agreement", "max_logit_error",
                               "integer": {"passed", ...}}, ...],
                  "mixed_earns_place": true}, ...],
     "layers": [...], "seconds"}

Accuracies are test top-1 in percent.  A mixed config *earns its place* when its accuracy is at
least 0.5 points above every uniform configuration that is no slower (re-simulated latency).
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from hwsim.cache import Cache
from hwsim.config import ArmConfig, load_config, with_run_options
from hwsim.errors import HwsimError
from hwsim.io import check_output_dir, write_atomic
from hwsim.lock import folder_lock
from hwsim.lut import cached_lut
from hwsim.precision import PrecisionPolicy, check_bits, label, parse_label
from hwsim.shipped import CONFIG_DIR
from hwsim.targets import simulate_network
from hwsim.workload import layers_from_module
from hwsim.quant.api import quantize
from hwsim.quant.fingerprint import model_fingerprint
from hwsim.quant.integer import integer_execution
from hwsim.quant.sensitivity import METHODS, measure
from hwsim.quant.sensitivity.brecq import uniform_reconstruction
from hwsim.quant.reproducible import pin_torch
from hwsim.quant.sources import check_model_source, load_model_and_data
from hwsim.search.build import problem_from_tables
from hwsim.search.exact import solve_exact
from hwsim.search.ga import solve_ga

DEFAULT_HW = tuple(str(CONFIG_DIR / n) for n in ("bitfusion_16x32.yaml", "cortex_a53_rpi3b.yaml"))  # shipped
ALL_CHOICES = tuple(f"w{w}a{a}" for w in (2, 4, 8) for a in (2, 4, 8))
EARN_MARGIN = 0.5  # points of top-1 a mixed config must gain over every no-slower uniform config
RESULTS_FORMAT = "hwsim-pipeline/2"


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What to run; defaults are the embedded noisy-digits model on the paper's accelerator and the Pi 3B."""

    model: str = "digits-resnet"
    checkpoint: str | None = None
    trust_checkpoint: bool = False  # load the checkpoint as a full pickle (it may run code)
    data: str | None = None
    hw: tuple[str, ...] = DEFAULT_HW
    budgets: tuple[float, ...] = ()  # fractions of the latency range (cheapest to dearest); () = the front's gaps
    gaps: int = 3  # with budgets=(): one budget in the middle of each of the first ``gaps`` gaps of the uniform front
    choices: tuple[str, ...] = ALL_CHOICES
    iters: int = 200
    seed: int = 0
    out: str = "out/pipeline"
    accumulator_bits: int = 32
    policy: str = "first-last-8bit"
    torch_threads: int = 2  # fixed, so results do not depend on the machine's core count
    arm_threads: int | None = None  # cores every ARM target runs on (None: its config's)
    arm_clock_mhz: float | None = None  # core clock of every ARM target (None: its config's)
    sensitivity_metric: str = "kl"
    sensitivity_method: str = "brecq"  # which table the search reads (quant.sensitivity.METHODS)
    sensitivity_options: tuple = ()  # (name, value) pairs of the method's own options (e.g. ("k", 0.001))


def _log(msg: str, progress: bool) -> None:
    if progress:
        tqdm.write(msg, file=sys.stderr)


def seed_everything(seed: int, threads: int) -> None:
    """Python, numpy and torch seeds and torch's thread count: everything a run's numbers depend on."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    pin_torch(threads)


def _check(cfg: PipelineConfig):
    """Validate the configuration before any long step; returns (hardware configs, choices, policy)."""
    choices = [parse_label(c) for c in cfg.choices]
    if len(set(choices)) != len(choices) or not choices:
        raise HwsimError(f"choices {list(cfg.choices)}: give distinct labels such as w2a2,w4a4")
    hws = [with_run_options(load_config(h), cfg.arm_threads, cfg.arm_clock_mhz, strict=False) for h in cfg.hw]
    if (cfg.arm_threads or cfg.arm_clock_mhz) and not any(isinstance(hw, ArmConfig) for hw in hws):
        raise HwsimError("--threads and --clock-mhz apply to ARM targets; none of the --hw configs is one")
    names = [hw.name for hw in hws]
    if len(set(names)) != len(names):
        raise HwsimError(f"hardware configs {names} share a name: give each target once")
    for hw in hws:
        for w, a in choices:
            check_bits(hw, w, a, f"choice w{w}a{a}: ")
    for b in cfg.budgets:
        if not 0 <= b <= 1:
            raise HwsimError(f"budget {b} is not a fraction in [0, 1] of the latency range")
    if not cfg.budgets and cfg.gaps < 1:
        raise HwsimError(f"gaps {cfg.gaps}: allowed 1 or more (or give --budgets)")
    if cfg.torch_threads < 1:
        raise HwsimError(f"torch threads {cfg.torch_threads}: allowed 1 or more")
    if cfg.sensitivity_method not in METHODS:
        raise HwsimError(f"sensitivity method {cfg.sensitivity_method!r}; allowed: {', '.join(METHODS)}")
    if cfg.sensitivity_method == "pnmq" and len({a for _, a in choices}) > 1:
        raise HwsimError("--sensitivity-method pnmq quantizes weights only: give --choices with one activation "
                         "bit-width, e.g. w2a8,w4a8,w8a8")
    check_model_source(cfg.model, cfg.checkpoint, cfg.data)
    check_output_dir(cfg.out, create=False)
    return hws, choices, PrecisionPolicy(cfg.policy)


def _wa(bits: tuple[int, int]) -> dict:
    return {"w": int(bits[0]), "a": int(bits[1])}


def gap_budgets(uniform: list[dict], n: int) -> list[tuple[str, float]]:
    """(label, budget in predicted ms) in the middle of each of the first ``n`` gaps of the uniform front.

    The front: uniform configurations by predicted latency, each more accurate than every
    cheaper one.  Between two neighbours on it, only a mixed configuration can sit.
    """
    front = []
    for u in sorted(uniform, key=lambda u: u["predicted_ms"]):
        if not front or u["accuracy"] > front[-1]["accuracy"]:
            front.append(u)
    out = []
    for lo, hi in list(zip(front, front[1:]))[:n]:
        out.append((f"between {label(lo['w_bits'], lo['a_bits'])} and {label(hi['w_bits'], hi['a_bits'])}",
                    (lo["predicted_ms"] + hi["predicted_ms"]) / 2))
    return out


def _earns_place(config: dict, uniform: list[dict]) -> tuple[bool, dict | None]:
    """(earns its place, the most accurate uniform configuration that is no slower)."""
    rivals = [u for u in uniform if u["latency_ms"] <= config["simulated_ms"] * (1 + 1e-12)]
    best = max(rivals, key=lambda u: u["accuracy"], default=None)
    return (best is None or config["accuracy"] >= best["accuracy"] + EARN_MARGIN), best


def write_bits_file(path: Path, assignment: dict[str, dict]) -> None:
    """A bits file (YAML, layer -> w4a8) that ``hwsim simulate --bits`` and ``hwsim quantize --bits`` accept."""
    text = "# per-layer bits chosen by hwsim pipeline\n" + yaml.safe_dump(
        {n: label(b["w"], b["a"]) for n, b in assignment.items()}, sort_keys=False)
    write_atomic(path, text)


def step_key(model_key: str, data_name: str, iters: int, seed: int, policy: str, threads: int) -> dict:
    """What every cached quantization step depends on besides its own inputs."""
    return {"model": model_key, "iters": iters, "seed": seed, "data": data_name, "policy": policy, "threads": threads}


def quantize_checked(cache: Cache, key: dict, model, data, bits: dict, iters: int, seed: int,
                     policy: PrecisionPolicy, progress: bool, accumulator_bits: int = 32) -> dict:
    """``bits`` quantized by block reconstruction and run in integers (cached under ``key`` and the bits):
    {"accuracy" (percent), "seconds", "bit_changes", "integer"}."""
    def run():
        r = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, bits, iters=iters, seed=seed,
                     policy=policy, progress=progress)
        report = integer_execution(r.qmodel, data.calib_x, data.test_x, data.test_y,
                                   accumulator_bits=accumulator_bits)
        return {"accuracy": 100 * r.quant_accuracy, "seconds": r.seconds, "bit_changes": r.notes,
                "integer": report.to_json()}

    return cache.get("quantize", {**key, "bits": sorted(bits.items())}, run)


def run_pipeline(cfg: PipelineConfig, progress: bool = True) -> dict:
    """Run every step (cached) and return the results document (also written as OUT/results.json).

    Every input is checked before OUT is made; OUT is then locked for the run (a second run into it is
    refused, naming this one's pid).
    """
    checked = _check(cfg)
    with folder_lock(Path(cfg.out), "pipeline"):
        return _run_pipeline(cfg, *checked, progress=progress)


def _run_pipeline(cfg: PipelineConfig, hws: list, choices: list, policy: PrecisionPolicy, progress: bool) -> dict:
    start = time.perf_counter()
    out = Path(cfg.out)
    cache = Cache(out / "cache")
    seed_everything(cfg.seed, cfg.torch_threads)
    cached = sorted((out / "cache").glob("*.json")) if (out / "cache").is_dir() else []
    if cached:
        _log(f"resuming: {len(cached)} cached step results in {out / 'cache'} are reused where their inputs match",
             progress)

    _log("[1/6] model and data", progress)
    model, data = load_model_and_data(cfg.model, cfg.checkpoint, cfg.data, seed=cfg.seed, progress=progress,
                                      trust_checkpoint=cfg.trust_checkpoint)
    model_key = model_fingerprint(model)
    layers = layers_from_module(model, data.input_shape)
    names = [layer.name for layer in layers]
    pinned = policy.pinned(names)

    _log("[2/6] latency and size tables", progress)
    luts = {}
    for hw in hws:
        luts[hw.name], status = cached_lut(layers, hw, cfg.model, data.input_shape, progress=progress, policy=policy)
        _log(f"  {hw.name}: lookup table {status}", progress)

    _log(f"[3/6] uniform BRECQ at {len(choices)} bit choices and sensitivities (held-out split)", progress)
    base_key = step_key(model_key, data.name, cfg.iters, cfg.seed, cfg.policy, cfg.torch_threads)
    uniform_key = {**base_key, "choices": cfg.choices}
    if cfg.sensitivity_method == "brecq":
        sens = cache.get("sensitivity", {**uniform_key, "metric": cfg.sensitivity_metric,
                                         "holdout": len(data.holdout_y)}, lambda: measure(
            "brecq", model, data, choices, policy, cfg.model, cfg.seed, progress, iters=cfg.iters,
            metric=cfg.sensitivity_metric))
        recon = cache.get("uniform", uniform_key, lambda: sens["reconstruction"])  # for a run with another method
    else:  # the uniform reconstructions alone give the uniform accuracies; the search reads the other method's table
        recon = cache.get("uniform", uniform_key, lambda: uniform_reconstruction(
            model, data, choices, policy, cfg.seed, progress, iters=cfg.iters))
        _log(f"  the search reads the {cfg.sensitivity_method} table", progress)
        options = dict(cfg.sensitivity_options)
        sens = cache.get("sensitivity", {**uniform_key, "method": cfg.sensitivity_method, **options}, lambda: measure(
            cfg.sensitivity_method, model, data, choices, policy, cfg.model, cfg.seed, progress, **options))
    fp_accuracy = 100 * recon["fp_accuracy"]
    uniform_accuracy = {c: 100 * recon["accuracy"][c] for c in cfg.choices}

    _log("[4/6] search (GA, checked by the exact solver)", progress)
    targets = []
    for hw in hws:
        lut = luts[hw.name]
        uniform = []
        for c in cfg.choices:
            bits = {n: pinned[n][0] if n in pinned else parse_label(c) for n in names}
            net = simulate_network(layers, hw, bits, whole_network=True)
            uniform.append({"w_bits": parse_label(c)[0], "a_bits": parse_label(c)[1], "latency_ms": net.latency_ms,
                            "energy_uj": net.energy_uj, "predicted_ms": lut["totals"][c]["latency_ms"],
                            "accuracy": uniform_accuracy[c]})
        configs = []
        budgets = [(f"{f:.2f} of the range", f, "fraction") for f in cfg.budgets] or \
            [(lab, ms, "ms") for lab, ms in gap_budgets(uniform, cfg.gaps)]
        for budget_label, value, unit in budgets:
            problem = problem_from_tables(lut, sens, value, unit, "latency")
            ga, exact = solve_ga(problem, cfg.seed), solve_exact(problem)
            gap = (ga.objective - exact.objective) / max(abs(exact.objective), 1e-12)
            lo, hi = problem.cheapest_cost(), problem.dearest_cost()
            configs.append({"budget_label": budget_label, "budget_fraction": (problem.budget - lo) / (hi - lo),
                            "budget_ms": problem.budget,
                            "assignment": {n: _wa(parse_label(ga.assignment[n])) for n in names},
                            "predicted_ms": ga.cost, "predicted_loss": ga.objective, "exact_loss": exact.objective,
                            "ga_gap_pct": 100 * gap, "ga_seconds": ga.seconds, "feasible": ga.feasible})
        targets.append({"hardware": hw.name, "kind": hw.kind, "area_mm2": lut.get("area_mm2"), "uniform": uniform,
                        "configs": configs})

    _log("[5/6] quantize the chosen configs by block reconstruction; integer execution", progress)
    for t in targets:
        for c in t["configs"]:
            bits = {n: (b["w"], b["a"]) for n, b in c["assignment"].items()}

            q = quantize_checked(cache, base_key, model, data, bits, cfg.iters, cfg.seed, policy, progress,
                                 cfg.accumulator_bits)
            c["accuracy"], c["integer"], c["bit_changes"] = q["accuracy"], q["integer"], q["bit_changes"]
            c["top1_agreement"], c["max_logit_error"] = q["integer"]["top1_agreement"], q["integer"]["max_logit_error"]
            c["quantize_seconds"] = q["seconds"]

    _log("[6/6] validate: whole-network latency; does mixed precision earn its place?", progress)
    for hw, t in zip(hws, targets):
        for c in t["configs"]:
            bits = {n: (b["w"], b["a"]) for n, b in c["assignment"].items()}
            net = simulate_network(layers, hw, bits, whole_network=True)
            c["simulated_ms"], c["energy_uj"] = net.latency_ms, net.energy_uj
            c["latency_error_pct"] = 100 * (c["predicted_ms"] - c["simulated_ms"]) / c["simulated_ms"]
            c["earns_place"], rival = _earns_place(c, t["uniform"])
            c["best_uniform_no_slower"] = None if rival is None else \
                {"choice": label(rival["w_bits"], rival["a_bits"]), "accuracy": rival["accuracy"]}
            c["bits_file"] = f"configs/{hw.name}_{c['budget_ms'] * 1000:.2f}us.yaml"
            write_bits_file(out / c["bits_file"], c["assignment"])
        t["mixed_earns_place"] = any(c["earns_place"] for c in t["configs"])
    results = {"format": RESULTS_FORMAT, "model": cfg.model, "data": data.name, "seed": cfg.seed,
               "iters": cfg.iters, "policy": cfg.policy, "torch_threads": cfg.torch_threads,
               "pinned": {n: reason for n, (_, reason) in pinned.items()},
               "fp_accuracy": fp_accuracy, "choices": list(cfg.choices), "targets": targets,
               "sensitivity": {"method": sens.get("method", "brecq"), "base_loss": sens.get("base_loss"),
                               "holdout": sens.get("holdout"), "projection": sens["projection"],
                               "pairs": len(sens["pairs"]), "pairs_dropped": sens.get("pairs_dropped", 0)},
               "layers": names, "seconds": time.perf_counter() - start}
    write_atomic(out / "results.json", json.dumps(results, indent=1, allow_nan=False) + "\n")
    return results
