"""The README quotes what the demo produces: a fresh run of `make demo`'s command writes the same summary table,
number for number, even under another CPU configuration (the run is deterministic from its seed, and its float
kernels are pinned: hwsim/quant/reproducible.py).  One run: the pipeline is the slowest thing the suite does, and
tests/test_reproducible.py checks the pinned kernels themselves on both configurations.  On a CPU with AMX or
AVX512-FP16 the reconstruction's floats still differ, so there the run must equal that class's recorded table
(scripts/readme_demo.py, tests/data/demo_summary.amx.md) instead of the README's."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from readme_demo import cpu_class, expected_table  # noqa: E402

STALE = "README demo table is stale: run `make demo && make readme-demo`"


def test_cpu_class_reads_the_flags():
    assert cpu_class("processor : 0\nflags : fpu sse2 avx2 fma\n") == "baseline"
    assert cpu_class("flags : fpu avx512f avx512_fp16 amx_bf16 amx_tile\n") == "amx"
    assert cpu_class("no flags line") == "baseline"
    assert expected_table("amx") != expected_table("baseline")  # the two classes' tables are both on record


@pytest.mark.slow
def test_readme_demo_table_equals_a_fresh_run_on_another_cpu_configuration(demo_run):
    """`make demo`'s command in a fresh process whose environment asks for other kernels and threads."""
    assert (demo_run / "summary.md").read_text(encoding="utf-8") == expected_table(), \
        STALE + f" (or differs on another CPU; this one is of class {cpu_class()})"
