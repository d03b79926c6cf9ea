"""Which step of the digits flow gives different floats under different CPU configurations?

Runs each step of the embedded task in a fresh subprocess under several environments (torch's
kernel dispatch, MKL's code path, thread count), once with hwsim's pinning and once without
(``HWSIM_NATIVE_KERNELS=1``), and prints a digest of each step's output per environment:

  data      the digits split, noise and distortions (test and calibration tensors)
  train     the model trained for 3 epochs from the seed (its state dict)
  forward   the shipped model's logits on the test set
  brecq     W2A2 block reconstruction of the shipped model (100 iterations): rounding and test top-1

  python scripts/repro_probe.py [--steps data,train,forward,brecq] [--time]

A row whose digests differ across the environments is a step whose numbers depend on the machine.
``--time`` also prints each step's seconds per environment (the price of the pinning).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Environments that stand in for other machines of the same kind: another instruction set for ATen's loops,
# MKL's AVX2 path (what an older CPU runs), one core (what a 1-core machine runs: torch's default is then 1 thread).
VARIANTS = {
    "native": {},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "mkl-avx2": {"MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "1-core": {"OMP_NUM_THREADS": "1", "TASKSET": "0"},
}
STEPS = ("data", "train", "forward", "brecq")


def _digest(*tensors) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def run_step(step: str) -> dict:
    """Run one step in this process; its digest (and a number that matters) as a dict."""
    import time

    import hwsim.quant  # noqa: F401  (pins the environment unless HWSIM_NATIVE_KERNELS=1)
    import torch

    from hwsim.quant.data import digits
    from hwsim.quant.digits_model import RECIPE, accuracy, digits_model, train_digits_model
    from hwsim.quant.reproducible import environment

    start = time.perf_counter()
    data = digits()
    out = {"env": environment()}
    if step == "data":
        out["digest"] = _digest(data.test_x, data.calib_x, data.holdout_x)
    elif step == "train":
        saved = RECIPE["epochs"]
        RECIPE["epochs"] = 3
        try:
            model = train_digits_model(data, 0, progress=False)
        finally:
            RECIPE["epochs"] = saved
        out["digest"] = _digest(*model.state_dict().values())
        out["top1"] = round(100 * accuracy(model.eval(), data.test_x, data.test_y), 2)
    else:
        model = digits_model(data, progress=False)
        if step == "forward":
            with torch.no_grad():
                out["digest"] = _digest(model(data.test_x))
        else:
            from hwsim.quant.api import quantize

            res = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, (2, 2), method="brecq",
                           iters=100, progress=False)
            out["digest"] = _digest(*[p for n, p in res.qmodel.state_dict().items() if n.endswith(("alpha", "scale"))])
            out["top1"] = round(100 * res.quant_accuracy, 2)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def probe(step: str, env: dict, pinned: bool) -> dict:
    """Run ``step`` in a fresh interpreter under ``env`` (pinned or not)."""
    full = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "OMP_NUM_THREADS")}
    full.update(env)
    full["HWSIM_NATIVE_KERNELS"] = "0" if pinned else "1"
    cores = full.pop("TASKSET", None)
    prefix = ["taskset", "-c", cores] if cores else []
    proc = subprocess.run([*prefix, sys.executable, __file__, "--child", step], env=full, capture_output=True,
                          text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{step} under {env} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--time", action="store_true", help="print each run's seconds")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_step(args.child)))
        return 0
    print(f"{'step':8} {'kernels':8} " + " ".join(f"{v:>22}" for v in VARIANTS) + "  same")
    for step in args.steps.split(","):
        for pinned in (False, True):
            runs = [probe(step, env, pinned) for env in VARIANTS.values()]
            cells = [r["digest"] + (f" {r['top1']:.2f}" if "top1" in r else "")
                     + (f" {r['seconds']:.0f}s" if args.time else "") for r in runs]
            same = len({r["digest"] for r in runs}) == 1
            print(f"{step:8} {'pinned' if pinned else 'native':8} " + " ".join(f"{c:>22}" for c in cells)
                  + f"  {'yes' if same else 'NO'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
