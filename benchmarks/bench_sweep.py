"""Design-space sweep throughput: a 10,000-point ResNet-50 sweep on this machine, beside SCALE-Sim's one point.

  python benchmarks/bench_sweep.py [--points 10000] [--hwsim-points 200] [--jobs N]

Each point is a whole ResNet-50 (54 layers) simulated as deployed on one accelerator configuration drawn by
a Latin hypercube from array rows x cols x three buffer sizes x DRAM bandwidth x dataflow x nine
precisions.  Two timings: `timing: scalesim` (SCALE-Sim's schedule and counts, the like-for-like
comparison with SCALE-Sim) over all points, and `timing: hwsim` (every layer's best schedule searched) over
a smaller sample, whose rate is what a full hwsim-timing sweep would run at.  Memory: the peak resident
size of the driver and of the largest worker, at a tenth, a half and all of the sweep (flat means the
sweep streams its records to disk).  ``--hwsim-points 0`` skips the hwsim-timing row.  Then the merge alone
(sweep.parquet and sweep.csv from the parts) on 1, 5 and 10 replicas of the full sweep's parts with new
keys (``--merge-copies``): the driver's memory at up to ten times the points without simulating them.  The baseline is SCALE-Sim 3.0.0 on ONE point, ResNet-18 (21 layers)
on a 32x32 OS array: 274.9 s and 3.6 GB through its API without traces (shared/reference/scalesim_notes.md,
section 5, measured on this machine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCALESIM_ONE_POINT_S, SCALESIM_ONE_POINT_MB = 274.9, 3602

SPEC = """\
base: {base}
axes:
  array.rows: [8, 16, 24, 32, 48, 64, 96, 128]
  array.cols: [8, 16, 24, 32, 48, 64, 96, 128]
  sram_kib.ifmap: [16, 32, 64, 128]
  sram_kib.filter: [16, 32, 64, 128]
  sram_kib.ofmap: [8, 16, 32, 64]
  dram_gb_per_s: [2, 4, 8, 16, 32]
  dataflow: [os, ws, is]
  timing: [{timing}]
models: [resnet50]
precisions: [w8a8, w8a4, w8a2, w4a8, w4a4, w4a2, w2a8, w2a4, w2a2]
samples: {samples}
sampling: lhs
seed: 0
"""


def sweep(folder: Path, timing: str, samples: int, jobs: int) -> tuple[float, float, float]:
    """(seconds, driver peak MB, largest worker peak MB) of one `hwsim sweep` in a fresh process."""
    spec = folder / f"spec_{timing}_{samples}.yaml"
    spec.write_text(SPEC.format(base=ROOT / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml", timing=timing, samples=samples))
    out = folder / f"out_{timing}_{samples}"
    code = (
        "import resource, sys, time\n"
        "from hwsim.cli import main\n"
        "t = time.perf_counter()\n"
        f"rc = main(['sweep', {str(spec)!r}, '-o', {str(out)!r}, '--jobs', '{jobs}', '--quiet', '--no-plots'])\n"
        "dt = time.perf_counter() - t\n"
        "me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(f'RESULT {dt} {me} {kids}')\n"
        "sys.exit(rc)\n"
    )
    line = _result(code)
    return float(line[1]), float(line[2]), float(line[3])


def _result(code: str) -> list[str]:
    """Run ``code`` in a fresh Python; the fields of the last line it prints starting with RESULT."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return [x for x in proc.stdout.splitlines() if x.startswith("RESULT")][-1].split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--hwsim-points", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--merge-copies", type=int, nargs="*", default=[1, 5, 10],
                        help="also merge this many replicas of the full sweep's parts (memory at 10x the points)")
    args = parser.parse_args()
    print(f"ResNet-50 (54 layers) per point, whole network as deployed; {args.jobs} worker processes")
    print(f"baseline: SCALE-Sim 3.0.0, ONE point (ResNet-18, 32x32 OS, API without traces): "
          f"{SCALESIM_ONE_POINT_S} s, {SCALESIM_ONE_POINT_MB / 1024:.1f} GB")
    print(f"{'sweep':<34}{'points':>8}{'wall s':>9}{'points/s':>10}{'driver MB':>11}{'worker MB':>11}"
          f"{'x SCALE-Sim per point':>23}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [("timing scalesim, a tenth", "scalesim", max(1, args.points // 10)),
                ("timing scalesim, half", "scalesim", max(1, args.points // 2)),
                ("timing scalesim, all", "scalesim", args.points),
                ("timing hwsim (best schedules)", "hwsim", args.hwsim_points)]
        for label, timing, n in rows:
            if n <= 0:
                continue
            seconds, driver, worker = sweep(folder, timing, n, args.jobs)
            rate = n / seconds
            print(f"{label:<34}{n:>8,}{seconds:>9.1f}{rate:>10.1f}{driver:>11.0f}{worker:>11.0f}"
                  f"{SCALESIM_ONE_POINT_S * rate:>22,.0f}x", flush=True)
        print("(x SCALE-Sim per point: how many points a sweep finishes in the time SCALE-Sim takes for one "
              "ResNet-18 point; hwsim's points are ResNet-50, 2.3x the MACs.)")
        if args.merge_copies:
            print(f"\nmerge alone (the step that writes sweep.parquet and sweep.csv), on the parts of the "
                  f"{args.points:,}-point sweep replicated with new keys:")
            print(f"{'points':>10}{'wall s':>9}{'driver MB':>11}")
            for copies in args.merge_copies:
                n, seconds, mb = merge_scale(folder / f"out_scalesim_{args.points}", copies, folder)
                print(f"{n:>10,}{seconds:>9.1f}{mb:>11.0f}")
    return 0


def merge_scale(sweep_out: Path, copies: int, folder: Path) -> tuple[int, float, float]:
    """(points, seconds, peak MB) of a fresh process merging ``copies`` replicas of a sweep's parts."""
    parts = next(sweep_out.glob("parts-*"))
    target = folder / f"merge_{copies}"
    code = (
        "import sys, pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc\n"
        "from pathlib import Path\n"
        f"src, dst, copies = Path({str(parts)!r}), Path({str(target / parts.name)!r}), {copies}\n"
        "dst.mkdir(parents=True, exist_ok=True)\n"
        "n = 0\n"
        "for c in range(copies):\n"
        "    for p in sorted(src.glob('part-*.parquet')):\n"
        "        t = pq.read_table(p)\n"
        "        t = t.set_column(0, 'index', pc.add(t.column('index'), c * 10**9))\n"
        "        t = t.set_column(1, 'key', pa.array(['%x' % c + k[1:] for k in t.column('key').to_pylist()]))\n"
        "        pq.write_table(t, dst / f'part-{n:06d}.parquet'); n += 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    code = (
        "import resource, sys, time, numpy as np, pyarrow.parquet as pq\n"
        "from pathlib import Path\n"
        "from hwsim.explore.store import done_codes, merge\n"
        f"folder, out = Path({str(target / parts.name)!r}), Path({str(target)!r})\n"
        "parts = sorted(folder.glob('part-*.parquet'))\n"
        "wanted = done_codes(parts)\n"
        "sch = pq.read_schema(parts[0])\n"
        "t = time.perf_counter(); rows = merge(parts, out, wanted, sch); dt = time.perf_counter() - t\n"
        "print(f'RESULT {rows} {dt} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}')\n"
    )
    line = _result(code)
    return int(line[1]), float(line[2]), float(line[3])


if __name__ == "__main__":
    sys.exit(main())
