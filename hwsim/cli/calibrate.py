"""``hwsim calibrate``: fit an ARM board's free constants to the user's own latency measurements."""

from __future__ import annotations

from .common import add_common, check_output_file, note


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("calibrate", help="fit an ARM board config to measured latencies (least squares)",
                       description="Fit the free constants of an ARM config (kind: arm) to a CSV of measured "
                                   "latencies (columns model, threads, clock_mhz, wbits, abits, latency_ms; "
                                   "optional layer, input_size, source), print the fit and a leave-one-out "
                                   "table, and write the fitted config.")
    p.add_argument("--hw", required=True, metavar="BASE.yaml", help="the ARM config to start from")
    p.add_argument("--measurements", required=True, metavar="FILE.csv", help="measured latencies")
    p.add_argument("--fit", metavar="LIST",
                   help="comma-separated constants to fit (default: the config's 'fitted' list)")
    p.add_argument("--name", help="name of the fitted config (default: the base's)")
    p.add_argument("--no-loo", action="store_true", help="skip the leave-one-out table")
    p.add_argument("-o", "--output", metavar="FITTED.yaml", help="write the fitted config (atomically)")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at the output path")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Fit, print the report on stdout, write the config."""
    import re
    import sys
    from pathlib import Path

    from hwsim.calibrate import Predictor, fit, fitted_yaml, leave_one_out, read_measurements, report
    import yaml

    from hwsim.config import ARM_FIT_BOUNDS, ArmConfig, config_from_dict, load_config
    from hwsim.errors import HwsimError
    from hwsim.io import read_text, write_atomic

    check_output_file(args)
    base = load_config(args.hw)
    if not isinstance(base, ArmConfig):
        raise HwsimError(f"{args.hw}: calibrate fits ARM configs (kind: arm); this one is of kind {base.kind!r}")
    if args.fit is not None:
        names = [n.strip() for n in args.fit.split(",") if n.strip()]
        if not names or len(set(names)) != len(names):
            raise HwsimError(f"--fit {args.fit[:80]!r}: allowed: distinct names from {', '.join(ARM_FIT_BOUNDS)}, "
                             f"comma-separated")
    else:
        names = list(base.fitted)
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", args.name):
        raise HwsimError(f"--name {args.name[:80]!r}: allowed: 1 to 64 letters, digits and _ . + -")
    if not names:
        raise HwsimError(f"{args.hw}: nothing to fit: the config has no 'fitted' list; allowed: --fit with names "
                         f"from {', '.join(ARM_FIT_BOUNDS)}")
    bad = [n for n in names if n not in ARM_FIT_BOUNDS]
    if bad:
        raise HwsimError(f"--fit {', '.join(bad)}: not a fittable constant; allowed: {', '.join(ARM_FIT_BOUNDS)}")
    measurements = read_measurements(args.measurements)
    predictor = Predictor(base, measurements)
    full = fit(predictor, names)
    loo = None if args.no_loo or len(measurements) < 2 else leave_one_out(predictor, names, full)
    sys.stdout.write(report(predictor, names, full, loo))
    if args.output:
        text = fitted_yaml(read_text(args.hw, "hardware config"), full, names, Path(args.measurements).name, args.name)
        config_from_dict(yaml.safe_load(text), str(args.output))  # what will be written loads back
        written = write_atomic(args.output, text, args.force)
        note(f"wrote {written} ({len(names)} constants fitted to {len(measurements)} measurements)")
    return 0
