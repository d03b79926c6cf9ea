"""Freeze the simulator's answers on a broad reference set, and check them.

  python scripts/golden_sim.py --write   run every case, write tests/data/golden_sim.json.gz
  python scripts/golden_sim.py --check   run every case, compare with the file; exit 1 on any difference
  python scripts/golden_sim.py --check --every 7   only every 7th case of each group (what the quick test does)
  python scripts/golden_sim.py --reprice  after a change of the energy/area model only: run every case, demand
                                          every field but the energy_* ones identical, rewrite the energy fields

The set (built here, deterministically, from ``--seed``-free fixed seeds):

* ``zoo``: every model of the zoo (resnet18, resnet50, mobilenet_v1, mobilenet_v2, regnet_x_600mf, at 224x224)
  on every shipped hardware config, per layer, at w8a8, w4a4, w2a8 and w2a2 (each pair the target runs),
  and whole-network (``simulate_network(whole_network=True)``) at w4a4 and at one seeded mixed assignment;
* ``random``: 2,000 random layers (conv, depthwise, grouped, linear, GEMM; batch 1-4) each on its own random
  systolic config (array 1-128 x 1-128, buffers, SRAM ports, DRAM bandwidth, requantizer, partial-sum port,
  dataflow os/ws/is, timing hwsim/scalesim, fold overlap on/off) at a random precision pair;
* ``arm``: 400 random layers on the three shipped boards at random threads, clock and precision;
* ``scalesim_cfg``: the SCALE-Sim ``.cfg`` files of tests/data/scalesim on their two topologies.

Each case records every field of each :class:`hwsim.results.LayerResult` (cycles, stall split, SRAM and DRAM
bytes, energy, and the chosen schedule as the note gives it).  Floats are stored by their shortest repr, so the
check demands identical numbers.  A refactor that must not move numbers runs ``--check`` (the full set) and
``tests/test_golden_sim.py`` (a sample of it) must pass.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's hwsim (spawned workers import this file too)
GOLDEN = ROOT / "tests" / "data" / "golden_sim.json.gz"
FORMAT = "hwsim-golden-sim/1"
ZOO = ("resnet18", "resnet50", "mobilenet_v1", "mobilenet_v2", "regnet_x_600mf")
ZOO_PAIRS = ((8, 8), (4, 4), (2, 8), (2, 2))
N_RANDOM, N_ARM = 2000, 400


def _shipped() -> list[str]:
    from hwsim.shipped import config_names

    return config_names()


def _zoo_cases() -> Iterator[dict]:
    for model in ZOO:
        for hw in _shipped():
            for w, a in ZOO_PAIRS:  # every shipped config runs 2, 4 and 8 bits
                yield {"group": "zoo", "model": model, "hw": hw, "bits": [w, a], "whole": False}
            yield {"group": "zoo", "model": model, "hw": hw, "bits": [4, 4], "whole": True}
            yield {"group": "zoo", "model": model, "hw": hw, "bits": "mixed", "whole": True}


def _random_layer(rng: np.random.Generator, i: int) -> dict:
    kind = rng.choice(["conv", "conv", "depthwise", "grouped", "linear", "gemm"])
    batch = int(rng.integers(1, 5)) if rng.random() < 0.3 else 1
    if kind in ("linear", "gemm"):
        m, k, n = (int(x) for x in rng.integers(1, 1025, 3))
        if kind == "linear":
            return {"name": f"r{i}", "kind": "linear", "in_h": 1, "in_w": 1, "in_channels": k, "out_h": 1,
                    "out_w": 1, "out_channels": n, "batch": max(batch, m % 64 + 1)}
        return {"name": f"r{i}", "kind": "gemm", "in_h": m, "in_w": 1, "in_channels": k, "out_h": m, "out_w": 1,
                "out_channels": n}
    kh = int(rng.choice([1, 1, 3, 3, 5, 7]))
    kw = kh if rng.random() < 0.9 else int(rng.choice([1, 3, 5]))
    stride = int(rng.choice([1, 1, 2]))
    out_h, out_w = (int(x) for x in rng.integers(1, 57, 2))
    in_h, in_w = (out_h - 1) * stride + kh, (out_w - 1) * stride + kw
    if kind == "depthwise":
        c = int(rng.integers(1, 513))
        cin, cout, groups = c, c, c
    elif kind == "grouped":
        groups = int(rng.choice([2, 4, 8, 16]))
        cin, cout = groups * int(rng.integers(1, 33)), groups * int(rng.integers(1, 33))
    else:
        cin, cout, groups = int(rng.integers(1, 513)), int(rng.integers(1, 513)), 1
    return {"name": f"r{i}", "kind": "conv", "in_h": in_h, "in_w": in_w, "in_channels": cin, "out_h": out_h,
            "out_w": out_w, "out_channels": cout, "kernel_h": kh, "kernel_w": kw, "stride": stride,
            "groups": groups, "batch": batch}


def _maybe(rng: np.random.Generator, p_unlimited: float, value: float) -> Any:
    return "unlimited" if rng.random() < p_unlimited else value


def _random_systolic(rng: np.random.Generator, i: int) -> dict:
    bits = [2, 4, 8] if rng.random() < 0.8 else [4, 8]
    return {
        "name": f"rand{i}", "kind": "systolic",
        "array": {"rows": int(rng.integers(1, 129)), "cols": int(rng.integers(1, 129))},
        "dataflow": str(rng.choice(["os", "ws", "is"])),
        "timing": str(rng.choice(["hwsim", "hwsim", "scalesim"])),
        "fold_overlap": bool(rng.random() < 0.7),
        "clock_mhz": float(rng.choice([200, 500, 1000])),
        "bits": bits,
        "sram_kib": {b: int(2 ** rng.integers(0, 9)) for b in ("ifmap", "filter", "ofmap")},
        "sram_bytes_per_cycle": {b: _maybe(rng, 0.2, int(2 ** rng.integers(3, 9))) for b in ("ifmap", "filter", "ofmap")},
        "psum_bytes_per_cycle": _maybe(rng, 0.6, int(2 ** rng.integers(4, 9))),
        "dram_gb_per_s": _maybe(rng, 0.1, float(np.round(2 ** rng.uniform(0, 6), 3))),
        "requant_outputs_per_cycle": _maybe(rng, 0.2, int(2 ** rng.integers(0, 7))),
        "requant_latency_cycles": int(rng.integers(0, 5)),
        "scale_bits": 16, "accumulator_bits": 32,
    }


def _random_cases() -> Iterator[dict]:
    rng = np.random.default_rng(20261206)
    for i in range(N_RANDOM):
        hw = _random_systolic(rng, i)
        w, a = (int(rng.choice(hw["bits"])) for _ in range(2))
        yield {"group": "random", "layer": _random_layer(rng, i), "hw": hw, "bits": [w, a]}


def _arm_cases() -> Iterator[dict]:
    rng = np.random.default_rng(53)
    boards = [n for n in _shipped() if n.startswith("cortex_a53")]
    for i in range(N_ARM):
        board = str(rng.choice(boards))
        yield {"group": "arm", "layer": _random_layer(rng, i), "hw": board, "threads": int(rng.integers(1, 5)),
               "clock_mhz": float(rng.choice([600, 1000, 1200])),
               "bits": [int(rng.choice([2, 4, 8])), int(rng.choice([2, 4, 8]))]}


def _cfg_cases() -> Iterator[dict]:
    folder = ROOT / "tests" / "data" / "scalesim"
    for cfg in sorted(folder.glob("*.cfg")) + sorted((folder / "user").glob("*.cfg")):
        for topo in ("topo_convs.csv", "topo_gemm.csv"):
            yield {"group": "scalesim_cfg", "cfg": str(cfg.relative_to(ROOT)), "topology": topo}


def cases() -> list[dict]:
    """Every case of the reference set, in a fixed order."""
    return [*_zoo_cases(), *_random_cases(), *_arm_cases(), *_cfg_cases()]


def _mixed(layers, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {layer.name: (int(rng.choice([2, 4, 8])), int(rng.choice([2, 4, 8]))) for layer in layers}


def _record(results) -> list[dict]:
    return [r.to_dict() for r in results]


def run(case: dict) -> list[dict]:
    """The layer results of one case, as JSON-ready dicts."""
    return _record(results(case))


def results(case: dict) -> list:
    """The layer results (LayerResult) of one case."""
    from hwsim.config import config_from_dict, load_config, with_run_options
    from hwsim.layers import Layer
    from hwsim.targets import simulate_layer, simulate_network
    from hwsim.workload import layers_from_topology, layers_of

    group = case["group"]
    if group == "zoo":
        hw = load_config(case["hw"])
        layers = layers_of(case["model"])
        if case["bits"] == "mixed":
            bits = _mixed(layers, len(layers))
            bits = {k: (max(w, min(hw.bits)), max(a, min(hw.bits))) for k, (w, a) in bits.items()}
            return simulate_network(layers, hw, bits, whole_network=True).layers
        w, a = case["bits"]
        if case["whole"]:
            return simulate_network(layers, hw, (w, a), whole_network=True).layers
        return [simulate_layer(layer, hw, w, a) for layer in layers]
    if group == "random":
        hw = config_from_dict(case["hw"], case["hw"]["name"])
        return [simulate_layer(Layer(**case["layer"]), hw, *case["bits"])]
    if group == "arm":
        hw = with_run_options(load_config(case["hw"]), threads=case["threads"], clock_mhz=case["clock_mhz"])
        return [simulate_layer(Layer(**case["layer"]), hw, *case["bits"])]
    hw = load_config(ROOT / case["cfg"])
    layers = layers_from_topology(ROOT / "tests" / "data" / "scalesim" / case["topology"])
    return simulate_network(layers, hw, (8, 8)).layers


def schedule_disagreements(results: list) -> list[str]:
    """Where a result's ``schedule`` (data) and its note (prose, frozen in the golden file) tell different stories:
    the precision mode, the sub-array and the chunks must agree; ARM results carry no schedule."""
    import re

    from hwsim.precision import label

    lines = []
    for r in results:
        s = r.schedule
        if r.dataflow not in ("os", "ws", "is"):  # an ARM kernel's name
            if s is not None:
                lines.append(f"{r.name}: an ARM result with a systolic schedule")
            continue
        if s is None:
            lines.append(f"{r.name}: no schedule")
            continue
        mode = re.search(r"runs in the (w\d+a\d+) mode", r.note)
        if (mode.group(1) if mode else label(r.wbits, r.abits)) != s.mode:
            lines.append(f"{r.name}: schedule mode {s.mode}, note {r.note!r}")
        sub = re.search(r"uses (\d+)x(\d+) of the array", r.note)
        if sub and (int(sub.group(1)), int(sub.group(2))) != s.sub_array:
            lines.append(f"{r.name}: schedule sub-array {s.sub_array}, note {r.note!r}")
        chunks = re.search(r"streamed dimension in (\d+) chunks", r.note)
        if (int(chunks.group(1)) if chunks else 1) != s.chunks or s.dataflow != r.dataflow:
            lines.append(f"{r.name}: schedule {s}, note {r.note!r}")
    return lines


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


def compare(expected: list[dict], got: list[dict]) -> list[str]:
    """Differences between two results of a case, one line each (empty: identical)."""
    if len(expected) != len(got):
        return [f"{len(got)} layers, expected {len(expected)}"]
    lines = []
    for e, g in zip(expected, got):
        for k in sorted(set(e) | set(g)):
            if _canonical(e.get(k)) != _canonical(g.get(k)):
                lines.append(f"{e.get('name')}.{k}: {g.get(k)!r}, expected {e.get(k)!r}")
    return lines


def load() -> list[dict]:
    """The frozen set: a list of {"case", "results"}."""
    doc = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    if doc.get("format") != FORMAT:
        raise SystemExit(f"{GOLDEN}: format {doc.get('format')!r}, expected {FORMAT}")
    return doc["entries"]


def sample(entries: list[dict], every: int, max_seconds: float | None = None) -> list[dict]:
    """Every ``every``-th entry of each group (all of them for every=1), among the entries that took at most
    ``max_seconds`` when the file was written (a quick check picks cheap cases; the choice depends on the file
    only, not on this machine's speed)."""
    seen: dict[str, int] = {}
    out = []
    for e in entries:
        if max_seconds is not None and e["seconds"] > max_seconds:
            continue
        n = seen.get(e["case"]["group"], 0)
        seen[e["case"]["group"]] = n + 1
        if n % every == 0:
            out.append(e)
    return out


def _timed(case: dict) -> dict:
    t = time.perf_counter()
    results = run(case)
    return {"case": case, "results": results, "seconds": round(time.perf_counter() - t, 3)}


def _write(entries: list[dict]) -> None:
    data = json.dumps({"format": FORMAT, "entries": entries}, sort_keys=True, allow_nan=False,
                      separators=(",", ":")).encode()
    tmp = GOLDEN.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    tmp.replace(GOLDEN)


def _is_energy(field: str) -> bool:
    return field.startswith("energy_")


def _reprice(jobs: int, t0: float) -> int:
    """Rewrite the energy fields of every frozen case; refuse if any other field moved."""
    entries = load()
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        fresh = list(pool.imap(run, [e["case"] for e in entries], chunksize=8))
    moved, repriced, largest = 0, 0, 0.0
    for e, got in zip(entries, fresh):
        strip = lambda rs: [{k: v for k, v in r.items() if not _is_energy(k)} for r in rs]  # noqa: E731
        diff = compare(strip(e["results"]), strip(got))
        if diff:
            moved += 1
            print(f"{_canonical(e['case'])[:160]}:", *diff[:5], sep="\n  ")
        changes = [abs(b[k] - a[k]) / abs(a[k]) for a, b in zip(e["results"], got) for k in a
                   if _is_energy(k) and a[k] != b.get(k) and a[k]]
        repriced += bool(changes)
        largest = max([largest, *changes])
        e["results"] = got
    if moved:
        print(f"golden: {moved} cases moved outside the energy fields; nothing written", file=sys.stderr)
        return 1
    _write(entries)
    print(f"golden: repriced {len(entries)} cases (every other field identical; {repriced} with new energies, "
          f"the largest relative change {largest:.3g}) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=None, help="check only cases that took at most this long")
    ap.add_argument("--reprice", action="store_true")
    ap.add_argument("--jobs", type=int, default=2, help="processes for --write and --reprice")
    ap.add_argument("--shard", default="0/1", help="K/N: --check only every N-th case from the K-th (run N at once)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.reprice:
        return _reprice(args.jobs, t0)
    if args.write:
        todo = cases()
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            entries = []
            for i, entry in enumerate(pool.imap(_timed, todo)):
                entries.append(entry)
                if i % 100 == 0:
                    print(f"golden: {i}/{len(todo)} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        _write(entries)
        print(f"golden: wrote {len(entries)} cases, {sum(len(e['results']) for e in entries)} layer results to "
              f"{GOLDEN.relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return 0
    k, _, n = args.shard.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        ap.error(f"--shard {args.shard!r}: give K/N with 0 <= K < N, e.g. 0/2")
    k, n = int(k), int(n)
    entries = sample(load(), args.every, args.max_seconds)[k::n]
    bad = 0
    for e in entries:
        diff = compare(e["results"], run(e["case"]))
        if diff:
            bad += 1
            print(f"{_canonical(e['case'])[:160]}:", *diff[:5], sep="\n  ")
    print(f"golden: {len(entries) - bad}/{len(entries)} cases identical ({time.perf_counter() - t0:.0f} s)",
          file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
