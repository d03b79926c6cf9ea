"""Bounded inputs: YAML alias bombs and duplicate keys are refused with one line, quickly (hwsim/yaml_input.py)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings, strategies as st

from conftest import ROOT

from hwsim.errors import HwsimError
from hwsim.yaml_input import MAX_NODES, load_yaml
from hwsim.cli import main

HW = ROOT / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml"
TOPO = str(ROOT / "tests" / "data" / "scalesim" / "topo_convs.csv")

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


def test_a_billion_laughs_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(HwsimError, match="alias bomb"):
        load_yaml(BOMB, "bomb.yaml")
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("where", ["config", "bits", "spec"])
def test_alias_bomb_in_every_yaml_input_is_one_error_line(tmp_path, capsys, where):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    if where == "config":
        args = ["simulate", "--hw", str(bomb), "--topology", TOPO]
    elif where == "bits":
        args = ["simulate", "--hw", str(HW), "--topology", TOPO, "--bits", str(bomb)]
    else:
        args = ["sweep", str(bomb), "-o", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and err.count("\n") == 1 and "alias bomb" in err


def test_a_few_aliases_and_merge_keys_still_load():
    doc = load_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n", "ok.yaml")
    assert doc["other"] == {"x": 1, "y": 3} and doc["list"] == [{"x": 1, "y": 2}] * 2


def test_a_self_referencing_alias_is_refused():
    with pytest.raises(HwsimError, match="refused YAML"):
        load_yaml("a: &a [1, *a]\n", "loop.yaml")


def test_duplicate_key_in_a_hardware_config_names_the_key_and_both_lines(tmp_path, capsys):
    text = HW.read_text()
    assert "clock_mhz" in text
    cfg = tmp_path / "dup.yaml"
    cfg.write_text(text + "clock_mhz: 1000\n")
    assert main(["simulate", "--hw", str(cfg), "--topology", TOPO]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "duplicate key 'clock_mhz'" in err and f"line {len(text.splitlines()) + 1}" in err


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_bits_file_naming_a_layer_twice_is_refused(tmp_path, capsys, suffix):
    from hwsim.workload import layers_from_topology

    names = [layer.name for layer in layers_from_topology(TOPO)]
    bits = tmp_path / f"bits{suffix}"
    if suffix == ".json":
        bits.write_text("{" + ", ".join(f'"{n}": "w4a4"' for n in names + names[:1]) + "}")
    else:
        bits.write_text("".join(f"{n}: w4a4\n" for n in names + names[:1]))
    assert main(["simulate", "--hw", str(HW), "--topology", TOPO, "--bits", str(bits)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"duplicate key '{names[0]}'" in err


@settings(max_examples=50, deadline=None)
@given(levels=st.integers(1, 8), fan=st.integers(2, 12))
def test_expansion_bound_matches_the_expanded_size(levels, fan):
    """Nested aliases load exactly when their expanded size is within MAX_NODES."""
    lines = ["l0: &l0 [" + ", ".join(["v"] * fan) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fan) + "]")
    # nodes: the root mapping, its keys, and each level's list expanded (level i: 1 + fan * size(i - 1))
    size, total = 1 + fan, 1 + levels
    total += size
    for _ in range(1, levels):
        size = 1 + fan * size
        total += size
    text = "\n".join(lines) + "\n"
    if total <= MAX_NODES:
        assert len(load_yaml(text, "t.yaml")) == levels
    else:
        with pytest.raises(HwsimError, match="alias bomb"):
            load_yaml(text, "t.yaml")


def test_a_billion_value_axis_is_refused_before_it_is_made(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {HW}\naxes:\n  array.rows: {{from: 1, to: 1000000000, step: 1}}\nmodels: [{TOPO}]\n"
                    "precisions: [w8a8]\n")
    start = time.perf_counter()
    assert main(["sweep", str(spec), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 5 and err.count("\n") == 1 and "1,000,000,000 values" in err
    assert not (tmp_path / "out").exists()


def test_too_many_jobs_are_refused(tmp_path, capsys):
    import os

    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {HW}\naxes:\n  array.rows: [8, 16]\nmodels: [{TOPO}]\nprecisions: [w8a8]\n")
    assert main(["sweep", str(spec), "-o", str(tmp_path / "out"), "--jobs", str(4 * (os.cpu_count() or 1) + 1)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--jobs" in err and f"expected an integer from 1 to {4 * (os.cpu_count() or 1)}" in err


@pytest.mark.parametrize("edit", [("clock_mhz: 500", "clock_mhz: .inf"), ("clock_mhz: 500", "clock_mhz: .nan"),
                                  ("ifmap: 32,", "ifmap: .inf,"), ("clock_mhz: 500", "clock_mhz: 1.0e+300")])
def test_non_finite_or_huge_numbers_in_a_config_are_one_error_line(tmp_path, capsys, edit):
    text = HW.read_text()
    assert edit[0] in text
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text.replace(edit[0], edit[1], 1))
    assert main(["simulate", "--hw", str(cfg), "--topology", TOPO]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and err.count("\n") == 1 and "internal error" not in err


def test_an_infinite_energy_figure_is_refused(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(HW.read_text() + "energy: {dram_pj_per_bit: .inf}\n")
    assert main(["simulate", "--hw", str(cfg), "--topology", TOPO, "--format", "json"]) == 2
    assert "energy.dram_pj_per_bit" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "1e999"])
def test_non_finite_numbers_in_a_scalesim_cfg_are_refused(tmp_path, capsys, value):
    import re

    text = (ROOT / "tests" / "data" / "scalesim" / "os_16x32.cfg").read_text()
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(re.sub(r"IfmapSramSzkB\s*[:=]\s*\S+", f"IfmapSramSzkB = {value}", text))
    assert main(["simulate", "--hw", str(cfg), "--topology", TOPO, "-o", str(tmp_path / "out.txt")]) == 2
    err = capsys.readouterr().err
    assert "IfmapSramSzkB" in err and err.count("\n") == 1 and not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize("flags", [["--latency-ms", "nan"], ["--latency-ms", "1", "--area-mm2", "inf"]])
def test_non_finite_flags_are_refused(tmp_path, capsys, flags):
    args = ["codesign", "--hw-space", str(ROOT / "hwsim" / "examples" / "codesign_space.yaml"), *flags, "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a number" in err and "got '" in err


def test_a_stride_larger_than_the_input_gives_one_output_pixel(tmp_path):
    from hwsim.workload import layers_from_topology

    topo = tmp_path / "t.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\nbig_stride, 4, 4, 3, 3, 8, 16, 8,\nplain, 17, 17, 3, 3, 12, 20, 2,\n")
    big, plain = layers_from_topology(topo)
    assert (big.out_h, big.out_w) == (1, 1) and big.macs == 3 * 3 * 8 * 16
    assert (plain.out_h, plain.out_w) == (8, 8)  # SCALE-Sim's ceil((17 - 3 + 2) / 2) where a window fits


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 64), kernel=st.integers(1, 64), stride=st.integers(1, 64))
def test_output_size_is_scalesims_or_one_window_past_the_input(size, kernel, stride):
    """SCALE-Sim's count where the stride fits in the input (its reports are matched exactly), one window where it
    does not; never fewer windows than the framework's floor formula."""
    import math

    from hwsim.workload import _scalesim_out

    if kernel > size:
        return
    out = _scalesim_out(size, kernel, stride)
    assert out >= (size - kernel) // stride + 1 >= 1
    assert out == (1 if stride > size else math.ceil((size - kernel + stride) / stride))


def test_a_topology_without_its_header_line_is_refused(tmp_path, capsys):
    topo = tmp_path / "t.csv"
    topo.write_text("conv1, 17, 17, 3, 3, 12, 20, 1,\nconv2, 17, 17, 3, 3, 20, 20, 1,\n")
    assert main(["simulate", "--hw", str(HW), "--topology", str(topo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "header" in err


def test_a_ten_megabyte_layer_name_is_one_error_line(tmp_path, capsys):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\n" + "x" * 10_000_000 + ", 17, 17, 3, 3, 12, 20, 1,\n")
    assert main(["simulate", "--hw", str(HW), "--topology", str(topo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err and len(err) < 1000


def test_an_empty_output_path_is_an_error(tmp_path, capsys):
    assert main(["simulate", "--hw", str(HW), "--topology", TOPO, "-o", ""]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "-o/--output is empty" in captured.err


def test_lut_with_a_bad_bits_file_says_one_line_and_builds_nothing(tmp_path, capsys):
    bits = tmp_path / "b.yaml"
    bits.write_text("nope: w4a4\n")
    assert main(["lut", "--hw", str(HW), "--topology", TOPO, "--bits", str(bits), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown layer 'nope'" in err and not (tmp_path / "c").exists()


def test_ray_missing_is_the_only_line(tmp_path, capsys, monkeypatch):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "ray" else real(name, *a, **k))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {HW}\naxes:\n  array.rows: [8, 16]\nmodels: [{TOPO}]\nprecisions: [w8a8]\n")
    assert main(["sweep", str(spec), "-o", str(tmp_path / "out"), "--ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ray needs Ray" in err


def test_a_pickled_module_checkpoint_needs_trust_checkpoint(tmp_path, capsys):
    import torch

    from hwsim.quant.digits_model import default_digits_model
    from hwsim.quant.sources import load_model_and_data

    module = default_digits_model()
    torch.nn.init.constant_(module.fc.bias, 0.25)
    torch.save(module, tmp_path / "full.pt")
    assert main(["quantize", "--checkpoint", str(tmp_path / "full.pt"), "--wbits", "4", "--abits", "4",
                 "-o", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trust-checkpoint" in err and not any((tmp_path / "q").rglob("*"))
    model, _ = load_model_and_data(checkpoint=str(tmp_path / "full.pt"), trust_checkpoint=True, progress=False)
    assert torch.equal(model.fc.bias, torch.full((10,), 0.25))


def _spec_with(tmp_path, axes: str, extra: str = "") -> str:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {HW}\naxes:\n{axes}models: [{TOPO}]\nprecisions: [w8a8]\n{extra}")
    return str(spec)


def test_the_point_count_is_checked_from_the_axes_before_any_point_is_made(tmp_path, capsys):
    """Four 1,000-value axes: 10^12 points, refused at once with the count; a sample of it runs."""
    axes = "".join(f"  {name}: {{from: 1, to: 1000, step: 1}}\n"
                   for name in ("array.rows", "array.cols", "sram_kib.ifmap", "sram_kib.filter"))
    spec = _spec_with(tmp_path, axes)
    start = time.perf_counter()
    assert main(["sweep", spec, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 5 and err.count("\n") == 1
    assert "1,000,000,000,000 points to run" in err and "--max-points" in err
    assert not (tmp_path / "out").exists()
    assert main(["sweep", spec, "-o", str(tmp_path / "out"), "--samples", "3", "--jobs", "1", "--no-plots"]) == 0
    assert capsys.readouterr().out.count("\n") >= 3  # a front header, the columns and at least one row


def test_max_points_lowers_and_raises_the_limit(tmp_path, capsys):
    from hwsim.explore.spec import MAX_POINTS, load_spec

    spec = _spec_with(tmp_path, "  array.rows: [8, 16, 32]\n  array.cols: [16, 32]\n")
    assert main(["sweep", spec, "-o", str(tmp_path / "out"), "--max-points", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "6 points to run" in err and "at most 5" in err
    assert len(load_spec(spec, max_points=6).indices()) == 6
    big = _spec_with(tmp_path, "  array.rows: {from: 1, to: 4000, step: 1}\n  array.cols: {from: 1, to: 4000, step: 1}\n")
    with pytest.raises(HwsimError, match="16,000,000 points"):
        load_spec(big)
    assert load_spec(big, max_points=2 * MAX_POINTS).grid_size == 16_000_000


@pytest.mark.parametrize("command", ["pipeline", "codesign", "quantize", "sweep", "simulate"])
def test_an_input_error_leaves_no_new_output_folder(tmp_path, capsys, command):
    """Every input is checked before the output folder (or a missing parent of an output file) is made."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: systolic\nclock_mhz: -5\n")
    out = tmp_path / "new" / "deeper"
    args = {
        "pipeline": ["pipeline", "--hw", str(bad), "--out", str(out)],
        "codesign": ["codesign", "--hw-space", str(bad), "--latency-ms", "1", "--area-mm2", "2", "--out", str(out)],
        "quantize": ["quantize", "--bits", str(bad), "-o", str(out)],
        "sweep": ["sweep", str(bad), "-o", str(out)],
        "simulate": ["simulate", "--hw", str(bad), "--topology", TOPO, "-o", str(out / "r.json")],
    }[command]
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("hwsim: error: ")
    assert not (tmp_path / "new").exists()


def test_an_output_folder_that_cannot_be_made_is_refused_before_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["simulate", "--hw", str(HW), "--topology", TOPO, "-o", str(blocker / "sub" / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a directory" in err


@pytest.mark.parametrize("command", ["pipeline", "codesign"])
def test_a_second_pipeline_or_codesign_into_a_held_folder_is_refused(tmp_path, command):
    import os

    from hwsim.codesign.joint import JointConfig, run_joint
    from hwsim.codesign.pipeline import PipelineConfig, run_pipeline
    from hwsim.lock import folder_lock

    out = tmp_path / "out"
    with folder_lock(out, "test"):
        with pytest.raises(HwsimError, match=f"pid {os.getpid()}"):
            if command == "pipeline":
                run_pipeline(PipelineConfig(out=str(out)), progress=False)
            else:
                run_joint(JointConfig(space=str(ROOT / "hwsim" / "examples" / "codesign_space.yaml"), latency_ms=1.0,
                                      area_mm2=2.0, out=str(out)), progress=False)
    assert sorted(p.name for p in out.iterdir()) == [".hwsim.lock"]  # the holder's files only; nothing written


def test_a_bad_ray_address_is_one_line_in_seconds():
    """Ray itself retries an unreachable head for minutes, logging each try; the check answers first."""
    import socket

    from hwsim.explore.executors import check_ray_address

    for bad in ("foo", "host:99999", "ray://:10001", "10.0.0.1:port"):
        with pytest.raises(HwsimError, match="not an address; allowed: host:port"):
            check_ray_address(bad)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(HwsimError, match=f"127.0.0.1:{port}: cannot reach it"):
        check_ray_address(f"127.0.0.1:{port}")
    assert time.perf_counter() - start < 6
    with socket.socket() as s:  # a listening port passes (Ray's own handshake decides the rest)
        s.bind(("127.0.0.1", 0))
        s.listen()
        check_ray_address(f"ray://127.0.0.1:{s.getsockname()[1]}")


CONV_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


@pytest.mark.parametrize("text,expected", [
    (CONV_HEAD + "c1, +5, 5, 3, 3, 4, 4, 1,\n", "digits only"),
    (CONV_HEAD + "c1, 1_0, 5, 3, 3, 4, 4, 1,\n", "digits only"),
    (CONV_HEAD + "c1, 5.0, 5, 3, 3, 4, 4, 1,\n", "digits only"),
    (CONV_HEAD + "c1, 5, 5, 3, 3, 9223372036854775808, 4, 1,\n", "allowed: integers from 1 to 16,777,216"),
    (CONV_HEAD + "c1, 5, 5, 3, 3, " + "9" * 5000 + ", 4, 1,\n", "allowed: integers from 1 to 16,777,216"),
    (CONV_HEAD + "c1, 5, 5, 3, 3, 0, 4, 1,\n", "allowed: integers from 1 to 16,777,216"),
    (CONV_HEAD + "c1, 16000000, 16000000, 3, 3, 64, 64, 1,\n", "MACs in one layer; allowed: at most 1e+15"),
    ("Layer, M, N, K,\nfc, 1000000, 1000000, 1000000,\n", "1e+18 MACs in one layer"),
    ("Layer, M, N, K,\nfc, 4, 5, 6, 7, 8, 9, 1,\n", "a conv row under a GEMM (Layer, M, N, K) header"),
    (CONV_HEAD + "fc, 4, 5, 6,\n", "a GEMM row under a conv header"),
])
@pytest.mark.parametrize("hw", ["bitfusion_16x32", "cortex_a53_rpi3b"])
def test_topology_numbers_out_of_range_are_one_line(tmp_path, capsys, text, expected, hw):
    topo = tmp_path / "t.csv"
    topo.write_text(text)
    assert main(["simulate", "--hw", str(ROOT / "hwsim" / "hw_configs" / f"{hw}.yaml"), "--topology", str(topo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and err.count("\n") == 1 and expected in err and len(err) < 400


@pytest.mark.parametrize("field,value,expected", [
    ("array.rows", 2 ** 63, "an integer from 1 to 65536"),
    ("array.cols", 1e300, "an integer from 1 to 65536"),
    ("clock_mhz", 1e-300, "a number from 0.001 to 100000 (MHz)"),
    ("dram_gb_per_s", 1e-12, "a number from 0.001 to 1e+06 (GB/s)"),
    ("requant_outputs_per_cycle", 1e-300, "a number from 0.01 to 1e+06 (outputs/cycle)"),
    ("sram_kib.ifmap", 1e-300, "a number from 0.000976562"),
    ("bits", [8.0], "a non-empty list drawn from [2, 4, 8]"),
])
def test_config_numbers_out_of_their_physical_range_are_one_line(tmp_path, capsys, field, value, expected):
    import yaml

    raw = yaml.safe_load(HW.read_text())
    outer, _, inner = field.partition(".")
    if inner:
        raw[outer][inner] = value
    else:
        raw[outer] = value
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["simulate", "--hw", str(cfg), "--topology", TOPO, "-o", str(tmp_path / "o" / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"field '{field}'" in err and expected in err
    assert not (tmp_path / "o").exists()


LUT = {"format": "hwsim-lut/2", "model": "m", "choices": ["w2a8", "w8a8"], "policy": "none",
       "layers": [{"name": "a", "macs": 100, "latency_ms": {"w2a8": 1.0, "w8a8": 3.0}},
                  {"name": "b", "macs": 10, "latency_ms": {"w2a8": 2.0, "w8a8": 4.0}}]}
SENS = {"format": "hwsim-sensitivity/2", "model": "m", "choices": ["w2a8", "w8a8"], "policy": "none",
        "layers": {"a": {"w2a8": 1.0, "w8a8": 0.0}, "b": {"w2a8": 2.0, "w8a8": 0.0}}, "pairs": []}


def _edit(doc: dict, path: str, value):
    import copy

    doc = copy.deepcopy(doc)
    *outer, last = path.split(".")
    node = doc
    for key in outer:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return doc


@pytest.mark.parametrize("table,path,value,expected", [
    ("lut", "layers.0.latency_ms.w2a8", -1.0, "layers[0].latency_ms"),
    ("lut", "layers.0.latency_ms.w2a8", 10 ** 400, "layers[0].latency_ms"),
    ("lut", "layers.0.latency_ms.w2a8", "x", "layers[0].latency_ms"),
    ("lut", "layers.0.latency_ms.w2a8", [1], "layers[0].latency_ms"),
    ("lut", "layers.0.macs", -5, "layers[0].macs"),
    ("lut", "layers.0.latency_cycles", {"w2a8": "x", "w8a8": 3}, "layers[0].latency_cycles"),
    ("lut", "layers.0.weights", 10 ** 400, "layers[0].weights"),
    ("lut", "layers.1.name", "a", "layers[1]"),
    ("lut", "choices", "w2a8", "field 'choices'"),
    ("lut", "format", "hwsim-lut/1", "field 'format'"),
    ("sens", "layers.a.w2a8", "x", "layers.a"),
    ("sens", "layers.a.w2a8", 1e300, "layers.a"),
    ("sens", "layers.a", [1, 2], "layers.a"),
    ("sens", "choices", [], "field 'choices'"),
    ("sens", "pairs", [{"a": "a", "b": "zz", "choice_a": "w2a8", "choice_b": "w2a8", "sensitivity": 1}], "pairs[0]"),
    ("sens", "model", "other", "the lookup table is for model 'm' and the sensitivity table for 'other'"),
])
def test_bad_tables_for_a_problem_are_one_line(tmp_path, capsys, table, path, value, expected):
    import json

    lut, sens = (_edit(LUT, path, value), SENS) if table == "lut" else (LUT, _edit(SENS, path, value))
    (tmp_path / "lut.json").write_text(json.dumps(lut))
    (tmp_path / "sens.json").write_text(json.dumps(sens))
    assert main(["problem", "--lut", str(tmp_path / "lut.json"), "--sensitivity", str(tmp_path / "sens.json"),
                 "--budget", "0.5", "-o", str(tmp_path / "o" / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and err.count("\n") == 1 and expected in err, err
    assert "internal error" not in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("text,expected", [
    ('{"x": NaN}', "NaN is not a JSON number"),
    ('{"x": -Infinity}', "-Infinity is not a JSON number"),
    ('{"x": 1, "x": 2}', "duplicate key 'x'"),
    ("[" * 100_000, "nested too deeply"),
])
@pytest.mark.parametrize("where", ["lut", "sensitivity", "problem", "bits"])
def test_json_inputs_refuse_nan_duplicates_and_depth(tmp_path, capsys, text, expected, where):
    import json

    bad = tmp_path / "bad.json"
    bad.write_text(text)
    good = {"lut": tmp_path / "lut.json", "sensitivity": tmp_path / "sens.json"}
    good["lut"].write_text(json.dumps(LUT))
    good["sensitivity"].write_text(json.dumps(SENS))
    files = {**good, where: bad}
    args = {"lut": ["problem", "--lut", str(files["lut"]), "--sensitivity", str(files["sensitivity"]),
                    "--budget", "0.5", "-o", str(tmp_path / "p.json")],
            "sensitivity": ["problem", "--lut", str(files["lut"]), "--sensitivity", str(files["sensitivity"]),
                            "--budget", "0.5", "-o", str(tmp_path / "p.json")],
            "problem": ["search", "--problem", str(bad), "-o", str(tmp_path / "r.json")],
            "bits": ["simulate", "--hw", str(HW), "--topology", TOPO, "--bits", str(bad)]}[where]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "internal error" not in err


@pytest.mark.parametrize("budget,unit,expected", [
    ("-1", "ms", "budget -1.0; allowed: a number from 0"),
    ("0", "ms", "infeasible: the cheapest assignment costs 3"),
    ("1e300", "ms", "to 1e+18"),
    ("1.5", "fraction", "a fractional budget must be in [0, 1]"),
])
def test_problem_budgets_out_of_range_are_refused(tmp_path, capsys, budget, unit, expected):
    import json

    (tmp_path / "lut.json").write_text(json.dumps(LUT))
    (tmp_path / "sens.json").write_text(json.dumps(SENS))
    assert main(["problem", "--lut", str(tmp_path / "lut.json"), "--sensitivity", str(tmp_path / "sens.json"),
                 "--budget", budget, "--budget-unit", unit, "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


@pytest.mark.parametrize("path,value,expected", [
    ("budget", 10 ** 400, "field 'budget'"),
    ("layers.0.cost.w2a8", 1e300, "layers[0].cost.w2a8"),
    ("layers.0.sensitivity.w2a8", -(10 ** 30), "layers[0].sensitivity.w2a8"),
])
def test_problem_file_numbers_out_of_range_are_refused(tmp_path, capsys, path, value, expected):
    import json

    doc = {"choices": ["w2a8", "w8a8"], "budget": 5.0, "cost_unit": "ms",
           "layers": [{"name": "a", "cost": {"w2a8": 1.0, "w8a8": 3.0}, "sensitivity": {"w2a8": 1.0, "w8a8": 0.0}},
                      {"name": "b", "cost": {"w2a8": 2.0, "w8a8": 4.0}, "sensitivity": {"w2a8": 2.0, "w8a8": 0.0}}]}
    (tmp_path / "p.json").write_text(json.dumps(_edit(doc, path, value)))
    assert main(["search", "--problem", str(tmp_path / "p.json"), "-o", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "internal error" not in err, err


@pytest.mark.parametrize("case", ["pipeline-model", "codesign-model", "codesign-sensitivity", "sweep-model",
                                  "pipeline-checkpoint", "quantize-seed"])
def test_inputs_checked_before_the_run_leave_no_folder(tmp_path, capsys, case):
    """Inputs found bad only inside the run (a model name, a sensitivity table, a model in a spec) are
    checked before the output folder is made and locked."""
    out = tmp_path / "new"
    sens = tmp_path / "s.json"
    sens.write_text('{"format": "hwsim-sensitivity/2", "choices": ["w2a2"], "layers": {"a": {"w2a2": NaN}}}')
    spec = _spec_with(tmp_path, "  array.rows: [8, 16]\n")
    args = {
        "pipeline-model": ["pipeline", "--model", "nosuch", "--out", str(out)],
        "pipeline-checkpoint": ["pipeline", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)],
        "codesign-model": ["codesign", "--hw-space", str(ROOT / "hwsim" / "examples" / "codesign_space.yaml"),
                           "--latency-ms", "1", "--area-mm2", "2", "--model", "nosuch", "--out", str(out)],
        "codesign-sensitivity": ["codesign", "--hw-space", str(ROOT / "hwsim" / "examples" / "codesign_space.yaml"),
                                 "--latency-ms", "1", "--area-mm2", "2", "--sensitivity", str(sens), "--out", str(out)],
        "sweep-model": ["sweep", spec, "-o", str(out)],
        "quantize-seed": ["quantize", "--wbits", "4", "--abits", "4", "--seed", "-1", "-o", str(out)],
    }[case]
    if case == "sweep-model":
        (tmp_path / "spec.yaml").write_text((tmp_path / "spec.yaml").read_text().replace(TOPO, "nosuch"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and err.count("\n") == 1, err
    assert not out.exists()


MEASURED = "model,threads,clock_mhz,wbits,abits,latency_ms,source\nresnet18,4,1400,8,8,160.07,x\nresnet18,1,1400,8,8,312.68,x\n"


@pytest.mark.parametrize("edit,flags,expected", [
    (("4,1400,8,8,160.07", "4,1e300,8,8,160.07"), [], "clock_mhz '1e300'; allowed: a number from 1 to 100000"),
    (("4,1400,8,8,160.07", "4,1400,8,8,1" + "0" * 400), [], "latency_ms"),
    (("4,1400,8,8,160.07", "99999999999999999999,1400,8,8,160.07"), [], "threads"),
    ((",source\n", ",source,model\n"), [], "column(s) model given twice"),
    (("160.07,x\n", "160.07,x,a,b,c\n"), [], "10 fields under a header of 7"),
    (("x\n", "x\n", ), ["--fit", ""], "--fit '': allowed: distinct names"),
    (("x\n", "x\n"), ["--fit", "dram_gb_per_s,dram_gb_per_s"], "allowed: distinct names"),
    (("x\n", "x\n"), ["--name", "a\nb: c"], "--name 'a\\nb: c'"),
])
def test_calibrate_inputs_out_of_range_are_one_line(tmp_path, capsys, edit, flags, expected):
    csv = tmp_path / "m.csv"
    csv.write_text(MEASURED.replace(*edit, 1))
    assert main(["calibrate", "--hw", str(ROOT / "hwsim" / "hw_configs" / "cortex_a53_rpi3bplus.yaml"), "--measurements",
                 str(csv), "--no-loo", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and expected in captured.err and captured.out == "", captured.err


def test_a_pareto_title_is_text_not_mathtext(tmp_path, capsys):
    import json

    from hwsim.search.problem import problem_from_dict

    doc = {"choices": ["w2a8", "w8a8"], "budget": 5.0, "cost_unit": "ms",
           "layers": [{"name": "a", "cost": {"w2a8": 1.0, "w8a8": 3.0}, "sensitivity": {"w2a8": 1.0, "w8a8": 0.0}},
                      {"name": "b", "cost": {"w2a8": 2.0, "w8a8": 4.0}, "sensitivity": {"w2a8": 2.0, "w8a8": 0.0}}]}
    problem_from_dict(doc)
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert main(["pareto", "--problem", str(tmp_path / "p.json"), "--points", "2", "--title", r"\foo{ $x",
                 "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "pareto.png").stat().st_size > 1000
    assert main(["pareto", "--problem", str(tmp_path / "p.json"), "--title", "x" * 201, "-o", str(tmp_path / "o2")]) == 2
    assert "at most 200 characters" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def test_a_config_integer_past_any_float_is_refused_not_overflowed(tmp_path, capsys):
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(HW.read_text().replace("rows: 16", "rows: 1" + "0" * 400))
    assert "rows: 1000" in cfg.read_text()
    assert main(["simulate", "--hw", str(cfg), "--topology", TOPO]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field 'array.rows'" in err and "internal error" not in err


@pytest.mark.parametrize("case,expected", [
    ("spec-seed", "seed: -1; allowed: an integer from 0 to 4,294,967,295"),
    ("spec-samples", "samples: 1000000000000; allowed: an integer from 1 to 10,000,000"),
    ("objectives", "--objectives '': allowed: two or more"),
    ("pnmq-abits", "--abits 2: pnmq quantizes weights only"),
])
def test_more_inputs_refused_in_one_line(tmp_path, capsys, case, expected):
    import json

    if case.startswith("spec-"):
        extra = "seed: -1\n" if case == "spec-seed" else "samples: 1000000000000\n"
        args = ["sweep", _spec_with(tmp_path, "  array.rows: [8, 16]\n", extra), "-o", str(tmp_path / "o")]
    elif case == "objectives":
        doc = {"choices": ["w2a8", "w8a8"], "budget": 5.0, "cost_unit": "ms", "layers": [
            {"name": "a", "cost": {"w2a8": 1.0, "w8a8": 3.0}, "sensitivity": {"w2a8": 1.0, "w8a8": 0.0}}]}
        (tmp_path / "p.json").write_text(json.dumps(doc))
        args = ["search", "--problem", str(tmp_path / "p.json"), "--objectives", "", "-o", str(tmp_path / "o.json")]
    else:
        args = ["quantize", "--quantizer", "pnmq", "--wbits", "4", "--abits", "2", "-o", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.json").exists()
