"""`make demo`'s pipeline for the test suite: run once into ROOT/demo-other-cpu (cache ROOT/cache), unless done.

  python scripts/demo_run.py ROOT

The run is a fresh process whose environment asks for other kernels and threads than the machine's (ATen's AVX2
loops, MKL's AVX2 path, one OpenMP thread); the pinned kernels make that irrelevant, which is part of what
tests/test_readme_demo.py checks.  `make pytest` runs it before the suite starts, alone on the machine: torch runs
it on 2 threads, and beside a test worker on a 2-core machine it took 1,040 s instead of about 300.  The suite's
fixture (tests/conftest.py, demo_run) calls the same function, so a plain `pytest` runs it when needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "OMP_NUM_THREADS": "1"}


def demo_run(root: Path) -> Path:
    """The demo's output folder under ``root``, running the demo first unless its summary is there."""
    from filelock import FileLock

    root.mkdir(parents=True, exist_ok=True)
    out = root / "demo-other-cpu"
    with FileLock(str(root / ".lock")):  # pytest-xdist workers: the first runs it, the others wait and read it
        if not (out / "summary.md").exists():
            env = {**os.environ, **OTHER_CPU, "HWSIM_CACHE_DIR": str(root / "cache")}
            subprocess.run([sys.executable, "-m", "hwsim", "pipeline", "--out", str(out), "--quiet"], env=env,
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(demo_run(Path(sys.argv[1]).resolve()))
