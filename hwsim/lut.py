"""Lookup tables: latency and weight size of every layer at every (w, a) pair a target supports.

The table is what the search reads (it sums entries), so it is built once per (layers,
hardware, tool version), cached on disk under a hash of those, written atomically, and
checked on every load: a file that does not parse, whose checksum does not match its
content, or that was built for other inputs is rebuilt, never trusted.

JSON format ``hwsim-lut/2``::

    {"format": "hwsim-lut/2", "tool_version": "0.1.0", "key": "<sha256 of inputs>",
     "model": "resnet18", "input_shape": [1, 3, 224, 224],
     "hardware": {"name": ..., "kind": "systolic" | "arm", "hash": ..., "clock_mhz": ...},
     "choices": ["w2a2", "w2a4", ...], "policy": "first-last-8bit", "pinned": {"conv1": "w8a8", "fc": "w8a8"},
     "area_mm2": 1.2,
     "layers": [{"name": "conv1", "kind": "conv", "macs": ..., "weights": ..., "supported": true,
                 "note": "", "latency_cycles": {"w2a2": ...}, "latency_ms": {...},
                 "weight_bytes": {...}, "energy_uj": {...}}, ...],
     "totals": {"w2a2": {"latency_ms": ..., "weight_bytes": ..., "energy_uj": ...}, ...},
     "additivity": [{"config": "...", "lut_sum_ms": ..., "network_ms": ..., "error_pct": ...}],
     "checksum": "<sha256 of everything above>"}

``latency_cycles`` are at the target's clock; ``weight_bytes`` = weights x w / 8 (bias and
per-channel scales excluded); ``energy_uj`` and ``area_mm2`` only for targets with an energy model
(systolic arrays).  Every layer is priced at every pair; ``totals`` (the uniform
configurations) obey the precision policy: pinned layers count at their pinned pair.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from . import __version__
from .cache import code_identity, warn
from .config import HardwareConfig
from .io import default_cache_dir, write_atomic
from .layers import Layer
from .errors import HwsimError
from .precision import PrecisionPolicy, label, parse_label
from .targets import simulate_layer, simulate_network

LUT_FORMAT = "hwsim-lut/2"


def choices(hw: HardwareConfig) -> list[tuple[int, int]]:
    """Every (w, a) pair the hardware supports, lowest first."""
    return [(w, a) for w in hw.bits for a in hw.bits]


def lut_key(layers: Sequence[Layer], hw: HardwareConfig, policy: PrecisionPolicy | None = None) -> str:
    """Hash of what the table depends on: the layers' shapes, the hardware's numbers, the policy, and the code that
    computes it (:func:`hwsim.cache.code_identity`: any edit to the package is another key)."""
    record = {"format": LUT_FORMAT, "code": code_identity(), "kind": hw.kind, "hw": hw.content_hash(),
              "layers": [layer.to_dict() for layer in layers], "policy": (policy or PrecisionPolicy()).name}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _checksum(doc: dict) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _layer_row(layer: Layer, hw: HardwareConfig, pairs: list[tuple[int, int]]) -> dict:
    results = {label(w, a): simulate_layer(layer, hw, w, a) for w, a in pairs}
    notes = {r.note for r in results.values() if r.note}
    row = {
        "name": layer.name, "kind": layer.kind, "macs": layer.macs, "weights": layer.weight_count,
        "supported": not notes, "note": "; ".join(sorted(notes)),
        "latency_cycles": {k: r.total_cycles for k, r in results.items()},
        "latency_ms": {k: r.latency_ms for k, r in results.items()},
        "weight_bytes": {label(w, a): math.ceil(layer.weight_count * w / 8) for w, a in pairs},
    }
    if all(r.energy_pj is not None for r in results.values()):
        row["energy_uj"] = {k: r.energy_pj / 1e6 for k, r in results.items()}
    return row


def additivity(layers: Sequence[Layer], hw: HardwareConfig, rows: list[dict], n_configs: int = 5,
               seed: int = 0) -> list[dict]:
    """Table sum against a whole-network simulation for a few mixed configs (seeded); errors in %."""
    pairs = choices(hw)
    rng = random.Random(seed)
    configs = []
    if len(pairs) > 1:
        low, high = pairs[0], pairs[-1]
        configs.append(("first/last high, rest lowest", {layer.name: high if i in (0, len(layers) - 1) else low
                                                         for i, layer in enumerate(layers)}))
        configs.append(("alternating lowest/highest", {layer.name: (low, high)[i % 2] for i, layer in enumerate(layers)}))
    while len(configs) < n_configs:
        configs.append((f"random (seed {seed}, #{len(configs)})",
                        {layer.name: rng.choice(pairs) for layer in layers}))
    return [additivity_of(layers, hw, rows, name, assignment) for name, assignment in configs[:n_configs]]


def additivity_of(layers: Sequence[Layer], hw: HardwareConfig, rows: list[dict], name: str,
                  assignment: dict[str, tuple[int, int]]) -> dict:
    """One assignment's table sum against its whole-network simulation (error in %)."""
    lut_ms = sum(row["latency_ms"][label(*assignment[row["name"]])] for row in rows)
    net_ms = simulate_network(layers, hw, assignment, whole_network=True).latency_ms
    return {"config": name, "bits": {k: label(*v) for k, v in assignment.items()},
            "lut_sum_ms": lut_ms, "network_ms": net_ms, "error_pct": 100.0 * (lut_ms - net_ms) / net_ms}


def pinned_pairs(layers: Sequence[Layer], hw: HardwareConfig, policy: PrecisionPolicy) -> dict[str, str]:
    """Layer name -> pinned label under ``policy``; an error if the hardware cannot run a pinned pair."""
    pinned = {n: label(*bits) for n, (bits, _) in policy.pinned([layer.name for layer in layers]).items()}
    for n, lab in pinned.items():
        if parse_label(lab) not in choices(hw):
            raise HwsimError(f"policy {policy.name} pins {n} at {lab}, which {hw.name} does not support; "
                             f"use --policy none")
    return pinned


def build_lut(layers: Sequence[Layer], hw: HardwareConfig, model: str = "", input_shape: Sequence[int] = (),
              jobs: int | None = None, progress: bool = True, policy: PrecisionPolicy | None = None) -> dict:
    """Simulate every layer at every supported pair (layers in parallel threads) and return the table."""
    layers = list(layers)
    pairs = choices(hw)
    policy = policy or PrecisionPolicy()
    pinned = pinned_pairs(layers, hw, policy)
    jobs = jobs or os.cpu_count() or 1
    bar = tqdm(total=len(layers), desc=f"lut {hw.name}", unit="layer", disable=not progress, file=sys.stderr)
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # the numba kernel releases the GIL
        futures = [pool.submit(_layer_row, layer, hw, pairs) for layer in layers]
        rows = []
        for f in futures:
            rows.append(f.result())
            bar.update()
    bar.close()
    doc = {
        "format": LUT_FORMAT, "tool_version": __version__, "key": lut_key(layers, hw, policy),
        "model": model, "input_shape": list(input_shape),
        "hardware": {"name": hw.name, "kind": hw.kind, "hash": hw.content_hash(), "clock_mhz": hw.clock_mhz},
        "choices": [label(w, a) for w, a in pairs], "policy": policy.name, "pinned": pinned,
        "layers": rows,
        "area_mm2": hw.area_mm2(),
        "totals": {label(w, a): {key: sum(r[key][pinned.get(r["name"], label(w, a))] for r in rows)
                                 for key in ("latency_ms", "weight_bytes", "energy_uj") if key in rows[0]}
                   for w, a in pairs},
        "additivity": additivity(layers, hw, rows),
    }
    doc["checksum"] = _checksum(doc)
    return doc


def check_lut(doc: object, key: str) -> str | None:
    """Why a loaded table cannot be trusted for ``key``, or None if it can."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("format") != LUT_FORMAT or doc.get("tool_version") != __version__:
        return f"stale: built by {doc.get('format')} / hwsim {doc.get('tool_version')}"
    if doc.get("key") != key:
        return "stale: built for other layers or hardware"
    if doc.get("checksum") != _checksum(doc):
        return "corrupted: checksum does not match the content"
    return None


def cached_lut(layers: Sequence[Layer], hw: HardwareConfig, model: str = "", input_shape: Sequence[int] = (),
               cache_dir: Path | None = None, jobs: int | None = None, progress: bool = True,
               policy: PrecisionPolicy | None = None) -> tuple[dict, str]:
    """The table from the cache if it is valid there, else built and cached; returns (table, what happened)."""
    layers = list(layers)
    key = lut_key(layers, hw, policy)
    root = cache_dir or default_cache_dir()
    path = root / f"lut-{key[:24]}.json"
    reason = None
    if os.path.lexists(path):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            reason = check_lut(doc, key)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            reason = "corrupted: not valid JSON"
        except OSError as exc:
            reason = f"unreadable: {exc.strerror or type(exc).__name__}"
        if reason is None:
            return doc, f"cache hit: {path}"
    doc = build_lut(layers, hw, model, input_shape, jobs, progress, policy)
    try:
        if os.path.lexists(path) and not path.is_file():
            raise HwsimError(f"{path}: not a regular file")
        write_atomic(path, json.dumps(doc, indent=1, allow_nan=False) + "\n", force=True)
    except (HwsimError, OSError) as exc:  # a cache never stops a command: the table is returned uncached
        why = str(exc) if isinstance(exc, HwsimError) else f"{root}: {exc.strerror or exc}"
        warn(f"lookup table not cached ({why})")
        return doc, f"built, not cached ({why})"
    if reason is None:
        return doc, f"built and cached at {path}"
    return doc, f"rebuilt: the cached table was {reason}; cached at {path}"


def lut_to_table(doc: dict) -> str:
    """The table as text: one row per layer, one column per (w, a) pair, latency in ms; then totals."""
    pairs = doc["choices"]
    name_w = max(len("layer"), *(len(r["name"]) + (1 if not r["supported"] else 0) for r in doc["layers"]))
    col_w = max(9, *(len(p) for p in pairs))
    head = f"{'layer':<{name_w}}  " + "  ".join(f"{p:>{col_w}}" for p in pairs)
    lines = [f"latency (ms) of {doc['model'] or 'workload'} on {doc['hardware']['name']} ({doc['hardware']['kind']})",
             head, "-" * len(head)]
    for r in doc["layers"]:
        name = r["name"] + ("*" if not r["supported"] else "")
        lines.append(f"{name:<{name_w}}  " + "  ".join(f"{r['latency_ms'][p]:>{col_w}.4f}" for p in pairs))
    lines.append("-" * len(head))
    if doc.get("pinned"):
        lines.append(f"totals under policy {doc['policy']}: " + ", ".join(f"{n} at {lab}" for n, lab in
                                                                        doc["pinned"].items()))
    lines.append(f"{'total':<{name_w}}  " + "  ".join(f"{doc['totals'][p]['latency_ms']:>{col_w}.3f}" for p in pairs))
    lines.append(f"{'weights (KB)':<{name_w}}  "
                 + "  ".join(f"{doc['totals'][p]['weight_bytes'] / 1e3:>{col_w}.1f}" for p in pairs))
    if "energy_uj" in doc["totals"][pairs[0]]:
        lines.append(f"{'energy (uJ)':<{name_w}}  "
                     + "  ".join(f"{doc['totals'][p]['energy_uj']:>{col_w}.2f}" for p in pairs))
    if doc.get("area_mm2") is not None:
        lines.append(f"area of {doc['hardware']['name']}: {doc['area_mm2']:.3f} mm2")
    notes = sorted({r["note"] for r in doc["layers"] if r["note"]})
    lines += [f"* {n}" for n in notes]
    lines.append("additivity (table sum vs whole-network simulation):")
    for a in doc["additivity"]:
        lines.append(f"  {a['config']:<32} table {a['lut_sum_ms']:.4f} ms  network {a['network_ms']:.4f} ms  "
                     f"error {a['error_pct']:+.3f}%")
    return "\n".join(lines) + "\n"
