"""The same numbers on every machine: pinned float kernels, shipped digits weights, environment-independent runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import ROOT


def test_importing_quant_pins_the_portable_kernels():
    import hwsim.quant  # noqa: F401
    from hwsim.quant.reproducible import THREADS, environment, pin_torch

    pin_torch()
    env = environment()
    assert env["pinned"] and env["cpu_capability"] == "DEFAULT" and env["mkl_cbwr"] == "COMPATIBLE"
    assert not env["mkldnn"] and env["threads"] == THREADS


def test_shipped_weights_match_their_record_and_load_without_training(data, monkeypatch):
    from hwsim.quant import digits_model as dm

    path, record = dm.shipped_weights(0)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]
    assert record["recipe_key"] == dm.recipe_key(0), "the recipe changed: run scripts/train_digits.py"
    monkeypatch.setattr(dm, "train_digits_model", lambda *a, **k: pytest.fail("trained instead of loading"))
    model = dm.digits_model(data, progress=False)
    assert round(100 * dm.accuracy(model, data.test_x, data.test_y), 4) == record["test_top1"]


def test_damaged_shipped_weights_are_a_warning_and_a_retrain(data, tmp_path, monkeypatch, capsys):
    from hwsim.quant import digits_model as dm

    weights = tmp_path / "weights"
    shutil.copytree(dm.WEIGHTS, weights)
    blob = bytearray((weights / "digits-resnet-seed0.pt").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (weights / "digits-resnet-seed0.pt").write_bytes(bytes(blob))
    monkeypatch.setattr(dm, "WEIGHTS", weights)
    trained = []
    monkeypatch.setattr(dm, "train_digits_model", lambda d, seed, progress: trained.append(seed)
                        or dm.default_digits_model())
    dm.digits_model(data, tmp_path / "cache", progress=False)
    err = capsys.readouterr().err
    assert trained == [0] and "SHA-256 does not match" in err and err.count("\n") == 1
    trained.clear()
    dm.digits_model(data, tmp_path / "cache", progress=False)  # the retrained model is cached now
    assert trained == []


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_accuracy(data):
    """scripts/train_digits.py's recipe, run again here: within RETRAIN_TOLERANCE points (bit-identical weights on
    the torch release that made them)."""
    from hwsim.quant import digits_model as dm

    _, record = dm.shipped_weights(0)
    model = dm.train_digits_model(data, 0, progress=False)
    top1 = 100 * dm.accuracy(model, data.test_x, data.test_y)
    assert abs(top1 - record["test_top1"]) <= dm.RETRAIN_TOLERANCE
    if torch.__version__ == record["environment"]["torch"]:
        assert hashlib.sha256(dm.state_bytes(model)).hexdigest() == record["sha256"]


def _probe(env: dict, taskset: bool) -> dict:
    code = ("import json, torch, hwsim.quant\n"
            "from hwsim.quant.data import digits\nfrom hwsim.quant.digits_model import digits_model, train_digits_model\n"
            "from hwsim.quant.reproducible import environment\n"
            "d = digits()\nm = digits_model(d, progress=False)\n"
            "torch.manual_seed(0)\nx = d.calib_x[:64].clone().requires_grad_(True)\n"
            "m(x).logsumexp(1).sum().backward()\n"
            "import hashlib\nh = hashlib.sha256(x.grad.numpy().tobytes()).hexdigest()\n"
            "print(json.dumps({'grad': h, 'env': environment()}))\n")
    full = {**os.environ, **env}
    prefix = ["taskset", "-c", "0"] if taskset and shutil.which("taskset") else []
    out = subprocess.run([*prefix, sys.executable, "-c", code], env=full, capture_output=True, text=True, cwd=ROOT,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_float_results_do_not_depend_on_the_cpu_configuration():
    """Another instruction set for ATen, MKL's AVX2 path, one core: the same gradients bit for bit while pinned;
    with native kernels (HWSIM_NATIVE_KERNELS=1) the instruction set shows in the numbers."""
    base = _probe({}, taskset=False)
    other = _probe({"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                    "OMP_NUM_THREADS": "1"}, taskset=True)
    assert other["env"]["cpu_capability"] == "DEFAULT" and other["env"]["threads"] == base["env"]["threads"]
    assert other["grad"] == base["grad"]
    native = _probe({"HWSIM_NATIVE_KERNELS": "1", "ATEN_CPU_CAPABILITY": "default"}, taskset=False)
    assert not native["env"]["pinned"] and native["env"]["mkldnn"]
    assert native["grad"] != base["grad"]  # the probe sees kernel differences: the pinning is what removes them


def test_cache_identity_keeps_native_results_apart(monkeypatch):
    from hwsim import cache

    pinned = cache._float_environment()
    monkeypatch.setenv("HWSIM_NATIVE_KERNELS", "1")
    assert cache._float_environment() != pinned
