"""A sweep spec: a base hardware config, axes over its fields, models and precisions (``hwsim sweep``).

```yaml
base: bitfusion_16x32                         # a shipped config by name, or a file relative to the spec
axes:                                          # any numeric or choice field of the base config
  array.rows: [8, 16, 32]                      # a list of values
  array.cols: {from: 16, to: 64, step: 16}     # or a range: step, or num (with scale: linear | log)
  dram_gb_per_s: {from: 4, to: 32, num: 4, scale: log}
  dataflow: [os, ws]
models: [resnet18, mobilenet_v2]               # built-in names or SCALE-Sim topology CSVs
precisions: [w8a8, w4a4, bits.yaml]            # uniform pairs or bits files
input_size: 224                                # optional (built-in models)
samples: 200                                   # optional: a subset of the grid ...
sampling: lhs                                  # ... random or lhs (Latin hypercube); default grid
seed: 0
heatmap: [array.rows, array.cols]              # optional: two axes for the heat map (default: the first two)
```

Points are the cartesian product of the axes, models and precisions (or ``samples`` of it), each with
an index in that product so that any execution order gives the same table.  Every problem is one
:class:`~hwsim.errors.HwsimError` naming the spec, the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hwsim.config import config_from_dict, sweepable_fields
from hwsim.errors import ConfigError, HwsimError
from hwsim.io import read_text
from hwsim.precision import check_bits, parse_label
from hwsim.shipped import config_path, example_path
from hwsim.yaml_input import load_yaml

from .workload import BITS_SUFFIXES, model_layers, point_bits

SAMPLINGS = ("grid", "random", "lhs")
KNOWN = ("base", "axes", "models", "precisions", "input_size", "samples", "sampling", "seed", "heatmap")
MAX_POINTS = 10_000_000  # a grid this large is refused (sample it instead)
MAX_AXIS_VALUES = 1_000_000  # one axis's values are held in memory: a range longer than this is refused before


@dataclasses.dataclass(frozen=True)
class Axis:
    """One swept config field (a YAML path such as ``array.rows``) and its values."""

    name: str
    values: tuple


@dataclasses.dataclass(frozen=True)
class Point:
    """One point of a sweep: its index in the full product, the config mapping, the workload."""

    index: int
    values: dict  # axis name -> value
    config: dict  # the base YAML mapping with the axis values set
    model: str
    precision: str  # "w4a8" or a bits file path
    input_size: int | None

    def key(self) -> str:
        """A hash of everything that decides the point's numbers (resuming skips points with a known key)."""
        doc = json.dumps([self.config, self.model, self.precision, self.input_size], sort_keys=True, default=str)
        return hashlib.sha256(doc.encode()).hexdigest()[:20]


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring)."""

    source: str
    base: dict
    axes: tuple[Axis, ...]
    models: tuple[str, ...]
    precisions: tuple[str, ...]
    input_size: int | None
    samples: int | None
    sampling: str
    seed: int
    heatmap: tuple[str, str] | None

    @property
    def grid_size(self) -> int:
        """Points in the full product."""
        return math.prod(len(a.values) for a in self.axes) * len(self.models) * len(self.precisions)

    def indices(self) -> np.ndarray:
        """The indices of the points this sweep runs, ascending (all of the grid, or a sample of it)."""
        n = self.grid_size
        if self.sampling == "grid" or self.samples is None or self.samples >= n:
            return np.arange(n, dtype=np.int64)
        rng = np.random.default_rng(self.seed)
        if self.sampling == "random":
            return np.sort(rng.choice(n, size=self.samples, replace=False)).astype(np.int64)
        return self._latin_hypercube(rng)

    def _latin_hypercube(self, rng) -> np.ndarray:
        """``samples`` distinct points spread by a Latin hypercube over every dimension (axes, model, precision)."""
        from scipy.stats import qmc

        sizes = self._radices()
        chosen: set[int] = set()
        draws = 0
        while len(chosen) < self.samples and draws < 50:
            u = qmc.LatinHypercube(d=len(sizes), seed=rng).random(self.samples)
            for row in u:
                digits = [min(int(x * s), s - 1) for x, s in zip(row, sizes)]
                chosen.add(self.index_of(digits))
                if len(chosen) == self.samples:
                    break
            draws += 1
        return np.array(sorted(chosen), dtype=np.int64)

    def _radices(self) -> list[int]:
        return [len(a.values) for a in self.axes] + [len(self.models), len(self.precisions)]

    def index_of(self, digits: list[int]) -> int:
        """The index in the full product of one value index per axis, then model and precision indices."""
        index = 0
        for d, s in zip(digits, self._radices()):
            index = index * s + d
        return index

    def point(self, index: int) -> Point:
        """The point at ``index`` of the full product (last dimension fastest: precision, then model, then axes)."""
        digits = []
        for s in reversed(self._radices()):
            index, d = divmod(index, s) if s else (index, 0)
            digits.append(d)
        digits.reverse()
        values = {a.name: a.values[d] for a, d in zip(self.axes, digits)}
        config = json.loads(json.dumps(self.base))  # a deep copy
        for name, value in values.items():
            _set(config, name, value)
        return Point(index=self.index_of(digits), values=values, config=config, model=self.models[digits[-2]],
                     precision=self.precisions[digits[-1]], input_size=self.input_size)

    def points(self) -> Iterator[Point]:
        """Every point of the sweep, by ascending index."""
        for i in self.indices():
            yield self.point(int(i))


def _set(config: dict, path: str, value: Any) -> None:
    outer, _, inner = path.partition(".")
    if inner:
        config.setdefault(outer, {})[inner] = value
    else:
        config[outer] = value


def _fail(source: str, field: str, message: str) -> HwsimError:
    return HwsimError(f"{source}: {field}: {message}")


def _range(source: str, name: str, raw: dict) -> tuple:
    """A range axis: {from, to, step} or {from, to, num[, scale]}; integers stay integers."""
    where = f"axes.{name}"
    unknown = set(raw) - {"from", "to", "step", "num", "scale", "values"}
    if unknown:
        raise _fail(source, where, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: values, or from, to and "
                                   f"step or num (with scale: linear | log)")
    if "values" in raw:
        return _list(source, name, raw["values"])
    for k in ("from", "to"):
        if not _number(raw.get(k)):
            raise _fail(source, where, f"'{k}' {raw.get(k)!r}; allowed: a number")
    lo, hi = raw["from"], raw["to"]
    if hi < lo:
        raise _fail(source, where, f"empty range from {lo} to {hi}; allowed: from <= to")
    if ("step" in raw) == ("num" in raw):
        raise _fail(source, where, "give exactly one of 'step' and 'num'")
    integral = all(isinstance(raw.get(k), int) for k in ("from", "to", "step") if k in raw)
    if "step" in raw:
        step = raw["step"]
        if not _number(step) or step <= 0:
            raise _fail(source, where, f"step {step!r}; allowed: a positive number")
        count = int(math.floor((hi - lo) / step + 1e-9)) + 1
        _check_count(source, where, count)
        values = [lo + i * step for i in range(count)]
    else:
        num, scale = raw["num"], raw.get("scale", "linear")
        if not (isinstance(num, int) and not isinstance(num, bool) and num >= 1):
            raise _fail(source, where, f"num {num!r}; allowed: a positive integer")
        if scale not in ("linear", "log"):
            raise _fail(source, where, f"scale {scale!r}; allowed: linear, log")
        _check_count(source, where, num)
        if scale == "log" and lo <= 0:
            raise _fail(source, where, f"a log scale from {lo}; allowed: from > 0")
        grid = np.geomspace(lo, hi, num) if scale == "log" else np.linspace(lo, hi, num)
        values = [float(f"{v:.6g}") for v in grid]
        integral = False
    return tuple(int(round(v)) if integral else float(f"{v:.6g}") for v in values)


def _check_count(source: str, where: str, count: int) -> None:
    """Refuse an axis longer than MAX_AXIS_VALUES before any value of it is made."""
    if count > MAX_AXIS_VALUES:
        raise _fail(source, where, f"{count:,} values; allowed: at most {MAX_AXIS_VALUES:,} per axis (a coarser "
                                   f"step, or fewer points with num)")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _list(source: str, name: str, raw: Any) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise _fail(source, f"axes.{name}", f"got {raw!r}; allowed: a non-empty list of values or a range "
                                            f"{{from, to, step | num}}")
    if len({json.dumps(v, sort_keys=True) for v in raw}) != len(raw):
        raise _fail(source, f"axes.{name}", "repeated values; allowed: distinct values")
    return tuple(raw)


def load_spec(path: str | Path, hardware_only: bool = False, samples: int | None = None,
              max_points: int = MAX_POINTS) -> SweepSpec:
    """Read and validate a sweep spec; every point's config is checked by the config loader before any run.

    ``samples`` overrides the spec's (a random subset of the grid); ``max_points`` bounds the points the
    sweep runs, counted from the axes' lengths before any point is made (``hwsim sweep --max-points``).
    ``hardware_only``: a hardware space (``hwsim codesign --hw-space``): models and precisions are not
    needed (the workload comes from elsewhere) and refused if given.
    """
    p = example_path(path)
    source = str(p)
    raw = load_yaml(read_text(p, "sweep spec"), source)
    if not isinstance(raw, dict):
        raise HwsimError(f"{source}: expected a mapping with base, axes, models, precisions")
    unknown = [k for k in raw if k not in KNOWN]
    if unknown:
        raise _fail(source, str(unknown[0]), f"unknown field; allowed: {', '.join(KNOWN)}")
    if hardware_only:
        for k in ("models", "precisions"):
            if k in raw:
                raise _fail(source, k, "a hardware space has no workload field; allowed: base, axes, samples, "
                                       "sampling, seed, heatmap")
        raw = {**raw, "models": ["-"], "precisions": ["w8a8"]}
    for k in ("base", "models", "precisions"):
        if k not in raw:
            raise _fail(source, k, "missing")
    base_path = Path(str(raw["base"])) if Path(str(raw["base"])).is_absolute() else p.parent / str(raw["base"])
    if not base_path.exists():  # a shipped config by name (base: bitfusion_16x32)
        base_path = config_path(str(raw["base"]))
    base = load_yaml(read_text(base_path, "base hardware config"), str(base_path))
    config_from_dict(base, str(base_path))
    allowed = sweepable_fields(base.get("kind", "systolic"))
    axes_raw = raw.get("axes") or {}
    if not isinstance(axes_raw, dict):
        raise _fail(source, "axes", "allowed: a mapping of config field -> values")
    axes = []
    for name, spec in axes_raw.items():
        if name not in allowed:
            raise _fail(source, f"axes.{name}", f"unknown axis; allowed: {', '.join(allowed)}")
        values = _range(source, name, spec) if isinstance(spec, dict) else _list(source, name, spec)
        axes.append(Axis(str(name), values))
    beside = lambda name: str(p.parent / name)  # noqa: E731  (files are relative to the spec; absolute stays)
    given = _names(source, "models", raw["models"])
    models = tuple(beside(m) if m.endswith(".csv") else m for m in given)
    for name, m in zip(given, models):
        if m.endswith(".csv") and not Path(m).is_file():
            raise _fail(source, "models", f"topology file {name!r} not found")
    precisions = tuple(beside(x) if x.endswith(BITS_SUFFIXES) else x
                       for x in _names(source, "precisions", raw["precisions"]))
    for prec in precisions:
        if not prec.endswith(BITS_SUFFIXES):
            parse_label(prec)
    sampling = raw.get("sampling", "grid")
    if sampling not in SAMPLINGS:
        raise _fail(source, "sampling", f"{sampling!r}; allowed: {', '.join(SAMPLINGS)}")
    samples = raw.get("samples") if samples is None else samples
    if samples is not None and not (isinstance(samples, int) and not isinstance(samples, bool)
                                    and 1 <= samples <= max_points):
        raise _fail(source, "samples", f"{samples!r}; allowed: an integer from 1 to {max_points:,} (--max-points)")
    if samples is not None and sampling == "grid":
        sampling = "random"
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 32:
        raise _fail(source, "seed", f"{seed!r}; allowed: an integer from 0 to 4,294,967,295")
    size = raw.get("input_size")
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and size > 0):
        raise _fail(source, "input_size", f"{size!r}; allowed: a positive integer")
    heatmap = raw.get("heatmap")
    names = [a.name for a in axes]
    if heatmap is not None:
        if not (isinstance(heatmap, list) and len(heatmap) == 2 and all(h in names for h in heatmap)
                and heatmap[0] != heatmap[1]):
            raise _fail(source, "heatmap", f"{heatmap!r}; allowed: two different axes of this spec ({', '.join(names)})")
        heatmap = tuple(heatmap)
    elif len(names) >= 2:
        heatmap = (names[0], names[1])
    spec = SweepSpec(source=source, base=base, axes=tuple(axes), models=models, precisions=precisions,
                     input_size=size, samples=samples, sampling=sampling, seed=seed, heatmap=heatmap)
    count = spec.grid_size if spec.samples is None else min(spec.samples, spec.grid_size)
    if count > max_points:
        what = "samples" if spec.samples is not None and spec.samples < spec.grid_size else "axes"
        raise _fail(source, what, f"{count:,} points to run ({spec.grid_size:,} in the grid); allowed: at most "
                                  f"{max_points:,} (raise the limit with --max-points, or give fewer samples)")
    _check_axis_values(spec)
    if not hardware_only:
        for model in spec.models:  # an unknown name or a bad topology: one line now, not at the first point
            try:
                model_layers(model, spec.input_size)
            except HwsimError as exc:
                raise _fail(source, "models", str(exc)) from None
        _check_precisions(spec)
    return spec


def _check_precisions(spec: SweepSpec) -> None:
    """Every precision (a label, or a bits file for every model) uses bit-widths the base config supports."""
    hw = config_from_dict(spec.base, spec.source)
    for prec in spec.precisions:
        if not prec.endswith(BITS_SUFFIXES):
            check_bits(hw, *parse_label(prec), f"{spec.source}: precisions: {prec}: ")
            continue
        for model in spec.models:
            for w, a in set(point_bits(prec, model, spec.input_size).values()):
                check_bits(hw, w, a, f"{spec.source}: precisions: {prec}: ")


def _names(source: str, field: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x for x in raw):
        raise _fail(source, field, f"got {raw!r}; allowed: a non-empty list of names")
    if len(set(raw)) != len(raw):
        raise _fail(source, field, "repeated entries; allowed: distinct entries")
    return tuple(raw)


def _check_axis_values(spec: SweepSpec) -> None:
    """Every value of every axis, set alone on the base, must make a valid config (one clear line if not)."""
    for axis in spec.axes:
        for value in axis.values:
            config = json.loads(json.dumps(spec.base))
            _set(config, axis.name, value)
            try:
                config_from_dict(config, spec.source)
            except ConfigError as exc:
                raise HwsimError(f"{spec.source}: axes.{axis.name}: value {value!r} makes an invalid config "
                                 f"({str(exc).split(': ', 1)[-1]})") from None
