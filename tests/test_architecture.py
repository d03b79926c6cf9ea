"""The layering of the packages, checked on the source so that a violation fails CI.

model -> layers -> hardware tables -> search -> quantize -> validate -> report: the simulator
(``hwsim``) imports none of the packages above it; ``quant`` uses only hwsim's model zoo and
utilities; ``search`` sees numbers only; ``codesign`` is the application layer; ``hwsim_cli``, one
module per command, is the only package that may import them all.  No package has an import cycle.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hwsim", "quant", "search", "codesign", "hwsim_cli", "explore")
SIMULATOR = {"hwsim.config", "hwsim.systolic", "hwsim.arm", "hwsim.targets", "hwsim.lut", "hwsim.results",
             "hwsim.layers"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(package: str) -> dict[str, set[str]]:
    """Module -> absolute names it imports (relative imports resolved), anywhere in the module."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        mod = _module_name(path)
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                names.add(base)
                names |= {f"{base}.{a.name}" for a in node.names}
        found[mod] = names
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def test_simulator_imports_nothing_above_it():
    for mod, names in _imports("hwsim").items():
        bad = {n for n in names if _top(n) in ("quant", "search", "codesign", "hwsim_cli")}
        assert not bad, f"{mod} imports {bad}"


def test_quant_uses_only_the_model_zoo_and_utilities_of_hwsim():
    for mod, names in _imports("quant").items():
        bad = {n for n in names if _top(n) in ("search", "codesign", "hwsim_cli")
               or any(n == s or n.startswith(s + ".") for s in SIMULATOR)}
        assert not bad, f"{mod} imports {bad}"


def test_search_sees_numbers_only():
    for mod, names in _imports("search").items():
        bad = {n for n in names if _top(n) in ("torch", "quant", "codesign", "hwsim_cli")
               or any(n == s or n.startswith(s + ".") for s in SIMULATOR | {"hwsim.workload", "hwsim.models"})}
        assert not bad, f"{mod} imports {bad}"


def test_exploration_uses_the_simulator_only():
    for mod, names in _imports("explore").items():
        bad = {n for n in names if _top(n) in ("torch", "quant", "search", "codesign", "hwsim_cli")}
        assert not bad, f"{mod} imports {bad}"
    for mod, names in _imports("hwsim").items():
        assert not {n for n in names if _top(n) == "explore"}, mod


def test_only_the_cli_imports_the_cli():
    for package in ("hwsim", "quant", "search", "codesign", "explore"):
        for mod, names in _imports(package).items():
            assert not {n for n in names if _top(n) == "hwsim_cli"}, mod


def test_one_module_per_command():
    import hwsim_cli

    modules = {c.__name__.rpartition(".")[2] for c in hwsim_cli.COMMANDS}
    assert modules == {"simulate", "lut", "calibrate", "sweep", "quantize", "sensitivity", "problem", "search",
                       "pareto", "pipeline", "codesign"}
    parser = hwsim_cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == modules


def test_no_import_cycles():
    graph = {}
    for package in PACKAGES:
        for mod, names in _imports(package).items():
            graph[mod] = {n for n in names if n in graph or _top(n) in PACKAGES}
    modules = set(graph)
    graph = {m: {d for d in ({n if n in modules else n.rpartition(".")[0] for n in deps} & modules)
                 if d != m and not m.startswith(d + ".")}  # `from . import x` names the parent: not an edge
             for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])


def test_importing_hwsim_is_fast_and_simulating_a_topology_needs_no_torch():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import hwsim.config, hwsim.targets"],
                         capture_output=True, text=True, check=True).stderr
    rows = [line.split("|") for line in out.splitlines() if line.startswith("import time:")]
    total_us = sum(int(r[1]) for r in rows if r[2].strip().startswith("hwsim") and not r[2].startswith("  "))
    assert total_us < 300_000, f"import hwsim took {total_us / 1e6:.2f} s"
    code = ("import sys; from hwsim_cli import main; "
            f"rc = main(['simulate', '--hw', r'{ROOT / 'hw_configs' / 'bitfusion_16x32.yaml'}', '--topology', "
            f"r'{ROOT / 'tests' / 'data' / 'scalesim' / 'topo_convs.csv'}', '--format', 'json']); "
            "assert rc == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_one_model_fingerprint():
    sources = {p: p.read_text() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    users = [p.name for p, text in sources.items() if "model_fingerprint(" in text]
    assert {"fingerprint.py", "api.py", "pipeline.py"} <= set(users)
    summing = [str(p) for p, text in sources.items() if "double().sum()" in text]  # the old, second fingerprint
    assert not summing, f"a second way of fingerprinting a model: {summing}"
