"""The public Python API: what `import hwsim` and its subpackages export, and the tour in docs/guide/python.md,
executed block after block as a reader would run it in a notebook."""

import importlib
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

TOUR = ROOT / "docs" / "guide" / "python.md"
PACKAGES = ("hwsim", "hwsim.search", "hwsim.quant", "hwsim.explore", "hwsim.codesign")


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves_and_all_lists_exactly_them(name):
    package = importlib.import_module(name)
    exported = set(package._EXPORTS)
    assert set(package.__all__) - {"__version__"} == exported
    for attr in exported:
        assert getattr(package, attr) is not None, attr
        assert getattr(package, attr).__doc__, f"{name}.{attr} has no docstring"
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def test_import_hwsim_loads_neither_torch_nor_numba():
    code = "import sys, hwsim; hwsim.Bits.parse('w4a8'); assert not {'torch', 'numba'} & set(sys.modules), sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_precompile_runs_without_torch_and_says_it_is_ready(tmp_path):
    """`python -m hwsim.precompile` (make compile, a container's build step): the compiled paths run on the shipped
    layer shapes, so a fresh layer cache needs no torch; one line on stderr, nothing on stdout."""
    code = ("import sys, runpy; sys.argv = ['hwsim.precompile']\n"
            "try:\n    runpy.run_module('hwsim.precompile', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "HWSIM_CACHE_DIR": str(tmp_path)})
    assert p.stdout == "" and p.stderr.startswith("hwsim: the simulator's compiled code is ready (")


def test_bits_spellings():
    from hwsim import Bits, HwsimError

    assert Bits.parse(" W4A8 ") == Bits(4, 8) == (4, 8) and Bits(4, 8).label == "w4a8"
    assert Bits.of([2, 4]) == Bits.of({"w": 2, "a": 4}) == Bits.of("w2a4") == Bits(2, 4)
    for bad in ("w4", [4], [True, 8], {"w": 4}, 4.0):
        with pytest.raises(HwsimError):
            Bits.of(bad, "here")


def test_simulate_is_what_the_cli_prints(capsys):
    import hwsim
    from hwsim.cli import main

    net = hwsim.simulate("resnet18", "bitfusion_16x32", "w4a8")
    assert main(["simulate", "--hw", "bitfusion_16x32", "--model", "resnet18", "--wbits", "4", "--abits", "8",
                 "--format", "json"]) == 0
    assert capsys.readouterr().out == net.to_json()


def _blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_the_python_tour_runs_as_written(tmp_path, monkeypatch):
    blocks = _blocks(TOUR.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(tmp_path / "cache"))
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{TOUR.name} block {i + 1}", "exec"), namespace)  # noqa: S102
    assert namespace["exact"].feasible and namespace["sweep"].rows == 8
    assert os.path.exists(tmp_path / "sweep" / "sweep.parquet")


@pytest.mark.parametrize("name", ["bitfusion_16x32", "cortex_a53_rpi3b"])
def test_both_kinds_of_hardware_are_targets(name):
    import hwsim
    from hwsim.targets import Target

    hw = hwsim.load_config(name)
    assert isinstance(hw, Target)
    layer = hwsim.model_layers("resnet18")[1]
    assert hwsim.simulate(layer, hw, "w8a8").total_cycles > 0
    assert (hw.area_mm2() is None) == (hw.on_chip_bits() == 0)


def test_the_package_docstring_examples_run():
    import doctest

    import hwsim

    failures, tried = doctest.testmod(hwsim, raise_on_error=False, report=True)
    assert tried >= 4 and failures == 0


def test_the_schedule_is_data_on_the_accelerator_and_absent_on_the_cpu():
    import dataclasses

    import hwsim

    hw = hwsim.load_config("bitfusion_16x32")
    small = hwsim.Layer("fc", "gemm", 1, 1, 64, 1, 1, 10, 1, 1, 1, 1)  # one output row: a sub-array wins
    r = hwsim.simulate(small, hw, "w2a2")
    s = r.schedule
    assert isinstance(s, hwsim.Schedule) and s.dataflow == r.dataflow == "os"
    assert s.sub_array[0] <= hw.rows and s.sub_array[1] <= hw.cols and s.chunks >= 1 and s.block >= 1
    assert ("uses" in r.note) == (s.sub_array != (hw.rows, hw.cols))
    assert "schedule" not in r.to_dict()  # the JSON/CSV records keep their columns
    fixed = hwsim.simulate(small, dataclasses.replace(hw, timing="scalesim"), "w2a2").schedule
    assert fixed.sub_array == (hw.rows, hw.cols) and fixed.mode == "w2a2" and not fixed.fold_overlap
    assert hwsim.simulate(small, "cortex_a53_rpi3b", "w8a8").schedule is None
