"""Hardware configs: the shipped ones load, and every kind of mistake gets one clear message."""

import pytest
import yaml

from hwsim.config import load_config
from hwsim.errors import ConfigError

from conftest import CONFIGS

SHIPPED = sorted(CONFIGS.glob("*.yaml"))


def test_three_accelerators_ship():
    names = {p.stem for p in SHIPPED}
    assert {"bitfusion_16x32", "bitfusion_32x64", "bitfusion_16x32_starved"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_configs_load(path):
    hw = load_config(path)
    if hw.kind == "systolic":
        assert hw.rows > 0 and hw.cols > 0 and hw.dataflow in ("os", "ws", "is")
    else:
            assert hw.kind == "arm" and hw.cores == 4 and hw.threads == 4 and hw.clock_mhz in (1200, 1400)
    assert set(hw.bits) == {2, 4, 8}


def test_paper_config_values(paper_hw):
    assert (paper_hw.rows, paper_hw.cols, paper_hw.clock_mhz) == (16, 32, 500.0)
    assert paper_hw.dram_bytes_per_cycle() == pytest.approx(24.0)  # 12 GB/s at 500 MHz


def _write(tmp_path, base="bitfusion_16x32", **changes):
    raw = yaml.safe_load((CONFIGS / f"{base}.yaml").read_text())
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            raw[outer][inner] = value
        elif value is None:
            raw.pop(key)
        else:
            raw[key] = value
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("changes,expected", [
    ({"colour": "red"}, "field 'colour': got 'red'; allowed: known fields are"),
    ({"array.rows": 0}, "field 'array.rows': got 0; allowed: an integer from 1 to 65536"),
    ({"array.rows": 2 ** 63}, "field 'array.rows': got 9223372036854775808; allowed: an integer from 1 to 65536"),
    ({"array.cols": "32"}, "field 'array.cols': got '32'; allowed: an integer from 1 to 65536"),
    ({"array.cols": 32.0}, "field 'array.cols': got 32.0; allowed: an integer"),
    ({"array.depth": 3}, "field 'array.depth'"),
    ({"sram_kib.ifmap": -1}, "field 'sram_kib.ifmap': got -1; allowed: a number from 0.000976562 to 1.07374e+09 (KiB)"),
    ({"sram_kib.ifmap": 1e-300}, "field 'sram_kib.ifmap': got 1e-300"),
    ({"sram_bytes_per_cycle.filter": "fast"}, "field 'sram_bytes_per_cycle.filter': got 'fast'"),
    ({"bits": [2, 3, 8]}, "field 'bits': got [2, 3, 8]; allowed: a non-empty list drawn from [2, 4, 8]"),
    ({"bits": [8.0]}, "field 'bits': got [8.0]; allowed: a non-empty list drawn from [2, 4, 8]"),
    ({"dataflow": "rs"}, "field 'dataflow': got 'rs'; allowed: one of os, ws, is"),
    ({"clock_mhz": True}, "field 'clock_mhz': got True"),
    ({"dram_gb_per_s": 0}, "field 'dram_gb_per_s': got 0; allowed: a number from 0.001 to 1e+06 (GB/s) or 'unlimited'"),
    ({"clock_mhz": 1e-300}, "field 'clock_mhz': got 1e-300; allowed: a number from 0.001 to 100000 (MHz)"),
    ({"requant_outputs_per_cycle": 1e-9}, "field 'requant_outputs_per_cycle': got 1e-09; allowed: a number from 0.01"),
    ({"sram_bytes_per_cycle.ifmap": 1e-5}, "field 'sram_bytes_per_cycle.ifmap': got 1e-05; allowed: a number from 0.01"),
    ({"clock_mhz": None}, "field 'clock_mhz' is missing"),
    ({"scale_bits": 40}, "field 'scale_bits': got 40"),
])
def test_bad_values_name_file_field_value_and_allowed(tmp_path, changes, expected):
    path = _write(tmp_path, **changes)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(str(path))
    assert expected in str(err.value)


def test_unlimited_is_accepted(tmp_path):
    hw = load_config(_write(tmp_path, dram_gb_per_s="unlimited", **{"sram_bytes_per_cycle.ifmap": "unlimited"}))
    assert hw.dram_gb_per_s is None and hw.sram_bytes_per_cycle.ifmap is None


def test_broken_yaml_missing_file_and_unknown_suffix(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    other = tmp_path / "hw.toml"
    other.write_text("")
    with pytest.raises(ConfigError, match="allowed: .yaml, .yml"):
        load_config(other)


def test_scalesim_cfg_errors(tmp_path):
    cfg = tmp_path / "x.cfg"
    cfg.write_text("[general]\nrun_name = x\n[architecture_presets]\nArrayHeight = 8\nArrayWidth = 0\n")
    with pytest.raises(ConfigError, match="architecture_presets.ArrayWidth': got '0'"):
        load_config(cfg)
    cfg.write_text("[general]\nrun_name = x\n[architecture_presets]\nArrayHeight = 8\nArrayWidth = 8\n"
                   "IfmapSramSzkB = 64\nFilterSramSzkB = 64\nOfmapSramSzkB = 64\nDataflow = xs\n")
    with pytest.raises(ConfigError, match="Dataflow': got 'xs'; allowed: os, ws, is"):
        load_config(cfg)


def test_content_hash_ignores_names_but_not_numbers(paper_hw):
    import dataclasses

    assert dataclasses.replace(paper_hw, name="other").content_hash() == paper_hw.content_hash()
    assert dataclasses.replace(paper_hw, rows=8).content_hash() != paper_hw.content_hash()


@pytest.mark.parametrize("changes,expected", [
    ({"cores": 0}, "field 'cores': got 0; allowed: an integer from 1 to 1024"),
    ({"cores": 2 ** 63}, "field 'cores': got 9223372036854775808; allowed: an integer from 1 to 1024"),
    ({"dram_gb_per_s": 1e-300}, "field 'dram_gb_per_s': got 1e-300; allowed: a number from 0.001 to 1e+06"),
    ({"fitted": [["dram_gb_per_s"]]}, "field 'fitted': got [['dram_gb_per_s']]; allowed: a list drawn from"),
    ({"thread_efficiency": 0.95}, "field 'thread_efficiency': got 0.95; allowed: nothing: thread scaling now follows"),
    ({"threads": 5}, "field 'threads': got 5; allowed: 1 to cores (4)"),
    ({"memory_overlap": 1.5}, "field 'memory_overlap': got 1.5; allowed: a number from 0 to 1"),
    ({"winograd_tile": 3}, "field 'winograd_tile': got 3; allowed: 0 (no Winograd), 2 or 4"),
    ({"fitted": ["cores"]}, "field 'fitted': got ['cores']; allowed: a list drawn from dram_gb_per_s"),
    ({"tile_int8": [4, 4]}, "field 'tile_int8': got [4, 4]; allowed: a tile needing at most 32 NEON registers"),
    ({"tile_int16": [2]}, "field 'tile_int16': got [2]; allowed: [mr, nr]"),
    ({"dataflow": "os"}, "field 'dataflow': got 'os'; allowed: known fields are"),
    ({"kind": "gpu"}, "field 'kind': got 'gpu'; allowed: systolic, arm"),
    ({"bits": [1, 8]}, "field 'bits': got [1, 8]"),
])
def test_arm_config_errors(tmp_path, changes, expected):
    path = _write(tmp_path, base="cortex_a53_rpi3b", **changes)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert expected in str(err.value)
