"""What the pinned float kernels cost: the digits model's steps with this machine's own kernels and pinned.

  python benchmarks/bench_pinned_kernels.py [--repeats 3]

Each step runs in a fresh process, once with ``HWSIM_NATIVE_KERNELS=1`` (the machine's own ATen
instruction set, oneDNN, MKL's own path) and once pinned (quant/reproducible.py), best of
``--repeats``; the table prints both times and their ratio side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = {
    "forward, 2,872 test images": "forward",
    "training, 1 epoch": "train",
    "BRECQ W2A2, 200 iterations per block": "brecq",
}


def _child(step: str) -> None:
    import time

    import hwsim.quant  # noqa: F401  (pins unless HWSIM_NATIVE_KERNELS=1)
    import torch

    from hwsim.quant.data import digits
    from hwsim.quant.digits_model import RECIPE, digits_model, train_digits_model
    from hwsim.quant.reproducible import pin_torch

    pin_torch()
    data = digits()
    model = digits_model(data, progress=False)
    start = time.perf_counter()
    if step == "forward":
        with torch.no_grad():
            for i in range(0, len(data.test_y), 256):
                model(data.test_x[i:i + 256])
    elif step == "train":
        RECIPE["epochs"] = 1
        train_digits_model(data, 0, progress=False)
    else:
        from hwsim.quant.api import quantize

        quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, (2, 2), iters=200, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - start, "capability": torch.backends.cpu.get_cpu_capability()}))


def _run(step: str, native: bool) -> dict:
    env = {**os.environ, "HWSIM_NATIVE_KERNELS": "1" if native else "0"}
    out = subprocess.run([sys.executable, __file__, "--child", step], env=env, capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    print(f"digits model on {os.cpu_count()} cores, best of {args.repeats} (each in a fresh process)")
    print(f"{'step':40} {'native (s)':>11} {'pinned (s)':>11} {'pinned / native':>16}")
    for name, step in STEPS.items():
        native = min((_run(step, True) for _ in range(args.repeats)), key=lambda r: r["seconds"])
        pinned = min((_run(step, False) for _ in range(args.repeats)), key=lambda r: r["seconds"])
        print(f"{name:40} {native['seconds']:11.2f} {pinned['seconds']:11.2f} "
              f"{pinned['seconds'] / native['seconds']:15.2f}x   ({native['capability']} vs {pinned['capability']})",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
