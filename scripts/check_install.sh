#!/usr/bin/env bash
# The package as a user gets it: build a wheel, install it (not editable) into a fresh venv outside the checkout,
# then, from an empty folder, run the CLI with the shipped configs and examples by name, the Python API and a short
# pipeline.  `make check-install` runs this; CI runs it through `make test`.
#
#   scripts/check_install.sh [PYTHON]     (default python3)
set -euo pipefail
PYTHON=${1:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hwsim-install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say() { echo "check-install: [${SECONDS} s] $*" >&2; }

say "a fresh venv"
# uv: the checkout's (make install puts it there), else one installed into a throwaway venv; its cache is the one
# `make install` filled, so the dependencies come from it, not the network
UV="$REPO/.venv/bin/uv"
if [ ! -x "$UV" ]; then
    "$PYTHON" -m venv "$WORK/uv" && "$WORK/uv/bin/pip" install --quiet uv && UV="$WORK/uv/bin/uv"
fi
"$UV" venv --quiet --seed --python "$PYTHON" "$WORK/venv"  # --seed: with pip, which installs torch below
say "building the wheel"
"$UV" build --quiet --wheel --out-dir "$WORK/dist" "$REPO"  # in an isolated build environment
WHEEL=$(ls "$WORK"/dist/hwsim-*.whl)
say "built $(basename "$WHEEL")"
# no top-level package but hwsim; the configs, examples, zoo layers and shipped weights inside it
"$PYTHON" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
assert tops == {"hwsim"}, f"top-level entries besides hwsim: {tops}"
for needed in ("hwsim/py.typed", "hwsim/hw_configs/bitfusion_16x32.yaml", "hwsim/examples/sweep_bitfusion.yaml",
               "hwsim/zoo_layers/resnet50.json", "hwsim/quant/weights/digits-resnet-seed0.pt",
               "hwsim/hw_configs/measurements/ncnn_sd410.csv"):
    assert needed in names, f"the wheel lacks {needed}"
EOF

say "installing it into the fresh venv"
# torch with pip (the CPU wheel, as in the Makefile), without .pyc files: only two of the commands below import it,
# and compiling torch's modules costs more than they lose; the wheel and the rest with uv
"$WORK/venv/bin/pip" install --quiet --no-compile "torch==2.13.*"
"$UV" pip install --python "$WORK/venv/bin/python" --quiet --compile-bytecode "$WHEEL"

mkdir "$WORK/user" && cd "$WORK/user"
export HWSIM_CACHE_DIR="$WORK/cache"
# The compiled simulator: the checkout's numba folder, named by a digest of these very sources (identical in the
# wheel; hwsim/systolic/_numba_cache.py). Beside `make compile` (make test) the first simulation waits for that
# compile and loads it instead of compiling for two minutes on its own; sources that differ get their own folder.
export NUMBA_CACHE_DIR="$REPO/hwsim/systolic/__pycache__"
HWSIM="$WORK/venv/bin/hwsim"
say "running from $PWD"
"$HWSIM" --version
say "simulate, lut, sweep"
"$HWSIM" simulate --hw bitfusion_16x32 --model resnet18 --format csv > sim.csv
"$HWSIM" lut --hw cortex_a53_rpi3b --model mobilenet_v2 -o lut.json --quiet
"$HWSIM" sweep sweep_bitfusion --samples 4 --jobs 2 -o sweep --quiet
say "codesign"
# first_order sensitivities: seconds instead of minutes (the BRECQ sensitivities are tested in the suite)
"$HWSIM" codesign --hw-space codesign_space --area-mm2 2.6 --latency-ms 0.0065 --outer nsga2 --population 4 \
    --generations 1 --iters 20 --sensitivity-method first_order --no-validate --out codesign --quiet
say "pipeline"
# the default targets (the shipped configs, resolved from the installed package), two choices: one gap on each
"$HWSIM" pipeline --out pipeline --iters 10 --gaps 1 --choices w4a8,w8a8 --sensitivity-method first_order --quiet
test -s pipeline/summary.md && test -s sweep/sweep.parquet && test -s codesign/codesign.json
say "python api"
"$WORK/venv/bin/python" - <<'EOF'
import sys
import hwsim
assert "torch" not in sys.modules
assert hwsim.__file__.startswith(sys.prefix), hwsim.__file__  # the installed copy, not a checkout
r = hwsim.simulate("resnet18", "bitfusion_16x32", "w4a4")
assert r.latency_ms > 0 and len(r.layers) == 21, (r.latency_ms, len(r.layers))
print(f"python api: resnet18 w4a4 on bitfusion_16x32 {r.latency_ms:.4f} ms")
EOF
say "ok: the installed package runs the CLI, the shipped configs and examples by name, the API and the pipeline"
