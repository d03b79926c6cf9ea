"""`hwsim calibrate`: it round-trips the shipped boards, recovers known constants, and refuses bad CSVs."""

import dataclasses

import pytest
import yaml

from hwsim.calibrate import Predictor, fit, read_measurements
from hwsim.config import load_config
from hwsim.cli import main

from conftest import CONFIGS, DATA

MEAS = CONFIGS / "measurements"
TOPO = DATA / "scalesim" / "topo_convs.csv"


@pytest.mark.parametrize("board,csv_name,scale", [
    ("cortex_a53_sd410", "ncnn_sd410.csv", 0.6), ("cortex_a53_sd410", "ncnn_sd410.csv", 1.6),
    ("cortex_a53_rpi3bplus", "ncnn_rpi3bplus.csv", 0.6), ("cortex_a53_rpi3bplus", "ncnn_rpi3bplus.csv", 1.6),
])
def test_round_trip_from_a_perturbed_start(tmp_path, capsys, board, csv_name, scale):
    """Fitting the shipped figures from constants 40% off reproduces the shipped config within 1%."""
    shipped = load_config(CONFIGS / f"{board}.yaml")
    raw = yaml.safe_load((CONFIGS / f"{board}.yaml").read_text())
    for name in shipped.fitted:
        raw[name] = min(raw[name] * scale, 1.0) if name == "memory_overlap" else raw[name] * scale
    start = tmp_path / "start.yaml"
    start.write_text(yaml.safe_dump(raw))
    out = tmp_path / "fitted.yaml"
    assert main(["calibrate", "--hw", str(start), "--measurements", str(MEAS / csv_name), "-o", str(out),
                 "--no-loo"]) == 0
    fitted = load_config(out)
    for name in shipped.fitted:
        assert getattr(fitted, name) == pytest.approx(getattr(shipped, name), rel=0.01), name
    assert fitted.calibration == csv_name


def test_fitted_yaml_tags_every_fitted_constant(tmp_path, capsys):
    out = tmp_path / "fitted.yaml"
    assert main(["calibrate", "--hw", str(CONFIGS / "cortex_a53_rpi3bplus.yaml"), "--measurements",
                 str(MEAS / "ncnn_rpi3bplus.csv"), "-o", str(out), "--name", "my_pi"]) == 0
    report = capsys.readouterr().out
    assert "leave-one-out rms" in report and "held out" in report and report.count("resnet") == 4
    lines = out.read_text().splitlines()
    for name in ("dram_gb_per_s", "core_gb_per_s"):
        i = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
        assert lines[i - 1].startswith("# (F) fitted by hwsim calibrate to ncnn_rpi3bplus.csv"), lines[i - 1]
    assert load_config(out).name == "my_pi"


def test_recovers_known_constants_from_per_layer_measurements(tmp_path):
    """Measurements made by the model itself (per layer and per network, 1 and 4 threads, two clocks) are
    fitted back to the constants that made them."""
    truth = dataclasses.replace(load_config(CONFIGS / "cortex_a53_rpi3b.yaml"), dram_gb_per_s=0.9,
                                core_gb_per_s=0.5, memory_overlap=0.3)
    rows = ["model,layer,threads,clock_mhz,wbits,abits,latency_ms"]
    template = [("resnet18", "", t, c, w, a) for t in (1, 4) for c in (1200, 600) for w, a in ((8, 8), (2, 2))]
    template += [("resnet18", layer, t, 1200, 8, 8) for layer in ("conv1", "layer1.0.conv1", "layer4.1.conv2", "fc")
                 for t in (1, 4)]
    for model, layer, t, c, w, a in template:
        rows.append(f"{model},{layer},{t},{c},{w},{a},1")
    csv_path = tmp_path / "synthetic.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    measurements = read_measurements(csv_path)
    predicted = Predictor(truth, measurements).predict(truth)
    csv_path.write_text("\n".join([rows[0]] + [r.rsplit(",", 1)[0] + f",{p:.9g}" for r, p in
                                               zip(rows[1:], predicted)]) + "\n")
    start = load_config(CONFIGS / "cortex_a53_rpi3b.yaml")
    result = fit(Predictor(start, read_measurements(csv_path)), ["dram_gb_per_s", "core_gb_per_s", "memory_overlap"])
    assert result.values["dram_gb_per_s"] == pytest.approx(0.9, rel=0.01)
    assert result.values["core_gb_per_s"] == pytest.approx(0.5, rel=0.01)
    assert result.values["memory_overlap"] == pytest.approx(0.3, rel=0.01)
    assert max(abs(result.errors)) < 0.001


def test_topology_file_rows_are_read_relative_to_the_csv(tmp_path, capsys):
    (tmp_path / "net.csv").write_text(TOPO.read_text())
    (tmp_path / "m.csv").write_text("model,threads,clock_mhz,wbits,abits,latency_ms\nnet.csv,4,1200,8,8,5\n"
                                    "net.csv,1,1200,8,8,15\n")
    assert main(["calibrate", "--hw", str(CONFIGS / "cortex_a53_rpi3b.yaml"), "--measurements",
                 str(tmp_path / "m.csv"), "--fit", "core_gb_per_s"]) == 0
    assert "net.csv" in capsys.readouterr().out


GOOD = "model,threads,clock_mhz,wbits,abits,latency_ms\nresnet18,4,1200,8,8,100\n"


@pytest.mark.parametrize("text,expected", [
    ("model,threads,clock_mhz,wbits,latency_ms\nresnet18,4,1200,8,100\n", "missing column(s) abits"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms,board\nresnet18,4,1200,8,8,100,pi\n", "unknown column(s) board"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms\nresnet19,4,1200,8,8,100\n", "unknown model 'resnet19'"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms\nresnet18,4,1200,8,8,0\n", "latency_ms '0'; allowed: a number from 1e-06 to 1e+09"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms\nresnet18,4,1200,8,8,-3\n", "latency_ms '-3'; allowed: a number from 1e-06"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms\nresnet18,4,1200,8,8,fast\n", "latency_ms 'fast'; allowed: a number"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms\nresnet18,8,1200,8,8,100\n", "8 threads, but cortex_a53_rpi3b has 4"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms\nresnet18,4,1200,3,8,100\n", "wbits 3; allowed: 2, 4, 8"),
    ("model,threads,clock_mhz,wbits,abits,latency_ms\n", "no measurements"),
    ("", "missing column(s) model"),
    ("model,layer,threads,clock_mhz,wbits,abits,latency_ms\nresnet18,conv9,4,1200,8,8,1\n", "no layer 'conv9'"),
])
def test_bad_measurements_one_line_exit_2(tmp_path, capsys, text, expected):
    path = tmp_path / "m.csv"
    path.write_text(text)
    out = tmp_path / "fitted.yaml"
    code = main(["calibrate", "--hw", str(CONFIGS / "cortex_a53_rpi3b.yaml"), "--measurements", str(path),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hwsim: error:") and expected in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("args,expected", [
    (["--hw", str(CONFIGS / "bitfusion_16x32.yaml")], "calibrate fits ARM configs"),
    (["--hw", str(CONFIGS / "cortex_a53_rpi3b.yaml"), "--fit", "cores"], "--fit cores: not a fittable constant"),
])
def test_bad_arguments_one_line_exit_2(tmp_path, capsys, args, expected):
    path = tmp_path / "m.csv"
    path.write_text(GOOD)
    assert main(["calibrate", "--measurements", str(path)] + args) == 2
    assert expected in capsys.readouterr().err


def test_readme_quotes_a_fresh_validation_table():
    import importlib.util

    script = CONFIGS.parents[1] / "benchmarks" / "arm_validation.py"  # CONFIGS is hwsim/hw_configs
    spec = importlib.util.spec_from_file_location("arm_validation", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    readme = bench.PAGE.read_text(encoding="utf-8")  # docs/guide/arm-boards.md quotes the table
    assert bench.readme_block(readme) == bench.table(), "run: python benchmarks/arm_validation.py --update"


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.3, 8.0), st.floats(0.2, 8.0), st.floats(0.0, 1.0), st.sets(st.integers(0, 3), min_size=2))
def test_a_fit_never_ends_worse_than_it_starts(dram, core, overlap, rows):
    """Whatever the starting constants and whichever measurements: the fitted cost is at most the start's."""
    import numpy as np

    start = dataclasses.replace(load_config(CONFIGS / "cortex_a53_sd410.yaml"), dram_gb_per_s=dram,
                                core_gb_per_s=core, memory_overlap=overlap)
    p = Predictor(start, read_measurements(MEAS / "ncnn_sd410.csv"))
    idx = sorted(rows)
    measured = np.array([p.measurements[i].latency_ms for i in idx])
    cost = lambda hw: float(np.sum(np.log(p.predict(hw, idx) / measured) ** 2))  # noqa: E731
    result = fit(p, ["dram_gb_per_s", "core_gb_per_s", "memory_overlap"], idx)
    assert cost(result.config) <= cost(start) + 1e-9
    assert np.all(np.isfinite(result.predicted)) and np.all(result.predicted > 0)
