"""The ARM boards against every public measurement: fitted, left out of the fit, and never used.

  python benchmarks/arm_validation.py            print the validation table (markdown) the docs quote
  python benchmarks/arm_validation.py --update   also paste it into docs/guide/arm-boards.md between its markers
  python benchmarks/arm_validation.py --check    exit 1 if that page's copy differs from a fresh run

For each shipped board the calibration CSV's rows are "fit" (the constants were fitted to them, and
the leave-one-out column refits without the row and predicts it), the held-out CSVs' rows were never
used.  The 1-to-4-thread ratios follow each network's pair of rows.  The Pi Zero 2 W (the Pi 3B's
BCM2837 family at 1.0 GHz) is predicted with the Pi 3B config at --clock-mhz 1000: a held-out test of
clock scaling.  Then the speed of `hwsim calibrate` itself (fit + leave-one-out, seconds).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.calibrate import Predictor, fit, leave_one_out, read_measurements  # noqa: E402
from hwsim.config import load_config  # noqa: E402

CONFIGS, MEAS = ROOT / "hwsim" / "hw_configs", ROOT / "hwsim" / "hw_configs" / "measurements"
#: the page that quotes the table (tests/test_calibrate.py checks its copy against a fresh run)
PAGE = ROOT / "docs" / "guide" / "arm-boards.md"
BEGIN = ("<!-- arm-validation:begin (written into docs/guide/arm-boards.md by "
         "`python benchmarks/arm_validation.py --update`; checked by tests) -->")
END = "<!-- arm-validation:end -->"
#: (config, calibration CSV or None, held-out CSVs)
BOARDS = (
    ("cortex_a53_sd410", "ncnn_sd410.csv", ("ncnn_sd410_heldout.csv",)),
    ("cortex_a53_rpi3bplus", "ncnn_rpi3bplus.csv", ("ncnn_rpi3bplus_heldout.csv",)),
    ("cortex_a53_rpi3b", None, ("ncnn_rpizero2w_heldout.csv",)),
)


def _rows(board: str, fit_csv: str | None, held: tuple[str, ...]):
    """(measurement, predicted, leave-one-out prediction or None, role) for one board."""
    hw = load_config(CONFIGS / f"{board}.yaml")
    out = []
    if fit_csv:
        ms = read_measurements(MEAS / fit_csv)
        p = Predictor(hw, ms)
        full = fit(p, list(hw.fitted))
        loo = dict(leave_one_out(p, list(hw.fitted), full))
        pred = p.predict(hw)  # the shipped config's own numbers (equal to the fit's, to its rounding)
        out += [(m, pred[i], loo[i], f"fit ({fit_csv})") for i, m in enumerate(ms)]
    for csv_name in held:
        ms = read_measurements(MEAS / csv_name)
        pred = Predictor(hw, ms).predict(hw)
        out += [(m, pred[i], None, f"held out ({csv_name})") for i, m in enumerate(ms)]
    return out


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def table() -> str:
    """The validation table and the thread-ratio table, as markdown."""
    lines = ["| board | network | threads | clock MHz | measured ms | hwsim ms | error | left out of the fit: hwsim ms (error) | role |",
             "|---|---|---|---|---|---|---|---|---|"]
    ratios = ["| board | network | measured 1T / 4T | hwsim 1T / 4T | error |", "|---|---|---|---|---|"]
    errors = {"fit": [], "held": []}
    for board, fit_csv, held in BOARDS:
        rows = _rows(board, fit_csv, held)
        for m, pred, loo, role in rows:
            err = pred / m.latency_ms - 1
            errors["fit" if role.startswith("fit") else "held"].append(err)
            loo_cell = "" if loo is None else f"{loo:.1f} ({_pct(loo / m.latency_ms - 1)})"
            lines.append(f"| {board} | {m.model} | {m.threads} | {m.clock_mhz:g} | {m.latency_ms:.2f} | {pred:.1f} | "
                         f"{_pct(err)} | {loo_cell} | {role} |")
        by_key = {(m.model, m.clock_mhz, m.threads): (m.latency_ms, pred) for m, pred, _, _ in rows}
        for (model, clock, threads), (meas1, pred1) in by_key.items():
            if threads == 1 and (model, clock, 4) in by_key:
                meas4, pred4 = by_key[(model, clock, 4)]
                r_meas, r_pred = meas1 / meas4, pred1 / pred4
                ratios.append(f"| {board} | {model} @ {clock:g} MHz | {r_meas:.2f}x | {r_pred:.2f}x | "
                              f"{_pct(r_pred / r_meas - 1)} |")
    fit_err, held_err = np.abs(errors["fit"]), np.abs(errors["held"])
    precision = precision_table()
    summary = (f"Fitted figures: worst error {fit_err.max():.1%}, mean {fit_err.mean():.1%} ({len(fit_err)} figures). "
               f"Held-out figures: worst {held_err.max():.1%}, mean {held_err.mean():.1%} ({len(held_err)} figures).")
    return "\n".join(lines) + "\n\n" + "\n".join(ratios) + "\n\n" + summary + "\n\n" + precision


def precision_table(board: str = "cortex_a53_rpi3b") -> str:
    """ResNet-18 and ResNet-50 on the Pi 3B (4 and 1 threads) at every uniform precision, and the speed-ups."""
    from hwsim.arm import kernel_block
    from hwsim.targets import simulate_network
    from hwsim.workload import layers_from_model_name

    hw = load_config(CONFIGS / f"{board}.yaml")
    nets = {m: layers_from_model_name(m) for m in ("resnet18", "resnet50")}
    pairs = [(w, a) for w in (8, 4, 2) for a in (8, 4, 2)]
    ms = {(m, t, p): simulate_network(layers, hw.with_threads(t), p).latency_ms
          for m, layers in nets.items() for t in (4, 1) for p in pairs}
    lines = [f"{board} ({hw.clock_mhz:g} MHz), uniform precision: ms (speed-up over w8a8)", "",
             "| w x a | im2col kernel path | cycles / 256 MAC (one core) | ResNet-18, 4 threads | ResNet-18, 1 thread "
             "| ResNet-50, 4 threads | ResNet-50, 1 thread |", "|---|---|---|---|---|---|---|"]
    for p in sorted(pairs, key=lambda p: -ms[("resnet18", 4, p)]):
        blk = kernel_block(hw, *p)
        cells = [f"{ms[(m, t, p)]:.1f} ({ms[(m, t, (8, 8))] / ms[(m, t, p)]:.2f}x)"
                 for m in nets for t in (4, 1)]
        lines.append(f"| w{p[0]}a{p[1]} | {blk['path']} ({blk['mr']}x{blk['nr']} tile) | "
                     f"{blk['cycles'] * 256 / blk['macs']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def readme_block(readme: str) -> str:
    """The docs page's copy of the table (between the markers); ``readme`` is the text of :data:`PAGE`."""
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"{PAGE.relative_to(ROOT)} lacks the markers {BEGIN!r} ... {END!r}")
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def _calibrate_speed() -> str:
    lines = []
    for board, fit_csv, _ in BOARDS:
        if not fit_csv:
            continue
        hw = load_config(CONFIGS / f"{board}.yaml")
        start = time.perf_counter()
        p = Predictor(hw, read_measurements(MEAS / fit_csv))
        full = fit(p, list(hw.fitted))
        t_fit = time.perf_counter() - start
        leave_one_out(p, list(hw.fitted), full)
        lines.append(f"calibrate {board}: fit {t_fit:.2f} s, fit + leave-one-out {time.perf_counter() - start:.2f} s "
                     f"({len(hw.fitted)} constants, {len(p.measurements)} measurements)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    fresh = table()
    readme_path = PAGE
    if "--check" in argv:
        quoted = readme_block(readme_path.read_text(encoding="utf-8"))
        if quoted != fresh:
            print(f"{PAGE.relative_to(ROOT)}: the ARM validation table differs from a fresh run:\n" + fresh)
            return 1
        print(f"{PAGE.relative_to(ROOT)}: ARM validation table matches")
        return 0
    print(fresh)
    if "--update" in argv:
        readme = readme_path.read_text(encoding="utf-8")
        head, rest = readme.split(BEGIN, 1)
        readme_path.write_text(head + BEGIN + "\n" + fresh + END + rest.split(END, 1)[1], encoding="utf-8")
        print(f"updated {PAGE.relative_to(ROOT)}", file=sys.stderr)
    else:
        print(_calibrate_speed())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
