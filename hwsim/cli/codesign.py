"""``hwsim codesign``: search hardware parameters and per-layer bits together under area/energy and latency budgets."""

from __future__ import annotations

from .common import (POLICIES, add_common, add_trust_checkpoint, add_sensitivity_method, check_output_folder, note, int_in, jobs_int, positive_float, progress,
                     seed_int, sensitivity_options)


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("codesign", help="search hardware and per-layer bits together (nested: chips x exact bits)",
                       description="For every chip of a hardware space (a sweep spec's base and axes) within the "
                                   "area budget, find the best per-layer bits under the latency budget (exact "
                                   "solver, the model's sensitivities); report the best (chip, bits) pairs against "
                                   "the same search on the space's base chip, and validate the best by block "
                                   "reconstruction, integer execution and re-simulation.")
    p.add_argument("--hw-space", required=True, metavar="SPEC.yaml", help="base config and axes (a sweep spec "
                                                                          "without models and precisions), or a shipped example by name "
                                                                          "(codesign_space)")
    p.add_argument("--latency-ms", type=positive_float, required=True, help="latency budget (ms, whole network)")
    p.add_argument("--area-mm2", type=positive_float, help="area budget (mm2, PE array and buffers)")
    p.add_argument("--energy-uj", type=positive_float, help="energy budget of one inference (uJ): a constraint of each chip's "
                                                   "bit search, checked again on the whole network")
    p.add_argument("--outer", choices=("all", "nsga2"), default="all",
                   help="which chips get the bit search: all (every chip of the space, or its sample, within the "
                        "area budget; default) or nsga2 (NSGA-II over the axes, for spaces too large to enumerate)")
    p.add_argument("--population", type=int_in(2, 10_000), default=24, help="NSGA-II population (default 24)")
    p.add_argument("--generations", type=int_in(1, 100_000), default=10, help="NSGA-II generations (default 10)")
    p.add_argument("--model", default="digits-resnet")
    p.add_argument("--checkpoint", metavar="FILE")
    add_trust_checkpoint(p)
    p.add_argument("--data", metavar="DIR")
    p.add_argument("--sensitivity", metavar="FILE", help="a hwsim sensitivity JSON (default: measured and cached)")
    add_sensitivity_method(p, "--sensitivity-method")
    p.add_argument("--iters", type=int_in(1, 1_000_000), default=200, help="reconstruction iterations per unit (default 200)")
    p.add_argument("--policy", choices=POLICIES, default="first-last-8bit")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--jobs", type=jobs_int, help="processes building the chips' tables (default: all cores)")
    p.add_argument("--top", type=int_in(1, 10_000), default=10, help="rows of the printed ranking (default 10)")
    p.add_argument("--no-validate", action="store_true", help="skip quantizing and integer-checking the best pair")
    p.add_argument("--out", default="out/codesign", metavar="DIR")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at DIR")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Search, print the ranking and the baseline, say where the files are."""
    import os

    from hwsim.codesign.joint import JointConfig, run_joint

    check_output_folder(args.out, args.force)
    cfg = JointConfig(space=args.hw_space, latency_ms=args.latency_ms, area_mm2=args.area_mm2,
                      energy_uj=args.energy_uj, model=args.model, checkpoint=args.checkpoint,
                      trust_checkpoint=args.trust_checkpoint, data=args.data,
                      sensitivity=args.sensitivity, iters=args.iters, seed=args.seed,
                      jobs=args.jobs or os.cpu_count() or 1, validate=not args.no_validate, out=args.out,
                      policy=args.policy, outer=args.outer, population=args.population,
                      generations=args.generations, sensitivity_method=args.sensitivity_method,
                      sensitivity_options=tuple(sorted(sensitivity_options(args).items())))
    doc = run_joint(cfg, progress=progress(args))
    axes = list(doc["best"]["values"])
    print(f"{doc['feasible']} of {doc['points']} chips meet the budgets (latency {doc['latency_ms']:g} ms"
          + (f", area {doc['area_mm2']:g} mm2" if doc["area_mm2"] else "")
          + (f", energy {doc['energy_uj']:g} uJ" if doc["energy_uj"] else "")
          + f"; {doc['searched']} searched by {doc['outer']}); best first (*: on the Pareto front of predicted loss, area and energy):")
    print("  ".join(["rank"] + axes + ["area_mm2", "simulated_ms", "energy_uj", "predicted_loss"]))
    for rank, c in enumerate([c for c in doc["candidates"] if c["feasible"]][:args.top], start=1):
        print("  ".join([f"{rank}{'*' if c['pareto'] else ''}"] + [str(c["values"][a]) for a in axes]
                        + [f"{c['area_mm2']:.3f}", f"{c['simulated_ms']:.4g}", _num(c["energy_uj"]),
                           f"{c['predicted_loss']:.4g}"]))
    base, best = doc["baseline"], doc["best"]
    if base["feasible"]:
        print(f"fixed hardware ({base['hardware']}, {base['area_mm2']:.3f} mm2): predicted loss "
              f"{base['predicted_loss']:.4g} at {base['simulated_ms']:.4g} ms")
    else:
        print(f"fixed hardware ({base['hardware']}, {base['area_mm2']:.3f} mm2): no bits meet the budgets "
              f"({base['reason']})")
    for name, rec in (("best pair", best), ("fixed hardware", base)):
        if "accuracy" in rec:
            print(f"validated {name}: top-1 {rec['accuracy']:.2f}%, integer check "
                  f"{'pass' if rec['integer']['passed'] else 'FAIL'} "
                  f"({100 * rec['integer']['top1_agreement']:.2f}% agree), re-simulated {rec['simulated_ms']:.4g} ms")
    note(f"wrote {args.out}/codesign.json, best_hw.yaml, best_bits.yaml ({doc['seconds']:.0f} s)")
    return 0


def _num(v) -> str:
    return "-" if v is None else f"{v:.4g}"
