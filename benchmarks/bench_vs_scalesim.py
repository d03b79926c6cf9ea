"""hwsim against SCALE-Sim 3.0.0, side by side in one run.

1. The same ResNet-18 layers (SCALE-Sim topology with padding applied) on the same
   SCALE-Sim config: wall time of each simulator, the ratio, and whether cycles agree.
2. The 27-run sweep (3 dataflows x 9 precision modes) of ResNet-50 on the paper's
   accelerator, after warm-up, in SCALE-Sim's fixed schedule (the baseline) and with the
   schedule search of timing hwsim.
3. A second process reusing numba's on-disk cache, against one compiling from scratch.
4. `hwsim simulate --model resnet50` in a fresh process, before and after the layer cache fills.
5. SCALE-Sim's USER bandwidth mode (finite fill and drain rates, trace-driven stalls) on its own
   ResNet-18 topology, 32x32 OS, 64 KiB, 10 words/cycle: both simulators' cycles and wall times.

SCALE-Sim runs in its own virtualenv (it needs numpy < 2.4); see scalesim_runner.py.
Usage: python benchmarks/bench_vs_scalesim.py [--layers N] [--dataflow os|ws|is] [--user-layers N]
       [--sections 1,2,3,4,5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from scalesim_runner import run_scalesim, scalesim_cfg  # noqa: E402

from hwsim.config import load_config  # noqa: E402
from hwsim.systolic import clear_schedule_cache, simulate_layer  # noqa: E402
from hwsim.targets import simulate_network  # noqa: E402
from hwsim.workload import layers_from_model_name, layers_from_topology  # noqa: E402


def resnet18_topology(n_layers: int, path: Path) -> None:
    """Write ResNet-18's first conv layers as a SCALE-Sim CSV, padding folded into the input size."""
    rows = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
    for layer in layers_from_model_name("resnet18")[:n_layers]:
        h = (layer.out_h - 1) * layer.stride + layer.kernel_h  # SCALE-Sim has no padding
        w = (layer.out_w - 1) * layer.stride + layer.kernel_w
        rows.append(f"{layer.name}, {h}, {w}, {layer.kernel_h}, {layer.kernel_w}, {layer.in_channels}, "
                    f"{layer.out_channels}, {layer.stride},")
    path.write_text("\n".join(rows) + "\n")


def compare_with_scalesim(n_layers: int, dataflow: str, work: Path) -> None:
    cfg, topo = work / f"bench_{dataflow}.cfg", work / "resnet18.csv"
    cfg.write_text(scalesim_cfg(f"bench_{dataflow}", 16, 32, dataflow, 64))
    resnet18_topology(n_layers, topo)
    hw, layers = load_config(cfg), layers_from_topology(topo)
    simulate_layer(layers[0], hw)  # warm-up: numba loads its cache (or compiles once)

    t0 = time.perf_counter()
    ours = [simulate_layer(layer, hw).total_cycles for layer in layers]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    stepped = [simulate_layer(layer, hw, reuse_folds=False).total_cycles for layer in layers]
    t_stepped = time.perf_counter() - t0
    print(f"running SCALE-Sim on {n_layers} ResNet-18 layers ({dataflow}, 16x32, CALC) ...", flush=True)
    ref = run_scalesim(cfg, topo)
    theirs = [rec["total_cycles"] for rec in ref["layers"]]

    print(f"\n== 1. ResNet-18, first {n_layers} layers, {dataflow.upper()} 16x32, 8x8 bits ==")
    print(f"{'layer':<18}{'SCALE-Sim cycles':>18}{'hwsim cycles':>15}  agree")
    for layer, a, b in zip(layers, theirs, ours):
        print(f"{layer.name:<18}{a:>18,}{b:>15,}  {'yes' if a == b else 'NO'}")
    print(f"SCALE-Sim run_scale: {ref['sim_seconds']:.2f} s   (process incl. import: {ref['seconds']:.2f} s)")
    print(f"hwsim:               {t_ours * 1e3:.3f} ms   speed-up {ref['sim_seconds'] / t_ours:,.0f}x")
    print(f"hwsim, every fold stepped (no reuse of identical folds): {t_stepped * 1e3:.1f} ms   "
          f"speed-up {ref['sim_seconds'] / t_stepped:,.0f}x")
    print(f"cycles agree: {theirs == ours == stepped}")


def sweep_resnet50() -> None:
    hw = load_config(REPO / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml")
    layers = layers_from_model_name("resnet50")
    runs = [(df, w, a) for df in ("os", "ws", "is") for w in (2, 4, 8) for a in (2, 4, 8)]
    for df, w, a in runs:  # warm-up
        simulate_layer(layers[0], hw, w, a, df)
    print(f"\n== 2. ResNet-50 sweep: {len(runs)} runs (3 dataflows x 9 modes) x {len(layers)} layers ==")
    seconds = {}
    for timing in ("scalesim", "hwsim"):  # SCALE-Sim's fixed schedule (the baseline), then the searched one
        clear_schedule_cache()
        t0 = time.perf_counter()
        totals = [simulate_network(layers, hw.with_dataflow(df).with_timing(timing), (w, a)).total_cycles
                  for df, w, a in runs]
        seconds[timing] = time.perf_counter() - t0
        print(f"timing {timing:<9} wall time after warm-up: {seconds[timing]:6.3f} s; "
              f"cycles from {min(totals):,} to {max(totals):,}")
    print(f"the schedule search costs {seconds['hwsim'] / seconds['scalesim']:.1f}x the fixed schedule")


_FRESH = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    from hwsim.cli import main
    main(["simulate", "--hw", {hw!r}, "--model", "resnet50", "--timing", sys.argv[1], "--wbits", "2",
          "--abits", "2", "--format", "json", "-o", {out!r}, "--force", "--quiet"])
    print(time.perf_counter() - t0)
""")


def fresh_process() -> None:
    """Whole-network ResNet-50 `hwsim simulate` in a new process, with and without the layer cache."""
    print("\n== 4. hwsim simulate --model resnet50 (w2a2) in a fresh process (interpreter start excluded) ==")
    with tempfile.TemporaryDirectory() as tmp:
        probe = _FRESH.format(hw=str(REPO / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml"), out=str(Path(tmp) / "r.json"))
        for timing in ("scalesim", "hwsim"):
            env = dict(os.environ, HWSIM_CACHE_DIR=str(Path(tmp) / f"cache-{timing}"))  # each starts empty
            row = []
            for _ in ("cold", "warm"):  # the first run fills the layer cache, the second reads it
                row.append(float(subprocess.run([sys.executable, "-c", probe, timing], env=env, check=True,
                                                capture_output=True, text=True).stdout.split()[-1]))
            print(f"timing {timing:<9} empty layer cache: {row[0]:.2f} s   layer cache filled: {row[1]:.2f} s")


_PROBE = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    from hwsim.config import load_config
    from hwsim.layers import Layer
    from hwsim.systolic import simulate_layer
    hw = load_config({hw!r})
    simulate_layer(Layer("c", "conv", 58, 58, 64, 56, 56, 64, 3, 3, 1, 1), hw, 4, 8)
    print(time.perf_counter() - t0)
""")


def cache_reuse() -> None:
    probe = _PROBE.format(hw=str(REPO / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml"))
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True)  # fill the cache
    warm = float(subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True,
                                text=True).stdout)
    with tempfile.TemporaryDirectory() as empty:
        env["NUMBA_CACHE_DIR"] = empty
        cold = float(subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True,
                                    text=True).stdout)
    print("\n== 3. numba cache: first simulation in a fresh process (import + load/compile + run) ==")
    print(f"compiling from scratch: {cold:.2f} s   reusing the on-disk cache: {warm:.2f} s   ({cold / warm:.1f}x)")


def user_mode(n_layers: int, work: Path) -> None:
    """Section 5: SCALE-Sim's USER mode, replayed by hwsim, against SCALE-Sim itself."""
    user = REPO / "tests" / "data" / "scalesim" / "user"
    cfg = user / "scale_os.cfg"
    lines = (user / "topo_resnet18.csv").read_text().splitlines()
    topo = work / "resnet18_user.csv"
    topo.write_text("\n".join(lines[:1 + n_layers]) + "\n")
    hw, layers = load_config(cfg), layers_from_topology(topo)
    simulate_layer(layers[-1], hw)  # warm-up: numba loads its cache (or compiles once)
    t0 = time.perf_counter()
    ours = [simulate_layer(layer, hw) for layer in layers]
    t_ours = time.perf_counter() - t0
    print(f"\nrunning SCALE-Sim on {n_layers} ResNet-18 layers (OS 32x32, USER, 10 words/cycle) ...", flush=True)
    ref = run_scalesim(cfg, topo)
    print(f"\n== 5. USER bandwidth mode: SCALE-Sim's ResNet-18, first {n_layers} layers, OS 32x32, "
          f"64 KiB, 10 words/cycle ==")
    print(f"{'layer':<12}{'SCALE-Sim cycles':>18}{'stalls':>14}{'hwsim cycles':>15}{'stalls':>14}  agree")
    for layer, rec, r in zip(layers, ref["layers"], ours):
        same = (rec["total_cycles"], rec["stall_cycles"]) == (r.total_cycles, r.stall_cycles)
        print(f"{layer.name:<12}{rec['total_cycles']:>18,}{rec['stall_cycles']:>14,}{r.total_cycles:>15,}"
              f"{r.stall_cycles:>14,}  {'yes' if same else 'NO'}")
    theirs = sum(rec["total_cycles"] for rec in ref["layers"])
    print(f"total: SCALE-Sim {theirs:,}   hwsim {sum(r.total_cycles for r in ours):,}")
    print(f"SCALE-Sim run_scale: {ref['sim_seconds']:.1f} s   hwsim: {t_ours:.2f} s   "
          f"speed-up {ref['sim_seconds'] / t_ours:,.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3, help="ResNet-18 layers to give SCALE-Sim (each ~45 s)")
    parser.add_argument("--dataflow", choices=("os", "ws", "is"), default="os")
    parser.add_argument("--user-layers", type=int, default=3,
                        help="layers of SCALE-Sim's ResNet-18 for the USER-mode section (all 21: ~8 min of SCALE-Sim)")
    parser.add_argument("--sections", default="1,2,3,4,5", help="which sections to run (default: all)")
    args = parser.parse_args()
    sections = {s.strip() for s in args.sections.split(",")}
    with tempfile.TemporaryDirectory() as work:
        if "1" in sections:
            compare_with_scalesim(args.layers, args.dataflow, Path(work))
        if "2" in sections:
            sweep_resnet50()
        if "3" in sections:
            cache_reuse()
        if "4" in sections:
            fresh_process()
        if "5" in sections:
            user_mode(args.user_layers, Path(work))


if __name__ == "__main__":
    main()
