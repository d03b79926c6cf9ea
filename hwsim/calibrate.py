"""Fit an ARM board's free constants to measured latencies (``hwsim calibrate``).

A measurements CSV has one row per measured latency: ``model`` (a built-in name or a SCALE-Sim
topology CSV, relative to the measurements file), ``threads``, ``clock_mhz``, ``wbits``, ``abits``,
``latency_ms``, and optionally ``layer`` (that layer's latency instead of the network's),
``input_size`` (default 224) and ``source``.  The fit minimises the squared log ratios of predicted
to measured latency (relative errors) with ``scipy.optimize.least_squares`` inside each constant's
physical range (:data:`hwsim.config.ARM_FIT_BOUNDS`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from pathlib import Path

import numpy as np

from .arm import layer_works, work_cycles
from .config import ARM_FIT_BOUNDS, ArmConfig
from .errors import HwsimError
from .io import read_text

SAMPLES, STARTS = 512, 4  # quasi-random points scored, best of them polished by least squares
REQUIRED = ("model", "threads", "clock_mhz", "wbits", "abits", "latency_ms")
OPTIONAL = ("layer", "input_size", "source")
#: constants that only change how a layer's ways (its Work records) are timed, not the ways themselves
_TIMING_ONLY = {"dram_gb_per_s", "core_gb_per_s", "memory_overlap", "fork_join_us", "winograd_transform_cycles",
                "layer_overhead_us", "threads", "clock_mhz", "name", "description", "source", "fitted", "calibration"}
#: what each fittable constant means, written above it in a fitted YAML
MEANING = {
    "dram_gb_per_s": "sustained DRAM bandwidth of all cores together (GB/s)",
    "core_gb_per_s": "DRAM bandwidth one core can stream on its own (GB/s)",
    "memory_overlap": "share of the shorter of a layer's compute and memory time hidden under the longer",
    "fork_join_us": "per-layer cost of starting and joining the threads (us, more than one thread)",
    "winograd_transform_cycles": "cycles per element through a Winograd input or output transform",
    "layer_overhead_us": "per-layer setup (us)",
    "residual_bytes_per_output": "DRAM bytes per output of a layer feeding a residual add (float output, add, ReLU, re-quantize)",
    "load_cycles_per_vector": "cycles per 16-byte operand load in the micro-kernel",
    "pack_cycles_per_byte": "im2col + packing cycles per byte of the packed panel",
    "requant_cycles_per_output": "requantization cycles per output",
}


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One measured latency and what it was measured on."""

    model: str
    threads: int
    clock_mhz: float
    wbits: int
    abits: int
    latency_ms: float
    layer: str = ""
    input_size: int = 224
    source: str = ""

    def label(self) -> str:
        """Short name for tables: model[/layer] wXaY T threads @ F MHz."""
        where = f"{self.model}/{self.layer}" if self.layer else self.model
        return f"{where} w{self.wbits}a{self.abits} {self.threads}T {self.clock_mhz:g} MHz"


def read_measurements(path: str | Path) -> list[Measurement]:
    """Parse and check a measurements CSV; raises HwsimError naming the row and what is allowed."""
    text = read_text(path, "measurements file")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = [h.strip() for h in (csv.reader(io.StringIO(text)).__next__() if text.strip() else [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise HwsimError(f"{path}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)} "
                         f"(optional: {', '.join(OPTIONAL)})")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise HwsimError(f"{path}: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise HwsimError(f"{path}: column(s) {', '.join(twice)} given twice; allowed: each column once")
    if not rows:
        raise HwsimError(f"{path}: no measurements; allowed: one row per measured latency")
    if len(rows) > MAX_MEASUREMENTS:
        raise HwsimError(f"{path}: {len(rows):,} measurements; allowed: at most {MAX_MEASUREMENTS:,}")
    out = []
    for n, row in enumerate(rows, start=2):
        if None in row:  # csv.DictReader files the fields past the header under None
            raise HwsimError(f"{path}: line {n}: {len(header) + len(row[None])} fields under a header of "
                             f"{len(header)}; allowed: one field per column")
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        out.append(_measurement(row, f"{path}: line {n}", Path(path).parent))
    return out


MAX_MEASUREMENTS = 10_000
#: the physical range of each number of a measurement row
RANGES = {"threads": (1, 1024), "clock_mhz": (1.0, 1e5), "latency_ms": (1e-6, 1e9), "input_size": (1, 2048)}


def _measurement(row: dict, where: str, folder: Path) -> Measurement:
    def number(key: str, kind):
        lo, hi = RANGES.get(key, (1, 8))
        allowed = f"{'an integer' if kind is int else 'a number'} from {lo:g} to {hi:g}"
        text = row[key]
        try:
            value = kind(text) if len(text) < 40 and (kind is float or text.isdigit()) else None
        except ValueError:
            value = None
        if value is None or not (math.isfinite(value) and lo <= value <= hi):
            raise HwsimError(f"{where}: {key} {text[:40]!r}; allowed: {allowed}")
        return value

    model = row["model"]
    if model.endswith(".csv"):
        topo = Path(model) if Path(model).is_absolute() else folder / model
        if not topo.is_file():
            raise HwsimError(f"{where}: topology file {model!r} not found (looked in {topo.parent})")
        model = str(topo)
    else:
        from .workload import ZOO_LAYERS

        names = sorted(p.stem for p in ZOO_LAYERS.glob("*.json"))
        if model not in names:
            raise HwsimError(f"{where}: unknown model {model!r}; allowed: {', '.join(names)} or a topology .csv")
    bits = {}
    for key in ("wbits", "abits"):
        bits[key] = number(key, int)
        if bits[key] not in (2, 4, 8):
            raise HwsimError(f"{where}: {key} {bits[key]}; allowed: 2, 4, 8")
    return Measurement(model=model, threads=number("threads", int), clock_mhz=number("clock_mhz", float),
                       latency_ms=number("latency_ms", float), layer=row.get("layer", ""),
                       input_size=number("input_size", int) if row.get("input_size") else 224,
                       source=row.get("source", ""), **bits)


def _layers(m: Measurement) -> list:
    from .workload import layers_of

    layers = layers_of(m.model, m.input_size)
    if m.layer:
        chosen = [layer for layer in layers if layer.name == m.layer]
        if not chosen:
            raise HwsimError(f"measurement {m.label()}: no layer {m.layer!r} in {m.model}; "
                             f"allowed: {', '.join(layer.name for layer in layers[:6])} ...")
        return chosen
    return layers


class Predictor:
    """Predicted latencies of a fixed set of measurements under changing constants (ways cached)."""

    def __init__(self, base: ArmConfig, measurements: list[Measurement]):
        self.base, self.measurements = base, measurements
        for m in measurements:
            if m.threads > base.cores:
                raise HwsimError(f"measurement {m.label()}: {m.threads} threads, but {base.name} has "
                                 f"{base.cores} cores; allowed: 1 to {base.cores}")
            if m.wbits not in base.bits or m.abits not in base.bits:
                raise HwsimError(f"measurement {m.label()}: bits not in {base.name}'s bits "
                                 f"({', '.join(map(str, base.bits))})")
        self._layers = [_layers(m) for m in measurements]
        self._works: dict[tuple, list] = {}

    def _ways(self, hw: ArmConfig, i: int) -> list:
        m = self.measurements[i]
        key = (i,) + tuple(getattr(hw, f.name) for f in dataclasses.fields(hw) if f.name not in _TIMING_ONLY)
        if key not in self._works:
            self._works[key] = [layer_works(layer, hw, m.wbits, m.abits, m.abits) for layer in self._layers[i]]
        return self._works[key]

    def config(self, values: dict[str, float]) -> ArmConfig:
        """The base config with some constants replaced."""
        return dataclasses.replace(self.base, **values)

    def predict(self, hw: ArmConfig, indices=None) -> np.ndarray:
        """Predicted latency (ms) of each measurement (or those at ``indices``) on ``hw``."""
        out = []
        for i in (range(len(self.measurements)) if indices is None else indices):
            m = self.measurements[i]
            run = dataclasses.replace(hw, threads=m.threads, clock_mhz=m.clock_mhz)
            cycles = sum(math.ceil(min(work_cycles(w, run)[0] for w in ways)) for ways in self._ways(run, i))
            out.append(cycles / (m.clock_mhz * 1e3))
        return np.array(out)


def _to_unit(name: str, value: float) -> float:
    lo, hi = ARM_FIT_BOUNDS[name]
    value = min(max(value, lo), hi)
    if lo > 0:
        return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (value - lo) / (hi - lo)


def _from_unit(name: str, u: float) -> float:
    lo, hi = ARM_FIT_BOUNDS[name]
    u = min(max(u, 0.0), 1.0)
    if lo > 0:
        return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    return lo + u * (hi - lo)


@dataclasses.dataclass
class Fit:
    """A fitted config, its constants, and its predictions of the measurements it was fitted to."""

    config: ArmConfig
    values: dict[str, float]
    start: dict[str, float]
    predicted: np.ndarray
    measured: np.ndarray

    @property
    def errors(self) -> np.ndarray:
        """Relative errors, predicted / measured - 1."""
        return self.predicted / self.measured - 1


def fit(predictor: Predictor, names: list[str], indices=None, start: dict[str, float] | None = None) -> Fit:
    """Fit the constants ``names`` to the measurements at ``indices`` (default all)."""
    from scipy.optimize import least_squares

    for name in names:
        if name not in ARM_FIT_BOUNDS:
            raise HwsimError(f"cannot fit {name!r}; allowed: {', '.join(ARM_FIT_BOUNDS)}")
    idx = list(range(len(predictor.measurements))) if indices is None else list(indices)
    measured = np.array([predictor.measurements[i].latency_ms for i in idx])
    start = start or {n: float(getattr(predictor.base, n)) for n in names}

    def residuals(u):
        hw = predictor.config({n: _from_unit(n, x) for n, x in zip(names, u)})
        return np.log(predictor.predict(hw, idx) / measured)

    if names:
        # The cost has kinks (each layer takes its fastest way), so a local solver alone can stop early:
        # start it from the config's own values and from the best points of a fixed quasi-random sample
        # of the box (deterministic: a scrambled Sobol sequence with a fixed seed).
        from scipy.stats import qmc

        u0 = np.array([min(max(_to_unit(n, start[n]), 1e-6), 1 - 1e-6) for n in names])
        sample = qmc.Sobol(len(names), scramble=True, seed=0).random(SAMPLES)
        costs = [float(np.sum(residuals(u) ** 2)) for u in sample]
        starts = [u0] + [sample[i] for i in np.argsort(costs)[:STARTS]]
        best = None
        for u_start in starts:
            sol = least_squares(residuals, np.clip(u_start, 1e-6, 1 - 1e-6), bounds=(0.0, 1.0), diff_step=1e-5,
                                xtol=1e-12, ftol=1e-14, gtol=1e-14, max_nfev=500)
            if best is None or sol.cost < best.cost - 1e-14:
                best = sol
        values = {n: _round(_from_unit(n, x)) for n, x in zip(names, best.x)}
    else:
        values = {}
    hw = predictor.config(values)
    return Fit(config=hw, values=values, start=start, predicted=predictor.predict(hw, idx), measured=measured)


def _round(x: float) -> float:
    """Six significant digits: what the YAML keeps."""
    return float(f"{x:.6g}")


def leave_one_out(predictor: Predictor, names: list[str], full: Fit) -> list[tuple[int, float]]:
    """(index, prediction when that measurement is left out of the fit) for every measurement."""
    out = []
    n = len(predictor.measurements)
    for i in range(n):
        rest = [j for j in range(n) if j != i]
        f = fit(predictor, names, rest, start=full.start)  # from where the full fit started, not its answer
        out.append((i, float(predictor.predict(f.config, [i])[0])))
    return out


def report(predictor: Predictor, names: list[str], full: Fit, loo: list[tuple[int, float]] | None) -> str:
    """The fit as text: constants (start -> fitted, range), then every measurement predicted vs measured."""
    lines = [f"fitted {len(names)} constant(s) of {predictor.base.name} to {len(predictor.measurements)} "
             f"measurement(s)", "", f"{'constant':<28}{'start':>12}{'fitted':>12}  range"]
    for n in names:
        lo, hi = ARM_FIT_BOUNDS[n]
        lines.append(f"{n:<28}{full.start[n]:>12.6g}{full.values[n]:>12.6g}  [{lo:g}, {hi:g}]")
    head = f"{'measurement':<44}{'measured':>10}{'fitted':>10}{'error':>9}"
    if loo is not None:
        head += f"{'held out':>10}{'error':>9}"
    lines += ["", head]
    for i, m in enumerate(predictor.measurements):
        row = f"{m.label():<44}{m.latency_ms:>10.2f}{full.predicted[i]:>10.2f}{full.errors[i]:>+9.1%}"
        if loo is not None:
            p = loo[i][1]
            row += f"{p:>10.2f}{p / m.latency_ms - 1:>+9.1%}"
        lines.append(row)
    rms = float(np.sqrt(np.mean(full.errors ** 2)))
    summary = f"rms error {rms:.1%}, worst {np.max(np.abs(full.errors)):.1%}"
    if loo is not None:
        held = np.array([p / predictor.measurements[i].latency_ms - 1 for i, p in loo])
        summary += f"; leave-one-out rms {float(np.sqrt(np.mean(held ** 2))):.1%}, worst {np.max(np.abs(held)):.1%}"
    lines += ["", summary]
    return "\n".join(lines) + "\n"


def fitted_yaml(base_text: str, fit_result: Fit, names: list[str], csv_name: str, name: str | None = None) -> str:
    """The base YAML with the fitted constants replaced, each tagged (F) with the measurements' file name."""
    errs = fit_result.errors
    tag = (f"# (F) fitted by hwsim calibrate to {csv_name} ({len(errs)} measurements; rms error "
           f"{float(np.sqrt(np.mean(errs ** 2))):.1%}, worst {float(np.max(np.abs(errs))):.1%}).")
    fields = {n: ([f"# {MEANING[n]}", tag], _yaml_value(fit_result.values[n])) for n in names}
    fields["fitted"] = (None, "[" + ", ".join(names) + "]")
    fields["calibration"] = (None, f'"{csv_name}"')
    if name:
        fields["name"] = (None, name)
    return replace_fields(base_text, fields)


def replace_fields(text: str, fields: dict[str, tuple[list[str] | None, str]]) -> str:
    """YAML text with top-level fields set: ``{key: (comment lines or None to keep the old ones, value)}``.

    The rest of the file (other fields, their comments, the header) is kept as it is; a replaced value
    written over several lines (a block list) is dropped with it; fields the text lacks are appended.
    """
    out: list[str] = []
    seen, skipping = set(), False
    for line in text.splitlines():
        key = re.match(r"^([a-z_0-9]+):", line)
        if skipping and not key and line.startswith((" ", "-", "\t")):
            continue
        skipping = bool(key) and key.group(1) in fields
        if not skipping:
            out.append(line)
            continue
        k = key.group(1)
        seen.add(k)
        comments, value = fields[k]
        if comments is not None:
            while out and out[-1].startswith("#"):
                out.pop()  # the field's old comment
            out += comments
        out.append(f"{k}: {value}")
    for k, (comments, value) in fields.items():
        if k not in seen:
            out += (comments or []) + [f"{k}: {value}"]
    return "\n".join(out) + "\n"


def _yaml_value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
