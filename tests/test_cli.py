"""The hwsim CLI: formats, per-layer bits, atomic output, and exit code 2 with one message on bad input."""

import json
import os
import subprocess
import sys

import pytest

from hwsim.cli import main

from conftest import CONFIGS, DATA

HW = str(CONFIGS / "bitfusion_16x32.yaml")
TOPO = str(DATA / "scalesim" / "topo_convs.csv")


def test_table_by_default(capsys):
    assert main(["simulate", "--hw", HW, "--topology", TOPO]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    totals = [i for i, line in enumerate(lines) if line.startswith("total")]
    assert "conv7x7s2" in out and len(totals) == 1
    assert all(line.startswith("*") for line in lines[totals[0] + 1:])  # only the notes' footnotes follow


def test_json_records(capsys):
    assert main(["simulate", "--hw", HW, "--model", "resnet18", "--wbits", "4", "--abits", "8", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["layers"]) == 21
    for rec in doc["layers"] + [doc["total"]]:
        for key in ("name", "total_cycles", "compute_cycles", "stall_cycles", "utilization", "latency_ms"):
            assert key in rec
    assert doc["total"]["name"] == "total"
    assert doc["total"]["total_cycles"] == sum(r["total_cycles"] for r in doc["layers"])
    assert {(r["wbits"], r["abits"]) for r in doc["layers"]} == {(4, 8)}


def test_bits_file_and_atomic_output(tmp_path, capsys):
    bits = tmp_path / "bits.yaml"
    bits.write_text("default: w4a8\nconv1x1: w2a2\n")
    out = tmp_path / "sub" / "r.csv"
    assert main(["simulate", "--hw", HW, "--topology", TOPO, "--bits", str(bits), "--format", "csv", "-o", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("name,wbits,abits")
    assert any(r.startswith("conv1x1,2,2") for r in rows) and any(r.startswith("conv3x3,4,8") for r in rows)
    assert rows[-1].startswith("total")
    assert os.listdir(out.parent) == ["r.csv"]  # no temporary file left behind


def test_arm_target_same_shape(capsys):
    arm = str(CONFIGS / "cortex_a53_rpi3b.yaml")
    assert main(["simulate", "--hw", arm, "--model", "mobilenet_v2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"]["total_cycles"] == sum(r["total_cycles"] for r in doc["layers"])
    assert sum(1 for r in doc["layers"] if r["note"]) == 17  # depthwise layers: fallback, marked
    assert main(["simulate", "--hw", arm, "--model", "resnet18", "--dataflow", "ws"]) == 2
    assert "--dataflow applies to systolic arrays" in capsys.readouterr().err


def test_whole_network_mode_uses_consumer_bits(tmp_path, capsys):
    bits = tmp_path / "bits.yaml"
    bits.write_text("default: w8a8\nconv3x3: w8a2\n")  # conv7x7s2 feeds conv3x3: its outputs become 2-bit
    args = ["simulate", "--hw", HW, "--topology", TOPO, "--bits", str(bits), "--format", "json"]
    assert main(args) == 0
    per_layer = json.loads(capsys.readouterr().out)["layers"][0]
    assert main(args + ["--whole-network"]) == 0
    whole = json.loads(capsys.readouterr().out)["layers"][0]
    assert whole["dram_write_bytes"] * 4 == pytest.approx(per_layer["dram_write_bytes"], rel=0.01)


def test_scalesim_cfg_as_hw(capsys):
    assert main(["simulate", "--hw", str(DATA / "scalesim" / "os_8x8.cfg"), "--topology", TOPO, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"][0]["total_cycles"] == 7083  # SCALE-Sim's own number for this layer


@pytest.mark.parametrize("args,message", [
    (["--hw", "missing.yaml", "--model", "resnet18"], "missing.yaml: hardware config file not found"),
    (["--hw", HW, "--model", "vgg99"], "unknown model 'vgg99'; allowed:"),
    (["--hw", HW, "--model", "resnet18", "--wbits", "3"], "weight bit-width 3 is not supported by bitfusion_16x32; allowed: 2, 4, 8"),
    (["--hw", str(DATA / "scalesim" / "os_8x8.cfg"), "--topology", TOPO, "--wbits", "4"], "allowed: 8"),
    (["--hw", HW, "--topology", "nope.csv"], "nope.csv: topology file not found"),
])
def test_bad_input_exits_2_with_one_message(capsys, args, message):
    assert main(["simulate"] + args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_bits_file(tmp_path, capsys):
    bits = tmp_path / "b.yaml"
    bits.write_text("conv1x1: w4a8\nconv99: w2a2\n")
    assert main(["simulate", "--hw", HW, "--topology", TOPO, "--bits", str(bits)]) == 2
    assert "unknown layer 'conv99'" in capsys.readouterr().err
    bits.write_text("conv1x1: w4a8\n")
    assert main(["simulate", "--hw", HW, "--topology", TOPO, "--bits", str(bits)]) == 2
    assert "has no bits and there is no 'default' entry" in capsys.readouterr().err


def test_bad_config_from_a_real_process(tmp_path):
    cfg = tmp_path / "hw.yaml"
    cfg.write_text((CONFIGS / "bitfusion_16x32.yaml").read_text().replace("dataflow: os", "dataflow: diagonal"))
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "hwsim", "simulate", "--hw", str(cfg), "--topology", TOPO,
                           "--format", "json", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"hwsim: error: {cfg}: field 'dataflow': got 'diagonal'; "
                                   "allowed: one of os, ws, is")
    assert not out.exists()


def test_arm_threads_and_clock_options(capsys, tmp_path):
    arm = str(CONFIGS / "cortex_a53_rpi3b.yaml")
    totals = {}
    for extra in ([], ["--threads", "1"], ["--clock-mhz", "600"]):
        assert main(["simulate", "--hw", arm, "--model", "resnet18", "--format", "json"] + extra) == 0
        doc = json.loads(capsys.readouterr().out)
        totals[tuple(extra)] = (doc["hardware"], doc["total"]["latency_ms"])
    assert totals[()][0] == "cortex_a53_rpi3b" and totals[("--threads", "1")][0] == "cortex_a53_rpi3b_1t"
    assert totals[("--threads", "1")][1] > 1.5 * totals[()][1]
    assert totals[()][1] < totals[("--clock-mhz", "600")][1] < 2 * totals[()][1]
    out = tmp_path / "lut.json"
    assert main(["lut", "--hw", arm, "--topology", TOPO, "--threads", "2", "--quiet", "-o", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    assert json.loads(out.read_text())["hardware"]["name"] == "cortex_a53_rpi3b_2t"
    for args, expected in ((["--threads", "5"], "threads 5: cortex_a53_rpi3b has 4 cores; allowed: 1 to 4"),
                           (["--threads", "0"], "argument --threads: expected an integer from 1 to 1,024"),
                           (["--clock-mhz", "fast"], "argument --clock-mhz: expected a number above 0")):
        assert main(["simulate", "--hw", arm, "--model", "resnet18"] + args) == 2
        assert expected in capsys.readouterr().err
    assert main(["simulate", "--hw", HW, "--model", "resnet18", "--threads", "2"]) == 2
    assert "apply to ARM targets" in capsys.readouterr().err
