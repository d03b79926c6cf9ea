"""The README quotes what the demo produces: a fresh run of `make demo`'s command writes the same summary table,
number for number, even under another CPU configuration (the run is deterministic from its seed, and its float
kernels are pinned: hwsim/quant/reproducible.py).  One run: the pipeline is the slowest thing the suite does, and
tests/test_reproducible.py checks the pinned kernels themselves on both configurations."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from readme_demo import readme_block  # noqa: E402

STALE = "README demo table is stale: run `make demo && make readme-demo`"
# another machine, as far as one machine can play it: ATen's AVX2 loops, MKL's AVX2 path, one OpenMP thread
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "OMP_NUM_THREADS": "1"}


def _quoted() -> str:
    return readme_block((ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_readme_demo_table_equals_a_fresh_run_on_another_cpu_configuration(cache_dir, tmp_path):
    """`make demo`'s command in a fresh process whose environment asks for other kernels and threads."""
    env = {**os.environ, **OTHER_CPU, "HWSIM_CACHE_DIR": str(cache_dir)}
    out = tmp_path / "demo-other-cpu"
    subprocess.run([sys.executable, "-m", "hwsim", "pipeline", "--out", str(out), "--quiet"], env=env,
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    assert (out / "summary.md").read_text(encoding="utf-8") == _quoted(), STALE + " (or differs on another CPU)"
