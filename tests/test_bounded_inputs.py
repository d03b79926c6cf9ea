"""Bounded inputs: YAML alias bombs and duplicate keys are refused with one line, quickly (hwsim/yaml_input.py)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings, strategies as st

from conftest import ROOT

from hwsim.errors import HwsimError
from hwsim.yaml_input import MAX_NODES, load_yaml
from hwsim_cli import main

HW = ROOT / "hw_configs" / "bitfusion_16x32.yaml"
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
    assert err.count("\n") == 1 and "--jobs" in err and "allowed 1 to" in err
