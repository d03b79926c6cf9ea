"""Shared fixtures: paths to the shipped configs and test data, the embedded model, and the demo's one run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CONFIGS = ROOT / "hwsim" / "hw_configs"

# Under pytest-xdist two workers and the demo's run share the two cores, each with two torch threads: an OpenMP thread
# that waits for work must sleep, not spin, or it burns the core another process needs (results do not change).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# A two-layer search problem with one intra-block pair (the problem-file contract, search/problem.py).
EXAMPLE_PROBLEM = {
    "choices": ["w2a8", "w4a8", "w8a8"], "budget": 2.0,
    "layers": [{"name": "a", "block": "b0", "cost": {"w2a8": 0.4, "w4a8": 0.6, "w8a8": 1.0},
                "sensitivity": {"w2a8": 0.9, "w4a8": 0.05, "w8a8": 0.001}},
               {"name": "b", "block": "b0", "cost": {"w2a8": 0.5, "w4a8": 0.7, "w8a8": 1.2},
                "sensitivity": {"w2a8": 0.3, "w4a8": 0.1, "w8a8": 0.0}}],
    "pairs": [{"a": "a", "b": "b", "choice_a": "w2a8", "choice_b": "w2a8", "sensitivity": 0.25}]}


@pytest.fixture
def paper_hw():
    from hwsim.config import load_config

    return load_config(CONFIGS / "bitfusion_16x32.yaml")


@pytest.fixture
def unlimited_hw(paper_hw):
    """The paper's array with every bandwidth unlimited (compute only)."""
    import dataclasses

    from hwsim.config import Buffers

    return dataclasses.replace(paper_hw, sram_bytes_per_cycle=Buffers(None, None, None), dram_gb_per_s=None,
                               requant_outputs_per_cycle=None, requant_latency_cycles=0)


def randomize_bn(model):
    """``model`` in eval mode with seeded random BN statistics and affine parameters (so folding BN matters)."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return model.eval()


def assert_lower_bits_never_slower(cycles):
    """``cycles(w, a)`` must not grow when either bit-width halves (2/4/8)."""
    table = {(w, a): cycles(w, a) for w in (2, 4, 8) for a in (2, 4, 8)}
    for (w, a), c in table.items():
        if w > 2:
            assert table[(w // 2, a)] <= c, (w, a)
        if a > 2:
            assert table[(w, a // 2)] <= c, (w, a)


@pytest.fixture(scope="session")
def data():
    """The embedded digits data."""
    from hwsim.quant.data import digits

    return digits()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One cache folder for the whole test session (the trained digits model lives here)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def model(data, cache_dir):
    """The digits model, trained once per test session (about 30 s on 2 cores)."""
    import torch

    from hwsim.quant.digits_model import digits_model

    torch.set_num_threads(2)
    return digits_model(data, cache_dir, progress=False)


# `make demo`'s run happens once per test session, in a fresh process whose environment asks for other kernels and
# threads than the machine's (ATen's AVX2 loops, MKL's AVX2 path, one OpenMP thread): tests/test_readme_demo.py checks
# its table against the README's, tests/test_pipeline.py the rest of what it wrote.
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The folder `hwsim pipeline --out DIR` (the demo's command, every default) wrote: run once per test session.

    Under pytest-xdist every worker has its own session, so the run goes to the folder all workers share (the parent
    of their base temp folders), under a file lock: the first worker to need it runs it, another waits and reads it.
    It has its own cache folder, so what it computes does not depend on which worker ran what before.
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "demo-run"
    root.mkdir(exist_ok=True)
    out = root / "demo-other-cpu"
    with FileLock(str(root / ".lock")):
        if not (out / "summary.md").exists():
            env = {**os.environ, **OTHER_CPU, "HWSIM_CACHE_DIR": str(root / "cache")}
            subprocess.run([sys.executable, "-m", "hwsim", "pipeline", "--out", str(out), "--quiet"], env=env,
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out


# Tests whose work is torch (training, reconstruction, whole pipelines): marked, so that a run can select them or leave
# them out (`-m torch`, `-m "not torch"`).
TORCH_MODULES = {"test_quant", "test_quant_memo", "test_quant_replay", "test_quant_correctness", "test_sensitivity_methods",
                 "test_pipeline",
                 "test_readme_demo", "test_reproducible", "test_codesign", "test_onnx",
                 "test_torch_attention"}
TORCH_FIXTURES = {"data", "model", "demo_run", "demo"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in TORCH_MODULES or TORCH_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.torch)
    # The tests that read the demo's run go first: pytest-xdist hands each worker a block of consecutive tests to
    # begin with, so one worker starts the run (about 5 minutes) at once and holds every test that waits for it,
    # while the other worker goes through the rest; last, that worker would sit idle on the lock.
    items.sort(key=lambda item: "demo_run" not in item.fixturenames)
