# Two commands on a fresh machine: `make demo` (install + main job) and `make test` (install + everything CI checks).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast pytest compile lint typecheck docs check-install install bench clean readme-demo fuzz boards

# torch first, with pip, as the CPU wheel (a bare `torch` requirement would pull a multi-GB CUDA build; pip's
# configuration on the machine names where it lies), its .pyc files written by compileall on both cores; the rest
# with uv, which downloads in parallel and compiles the .pyc files on every core (pip took 92 s for the same set
# in clean-clone runs, uv 23 s).  .pyc files matter here: Python may not write them itself
# (PYTHONDONTWRITEBYTECODE), and then every process would compile torch's modules again (import 4.5 s, not 2.3 s).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(PY) -m pip install --quiet --no-compile "torch==2.13.*"
	$(PY) -m compileall -q -j 0 -x py312_intrinsics $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/torch
	$(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode -e ".[dev,ray,docs,onnx]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hwsim pipeline --out out/demo
	-$(PY) scripts/readme_demo.py --check out/demo/summary.md

# Paste out/demo/summary.md into the README (after `make demo`); tests/test_readme_demo.py checks it.
readme-demo: $(STAMP)
	$(PY) scripts/readme_demo.py --update out/demo/summary.md

# Refit the shipped ARM boards to the public measurements in hwsim/hw_configs/measurements/ (hwsim calibrate),
# share the core's constants with the Pi 3B+, derive the Pi 3B from the Pi 3B+, and print the validation table the README quotes.
boards: $(STAMP)
	$(VENV)/bin/hwsim calibrate --hw hwsim/hw_configs/cortex_a53_sd410.yaml --measurements hwsim/hw_configs/measurements/ncnn_sd410.csv -o hwsim/hw_configs/cortex_a53_sd410.yaml
	$(PY) scripts/boards.py share
	$(VENV)/bin/hwsim calibrate --hw hwsim/hw_configs/cortex_a53_rpi3bplus.yaml --measurements hwsim/hw_configs/measurements/ncnn_rpi3bplus.csv -o hwsim/hw_configs/cortex_a53_rpi3bplus.yaml
	$(PY) scripts/boards.py derive
	$(PY) benchmarks/arm_validation.py

# What CI runs (.ci/run): lint, the public API's types, the docs site, the whole test suite (Ray cluster, pipelines,
# the README demo) on both cores, and the package installed from its wheel outside the checkout.  Two steps, each
# keeping both cores busy: first the one-core jobs side by side (the simulator's compile, which the wheel check and
# then the test workers load instead of compiling it again; the wheel check; lint, types, docs), then the suite.
# (The wheel check beside the suite instead: 16 min 54 s against 16 min 24 s, since it slowed the demo's run, the
# suite's longest job.)
test: $(STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target compile check-install lint typecheck docs
	$(MAKE) --no-print-directory pytest

# Two pytest-xdist workers; the tests that read the demo's run go first (conftest.py), and the run is shared
# (conftest.demo_run).
XDIST := -n 2

# The inner loop: everything but the tests marked slow (whole pipelines, the Ray cluster, training runs,
# reconstructions).
test-fast: $(STAMP)
	$(PY) -m pytest -q $(XDIST) -m "not slow"

pytest: $(STAMP)
	$(PY) -m pytest -q $(XDIST) --durations=20

# The simulator's numba code compiled into its disk cache ahead of the first run (hwsim/precompile.py).
compile: $(STAMP)
	$(PY) -m hwsim.precompile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# mypy on the public API's modules (the list is in pyproject.toml, [tool.mypy])
typecheck: $(STAMP)
	$(VENV)/bin/mypy

# A wheel, installed into a fresh venv, run from an empty folder (scripts/check_install.sh).
check-install:
	scripts/check_install.sh $(PYTHON)

# The documentation site (mkdocs.yml: the pages in docs/ and the API reference from the docstrings) into site/;
# --strict: any warning (a broken link or anchor, a docstring mkdocstrings cannot read) fails the build.
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --quiet

# The CLI fuzz tests with 10x the CI examples (20,000 generated cases, a few minutes).
fuzz: $(STAMP)
	HWSIM_FUZZ_EXAMPLES=4000 $(PY) -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

bench: $(STAMP)
	$(PY) benchmarks/bench_vs_scalesim.py
	$(PY) benchmarks/bench_lut.py
	$(PY) benchmarks/search_quality.py
	$(PY) benchmarks/bench_brecq_digits.py
	$(PY) benchmarks/bench_sensitivity.py
	$(PY) benchmarks/precision_table.py
	$(PY) benchmarks/buffer_sweep.py
	$(PY) benchmarks/memory_energy.py
	$(PY) benchmarks/monotonic_sweep.py
	$(PY) benchmarks/arm_validation.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_codesign.py
	$(PY) benchmarks/compare_methods.py
	$(PY) benchmarks/bench_pinned_kernels.py
	$(PY) benchmarks/bench_rates.py
	$(PY) benchmarks/bench_transformer.py

clean:
	rm -rf $(VENV) .cache build *.egg-info
