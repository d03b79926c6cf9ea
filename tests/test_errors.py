"""The error contract and safe outputs: every case of issue 14's list is a test.

Bad input -> one line ``hwsim: error: ...`` naming what is wrong and what is allowed, exit code 2, no
traceback, nothing written; outputs are atomic, honour the umask, refuse directories, FIFOs, devices and
(without --force) symbolic links, and a failed write leaves the previous file intact.
"""

import errno
import json
import os
import stat
import time

import pytest

from hwsim.errors import HwsimError
from hwsim.io import write_atomic
from hwsim.cli import main

from conftest import CONFIGS, DATA

HW = str(CONFIGS / "bitfusion_16x32.yaml")
TOPO = str(DATA / "scalesim" / "topo_convs.csv")
GARBAGE = bytes(range(256)) * 8


def run(capsys, *argv):
    """(exit code, stdout, stderr) of one CLI call."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(code, err, *fragments):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hwsim: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture
def garbage(tmp_path):
    def make(name):
        p = tmp_path / name
        p.write_bytes(GARBAGE)
        return str(p)
    return make


def test_binary_garbage_as_any_input_file(capsys, garbage, tmp_path):
    assert_one_error(*run(capsys, "simulate", "--hw", garbage("hw.yaml"), "--topology", TOPO)[::2],
                     "binary data, not a hardware config file")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", garbage("t.csv"))[::2],
                     "binary data, not a topology file")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", TOPO, "--bits", garbage("b.yaml"))[::2],
                     "binary data, not a bits file")
    assert_one_error(*run(capsys, "search", "--problem", garbage("p.json"), "-o", str(tmp_path / "r.json"))[::2],
                     "binary data, not a problem file")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert_one_error(*run(capsys, "simulate", "--hw", str(latin), "--topology", TOPO)[::2], "not UTF-8 text")
    assert not (tmp_path / "r.json").exists()


def test_bit_widths_are_checked_not_defaulted(capsys):
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", TOPO, "--wbits", "0")[::2],
                     "bit-width '0': allowed 2..8")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", TOPO, "--abits", "3")[::2],
                     "activation bit-width 3 is not supported by bitfusion_16x32; allowed: 2, 4, 8")


def test_tables_of_two_models_are_not_silently_joined(capsys, tmp_path):
    lut = tmp_path / "lut.json"
    assert run(capsys, "lut", "--hw", HW, "--model", "resnet18", "--no-cache", "--quiet", "-o", str(lut))[0] == 0
    sens = {"format": "hwsim-sensitivity/2", "policy": "first-last-8bit", "choices": ["w2a2", "w8a8"],
            "pinned": {"conv1": "w8a8", "fc": "w8a8"},
            "layers": {"layer1.0.conv1": {"w2a2": 1.0, "w8a8": 0.0}}, "pairs": []}
    (tmp_path / "sens.json").write_text(json.dumps(sens))
    code, _, err = run(capsys, "problem", "--lut", str(lut), "--sensitivity", str(tmp_path / "sens.json"), "--budget",
                       "0.5", "-o", str(tmp_path / "p.json"))
    assert_one_error(code, err, "of the lookup table has no sensitivity", "built for the same model")
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("row,message", [
    ("conv, 10, 10, 3, 3, 4, 8, 1, 7,", "expected 7 numbers"),
    ("conv, 10, 10, 3, 3, 4, 8, 1, 2:4,", "sparsity '2:4' is not modelled"),
    ("first, 10, 10, 3, 3, 4, 8, 1,", "layer name 'first' appears twice"),
    ("g, 10, 10, 10,", "mixes GEMM rows"),
    (", 10, 10, 3, 3, 4, 8, 1,", "the layer name (first column) is empty"),
])
def test_topology_rows_are_strict(capsys, tmp_path, row, message):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer, H, W, FH, FW, C, NF, S,\nfirst, 10, 10, 3, 3, 4, 8, 1,\n" + row + "\n")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", str(topo))[::2], message)


def test_directory_and_unknown_names(capsys, tmp_path):
    assert_one_error(*run(capsys, "simulate", "--hw", str(CONFIGS), "--topology", TOPO)[::2], "is a directory")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", str(tmp_path))[::2], "is a directory")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--model", "resnet19")[::2],
                     "unknown model 'resnet19'; allowed: mobilenet_v1, mobilenet_v2, regnet_x_600mf, resnet18, resnet50")
    assert_one_error(*run(capsys, "quantize", "--model", "resnet19", "--wbits", "4", "--abits", "4", "-o",
                          str(tmp_path / "q"))[::2], "unknown model 'resnet19'")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", TOPO, "--frobnicate")[::2],
                     "unrecognized arguments: --frobnicate", "--help")


def test_outputs_refuse_directories_fifos_devices_and_symlinks(capsys, tmp_path):
    args = ["simulate", "--hw", HW, "--topology", TOPO, "-o"]
    assert_one_error(*run(capsys, *args, str(tmp_path))[::2], "is a directory; give a file name")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    assert_one_error(*run(capsys, *args, str(fifo))[::2], "not a regular file")
    assert time.monotonic() - start < 5  # never blocks on the FIFO
    assert_one_error(*run(capsys, *args, "/dev/full")[::2], "not a regular file")
    assert_one_error(*run(capsys, *args, "/proc/hwsim-out.txt")[::2], "cannot write in the directory of")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere" / "x")
    assert_one_error(*run(capsys, *args, str(dangling))[::2], "a dangling symbolic link")
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert_one_error(*run(capsys, *args, str(link))[::2], "a symbolic link to", "--force writes to its target")
    assert target.read_text() == "keep me\n" and link.is_symlink()
    assert run(capsys, *args, str(link), "--force")[0] == 0
    assert link.is_symlink() and target.read_text().startswith("bitfusion_16x32")  # written through, link kept


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = write_atomic(tmp_path / "out.txt", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_full_disk_leaves_the_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "table.txt"
    write_atomic(out, "previous\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(HwsimError, match="no space left on the device; the previous file is unchanged"):
        write_atomic(out, "new contents\n")
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.txt"]  # no temporary file left


def test_huge_inputs_are_refused_quickly_with_an_estimate(capsys, tmp_path):
    start = time.monotonic()
    # inside the flags' and topology's ranges, but too large to simulate: an estimate, naming the layer
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--model", "resnet18", "--batch", "65536")[::2],
                     "layer conv1: ", "folds", "GiB", "allowed: up to")
    topo = tmp_path / "huge.csv"
    topo.write_text("Layer, M, N, K,\nhuge, 100000, 100000, 100000,\n")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", str(topo))[::2], "layer huge: ", "folds",
                     "GiB")
    # past the ranges: refused before any estimate
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--model", "resnet18", "--batch", "10000000")[::2],
                     "--batch: expected an integer from 1 to 65,536")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--model", "resnet18", "--input-size", "100000")[::2],
                     "--input-size: expected an integer from 1 to 2,048")
    topo.write_text("Layer, M, N, K,\nhuge, 1000000, 1000000, 1000000,\n")
    assert_one_error(*run(capsys, "simulate", "--hw", HW, "--topology", str(topo))[::2], "MACs in one layer")
    assert time.monotonic() - start < 60


def test_pipeline_refuses_an_unwritable_output_before_any_work(capsys):
    start = time.monotonic()
    assert_one_error(*run(capsys, "pipeline", "--out", "/proc/hwsim-pipeline")[::2], "cannot write in the output")
    assert time.monotonic() - start < 5


def test_stdout_carries_only_the_requested_output(capsys, tmp_path):
    code, out, err = run(capsys, "simulate", "--hw", HW, "--topology", TOPO, "--format", "json")
    assert code == 0 and json.loads(out)["layers"]
    problem = {"choices": ["w2a8", "w8a8"], "budget": 2.0,
               "layers": [{"name": "a", "cost": {"w2a8": 0.4, "w8a8": 1.0}, "sensitivity": {"w2a8": 0.9, "w8a8": 0}}]}
    (tmp_path / "p.json").write_text(json.dumps(problem))
    for solver in ("ga", "exact"):
        code, out, err = run(capsys, "search", "--problem", str(tmp_path / "p.json"), "--solver", solver, "-o",
                             str(tmp_path / "r.json"))
        assert code == 0 and out.splitlines()[0].split() == ["layer", "w", "a", "cost", "loss"] and "objective" in err
    code, out, err = run(capsys, "simulate", "--hw", HW, "--topology", TOPO, "-o", str(tmp_path / "s.txt"))
    assert code == 0 and out == "" and "wrote" in err


def test_lut_cache_messages_say_one_thing(tmp_path, paper_hw):
    from hwsim.lut import cached_lut
    from hwsim.workload import layers_from_topology

    layers = layers_from_topology(TOPO)
    _, status = cached_lut(layers, paper_hw, "topo", cache_dir=tmp_path, progress=False)
    assert status.startswith("built and cached at") and "not cached" not in status
    _, status = cached_lut(layers, paper_hw, "topo", cache_dir=tmp_path, progress=False)
    assert status.startswith("cache hit")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(HwsimError):
        main(["simulate", "--hw", str(tmp_path / "missing.yaml"), "--topology", TOPO, "--debug"])


@pytest.mark.slow
def test_reconstruction_that_would_not_fit_is_refused_with_its_estimate(model, data, monkeypatch):
    import hwsim.resources as resources
    from hwsim.quant.api import quantize

    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 2 ** 20)  # a machine with 1 MiB free
    with pytest.raises(HwsimError, match=r"block reconstruction of 512 calibration images would need about .* GiB; "
                                         r"allowed: half the"):
        quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, (4, 4), iters=1, progress=False)


@pytest.mark.slow
def test_long_steps_show_progress_on_stderr(model, data, capsys):
    from hwsim.quant.api import quantize
    from hwsim.quant.sensitivity import measure_sensitivity

    quantize(model, data.calib_x[:64], data.calib_y[:64], data.test_x, data.test_y, (4, 4), iters=2, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "brecq block" in err
    measure_sensitivity(model, data.calib_x[:64], data.calib_y[:64], data.holdout_x[:64], data.holdout_y[:64],
                        data.test_x[:64], data.test_y[:64], choices=((4, 4), (8, 8)), iters=2, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "sensitivity" in err and "brecq block" in err
