"""Train the embedded digits model and write the weights the package ships (quant/weights/).

  python scripts/train_digits.py [--seed 0] [--check]

Writes ``quant/weights/digits-resnet-seed<S>.pt`` (the state dict as torch.save writes it) and
``digits-resnet-seed<S>.json`` (its SHA-256, the recipe's key, the test top-1 and the float
environment it was trained in).  ``--check`` trains again and compares with the shipped record
instead of writing (exit 1 when the accuracy moved by more than the tolerance the tests use).
Training runs with hwsim's pinned kernels, so every x86-64 machine trains the same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hwsim.quant  # noqa: E402,F401  (pins the float environment before torch runs)
from hwsim.io import replace_atomic, write_atomic  # noqa: E402
from hwsim.quant.data import digits  # noqa: E402
from hwsim.quant.digits_model import RETRAIN_TOLERANCE, RECIPE, WEIGHTS, accuracy, recipe_key, state_bytes, \
    train_digits_model  # noqa: E402
from hwsim.quant.reproducible import environment  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="retrain and compare with the shipped record")
    args = ap.parse_args(argv)
    data = digits(seed=args.seed)
    model = train_digits_model(data, args.seed, progress=True)
    payload = state_bytes(model)
    top1 = round(100 * accuracy(model, data.test_x, data.test_y), 4)
    name = f"digits-resnet-seed{args.seed}"
    record = {"file": f"{name}.pt", "sha256": hashlib.sha256(payload).hexdigest(), "recipe_key": recipe_key(args.seed),
              "recipe": RECIPE, "seed": args.seed, "test_top1": top1, "environment": environment()}
    if args.check:
        shipped = json.loads((WEIGHTS / f"{name}.json").read_text(encoding="utf-8"))
        same = shipped["sha256"] == record["sha256"]
        moved = abs(shipped["test_top1"] - top1)
        print(f"retrained top-1 {top1:.2f}% vs shipped {shipped['test_top1']:.2f}% ({moved:.2f} points; "
              f"tolerance {RETRAIN_TOLERANCE}); weights {'bit-identical' if same else 'differ'}")
        return 0 if moved <= RETRAIN_TOLERANCE else 1
    WEIGHTS.mkdir(exist_ok=True)

    def write(tmp: Path) -> None:
        tmp.write_bytes(payload)

    replace_atomic(WEIGHTS / record["file"], write, force=True)
    write_atomic(WEIGHTS / f"{name}.json", json.dumps(record, indent=1, sort_keys=True) + "\n", force=True)
    print(f"wrote {WEIGHTS / record['file']} ({len(payload)} bytes, test top-1 {top1:.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
