"""Fuzzing the command line: generated (valid and mutated) hardware configs, topology CSVs, bits files, problem
files and argument vectors.  Every call must exit with 0 or 2, print no traceback, finish within a bound, and
write nothing when it fails.

``HWSIM_FUZZ_EXAMPLES`` sets the examples per test (CI: 400 x 5 tests = 2,000 cases); ``make fuzz`` runs 10x more.
"""

import contextlib
import io
import json
import os
import signal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.cli import main

from conftest import CONFIGS, DATA, EXAMPLE_PROBLEM

EXAMPLES = int(os.environ.get("HWSIM_FUZZ_EXAMPLES", "400"))
CALL_SECONDS = 20  # a call that runs longer is a hang
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
TOPO = str(DATA / "scalesim" / "topo_convs.csv")
HW = str(CONFIGS / "bitfusion_16x32.yaml")
SYSTOLIC = yaml.safe_load((CONFIGS / "bitfusion_16x32.yaml").read_text())
ARM = yaml.safe_load((CONFIGS / "cortex_a53_rpi3b.yaml").read_text())
LAYERS = ["conv7x7s2", "conv3x3", "conv1x1", "dw3x3DP", "fc"]


class _Hang(BaseException):  # not an Exception: the CLI's catch-all must not swallow it
    pass


def call(argv: list[str], out: Path | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process under the contract: (code, stdout, stderr), asserting what must hold."""
    stdout, stderr = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(CALL_SECONDS)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(argv)
            except SystemExit as exc:  # --help / --version
                code = exc.code or 0
    except _Hang:
        pytest.fail(f"hang: {argv} ran longer than {CALL_SECONDS} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = stderr.getvalue()
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert err.rstrip().splitlines()[-1].startswith("hwsim: error: "), (argv, err)
        if out is not None:
            assert not out.exists(), (argv, "wrote an output although it failed")
    return code, stdout.getvalue(), err


# -- values that a mutation puts anywhere ---------------------------------------------------------------------------
junk = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12), st.floats(allow_nan=True),
                 st.text(max_size=12), st.lists(st.integers(-3, 9), max_size=4), st.just("unlimited"),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def mutate(doc: dict, draw) -> dict:
    """A copy of ``doc`` with a few keys dropped, replaced by junk, or added."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(0, 3))):
        keys = list(doc)
        op = draw(st.sampled_from(["drop", "junk", "add", "nested"]))
        if op == "drop" and keys:
            doc.pop(draw(st.sampled_from(keys)))
        elif op == "junk" and keys:
            doc[draw(st.sampled_from(keys))] = draw(junk)
        elif op == "add":
            doc[draw(st.text(min_size=1, max_size=8))] = draw(junk)
        elif op == "nested":
            nested = [k for k in keys if isinstance(doc[k], dict) and doc[k]]
            if nested:
                k = draw(st.sampled_from(nested))
                doc[k][draw(st.sampled_from(list(doc[k])))] = draw(junk)
    return doc


@st.composite
def config_files(draw):
    """(suffix, bytes): a valid or mutated YAML config, a SCALE-Sim .cfg, or raw bytes."""
    kind = draw(st.sampled_from(["systolic", "arm", "cfg", "bytes", "text"]))
    if kind in ("systolic", "arm"):
        doc = mutate(SYSTOLIC if kind == "systolic" else ARM, draw)
        return ".yaml", yaml.safe_dump(doc).encode()
    if kind == "cfg":
        fields = {"ArrayHeight": draw(st.sampled_from(["8", "0", "-1", "x", "16"])),
                  "ArrayWidth": draw(st.sampled_from(["8", "32", "1e9", ""])),
                  "IfmapSramSzkB": "64", "FilterSramSzkB": "64", "OfmapSramSzkB": "64",
                  "Dataflow": draw(st.sampled_from(["os", "ws", "is", "xx"]))}
        if draw(st.booleans()):
            fields.pop(draw(st.sampled_from(sorted(fields))))
        body = "[architecture_presets]\n" + "".join(f"{k} : {v}\n" for k, v in fields.items())
        return ".cfg", body.encode()
    if kind == "bytes":
        return draw(st.sampled_from([".yaml", ".cfg", ".yml"])), draw(st.binary(max_size=200))
    return ".yaml", draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")


def _size():
    return st.one_of(st.integers(1, 64), st.integers(-2, 0), st.integers(10 ** 9, 10 ** 13))


@st.composite
def topology_files(draw):
    """A topology CSV: conv or GEMM rows, with wrong counts, junk cells, duplicates and huge sizes mixed in."""
    rows = ["Layer, a, b, c, d, e, f, g,"]
    gemm = draw(st.booleans())
    for i in range(draw(st.integers(0, 4))):
        n = 3 if gemm else 7
        n += draw(st.sampled_from([0, 0, 0, -1, 1, 2]))
        cells = [str(draw(_size())) for _ in range(max(n, 0))]
        if draw(st.integers(0, 9)) == 0 and cells:
            cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(["x", "1.5", "", "2:4", "-"]))
        name = draw(st.sampled_from(LAYERS + ["", "dupe", "dupe", f"l{i}"]))
        rows.append(", ".join([name] + cells) + draw(st.sampled_from([",", "", ",,"])))
    return ("\n".join(rows) + "\n").encode()


@st.composite
def bits_files(draw):
    """(suffix, bytes): a per-layer bits mapping, valid or not."""
    label = st.one_of(st.sampled_from(["w2a2", "w4a8", "w8a8", "w3a8", "w8", "", "W4A4"]), junk)
    doc = {draw(st.sampled_from(LAYERS + ["default", "nope", ""])): draw(label) for _ in range(draw(st.integers(0, 6)))}
    if draw(st.booleans()):
        doc["default"] = draw(st.sampled_from(["w4a4", "w2a2", [8, 8], {"w": 4, "a": 8}, "w5a5"]))
    suffix = draw(st.sampled_from([".yaml", ".json"]))
    text = json.dumps(doc) if suffix == ".json" else yaml.safe_dump(doc)
    if draw(st.integers(0, 9)) == 0:
        text = text[:draw(st.integers(0, len(text)))]  # truncated
    return suffix, text.encode()


PROBLEM = EXAMPLE_PROBLEM


@st.composite
def problem_files(draw):
    """A problem file: the valid one, mutated at the top, in a layer or in a pair, or not JSON at all."""
    doc = mutate(PROBLEM, draw)
    if draw(st.booleans()) and isinstance(doc.get("layers"), list) and doc["layers"]:
        doc["layers"][0] = mutate(doc["layers"][0], draw) if isinstance(doc["layers"][0], dict) else draw(junk)
    if draw(st.booleans()) and isinstance(doc.get("pairs"), list) and doc["pairs"]:
        doc["pairs"][0] = mutate(doc["pairs"][0], draw) if isinstance(doc["pairs"][0], dict) else draw(junk)
    text = json.dumps(doc, allow_nan=True)
    if draw(st.integers(0, 9)) == 0:
        text = text[:draw(st.integers(0, len(text)))]
    return text.encode()


@pytest.mark.slow
@FUZZ
@given(config_files())
def test_fuzz_hardware_configs(tmp_path_factory, file):
    tmp = tmp_path_factory.mktemp("hw")
    suffix, data = file
    path = tmp / f"hw{suffix}"
    path.write_bytes(data)
    out = tmp / "out.json"
    call(["simulate", "--hw", str(path), "--topology", TOPO, "--format", "json", "-o", str(out)], out)


@pytest.mark.slow
@FUZZ
@given(topology_files(), st.sampled_from(["os", "ws", "is"]))
def test_fuzz_topologies(tmp_path_factory, data, dataflow):
    tmp = tmp_path_factory.mktemp("topo")
    (tmp / "t.csv").write_bytes(data)
    out = tmp / "out.csv"
    call(["simulate", "--hw", HW, "--topology", str(tmp / "t.csv"), "--dataflow", dataflow, "--format", "csv",
          "-o", str(out)], out)


@pytest.mark.slow
@FUZZ
@given(bits_files())
def test_fuzz_bits_files(tmp_path_factory, file):
    tmp = tmp_path_factory.mktemp("bits")
    suffix, data = file
    (tmp / f"b{suffix}").write_bytes(data)
    topo = tmp / "t.csv"
    topo.write_text("Layer, a, b, c, d, e, f, g,\n" + "".join(f"{n}, 8, 8, 3, 3, 4, 4, 1,\n" for n in LAYERS))
    out = tmp / "out.txt"
    call(["simulate", "--hw", HW, "--topology", str(topo), "--bits", str(tmp / f"b{suffix}"), "-o", str(out)], out)


@pytest.mark.slow
@FUZZ
@given(problem_files(), st.sampled_from(["ga", "exact"]))
def test_fuzz_problem_files(tmp_path_factory, data, solver):
    tmp = tmp_path_factory.mktemp("problem")
    (tmp / "p.json").write_bytes(data)
    out = tmp / "r.json"
    call(["search", "--problem", str(tmp / "p.json"), "--solver", solver, "-o", str(out)], out)


TOKENS = ["simulate", "lut", "problem", "search", "pareto", "--hw", HW, "--topology", TOPO, "--model", "resnet18",
          "nosuchmodel", "--wbits", "--abits", "2", "4", "8", "0", "-1", "x", "--bits", "--format", "json", "csv",
          "table", "xml", "-o", "--output", "--dataflow", "os", "ws", "zz", "--batch", "--input-size", "3",
          "--whole-network", "--quiet", "--no-cache", "--policy", "none", "first-last-8bit", "--problem", "--solver",
          "exact", "ga", "--points", "--budget", "0.5", "1e9", "--lut", "--sensitivity", "--", "-", "", "--help"]


@pytest.mark.slow
@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=10))
def test_fuzz_argument_vectors(tmp_path_factory, argv):
    tmp = tmp_path_factory.mktemp("argv")
    argv = [a if a != "-" else str(tmp / "missing") for a in argv]
    cwd, cache = os.getcwd(), os.environ.get("HWSIM_CACHE_DIR")
    os.chdir(tmp)  # an output named by a random token lands here
    os.environ["HWSIM_CACHE_DIR"] = str(tmp / "cache")
    try:
        call(argv)
    finally:
        os.chdir(cwd)
        if cache is None:
            os.environ.pop("HWSIM_CACHE_DIR", None)
        else:
            os.environ["HWSIM_CACHE_DIR"] = cache
