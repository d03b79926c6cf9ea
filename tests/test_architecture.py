"""The layering of the packages, checked on the source so that a violation fails CI.

model -> layers -> hardware tables -> search -> quantize -> validate -> report.  One distribution,
``hwsim``: its own modules (``hwsim.config``, ``hwsim.systolic``, ``hwsim.arm``, ...) are the simulator
and import none of the subpackages above it; ``hwsim.quant`` uses only the simulator's model zoo and
utilities; ``hwsim.search`` sees numbers only; ``hwsim.explore`` (sweeps) uses the simulator only;
``hwsim.codesign`` is the application layer; ``hwsim.cli``, one module per command, is the only
package that may import them all.  No module has an import cycle.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hwsim"
LAYERS = ("quant", "search", "explore", "codesign", "cli")  # the subpackages above the simulator
SIMULATOR = {"hwsim.config", "hwsim.systolic", "hwsim.arm", "hwsim.targets", "hwsim.lut", "hwsim.results",
             "hwsim.layers"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(name: str) -> str:
    """'quant', 'search', ... for a module of a subpackage above the simulator; 'torch' for torch; else ''
    (a simulator module, or a library)."""
    parts = name.split(".")
    if parts[0] == "torch":
        return "torch"
    if name == "hwsim.__main__":  # python -m hwsim: the command line
        return "cli"
    if parts[0] == "hwsim" and len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "sim" if parts[0] == "hwsim" else ""


def _imports(layer: str) -> dict[str, set[str]]:
    """Module -> absolute names it imports (relative imports resolved), anywhere in the module, for the
    modules of one layer ('sim' for the simulator's own)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        mod = _module_name(path)
        if _layer(mod) != layer:
            continue
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
    assert found, f"no modules in layer {layer}"
    return found


def _in(name: str, modules: set[str]) -> bool:
    return any(name == s or name.startswith(s + ".") for s in modules)


def test_no_generic_top_level_packages():
    """One distribution namespace: everything installed lives under hwsim."""
    import tomllib

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["hwsim*"]
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert tops == {"hwsim"}, tops


def test_simulator_imports_nothing_above_it():
    for mod, names in _imports("sim").items():
        bad = {n for n in names if _layer(n) in LAYERS}
        assert not bad, f"{mod} imports {bad}"


def test_quant_uses_only_the_model_zoo_and_utilities_of_hwsim():
    for mod, names in _imports("quant").items():
        bad = {n for n in names if _layer(n) in ("search", "explore", "codesign", "cli") or _in(n, SIMULATOR)}
        assert not bad, f"{mod} imports {bad}"


def test_search_sees_numbers_only():
    for mod, names in _imports("search").items():
        bad = {n for n in names if _layer(n) in ("torch", "quant", "explore", "codesign", "cli")
               or _in(n, SIMULATOR | {"hwsim.workload", "hwsim.models"})}
        assert not bad, f"{mod} imports {bad}"


def test_exploration_uses_the_simulator_only():
    for mod, names in _imports("explore").items():
        bad = {n for n in names if _layer(n) in ("torch", "quant", "search", "codesign", "cli")}
        assert not bad, f"{mod} imports {bad}"


def test_only_the_cli_imports_the_cli():
    for layer in ("sim", "quant", "search", "codesign", "explore"):
        for mod, names in _imports(layer).items():
            assert not {n for n in names if _layer(n) == "cli"}, mod


def test_no_kind_checks_outside_the_config_loader():
    """Targets answer through the Target protocol (hwsim/targets.py): only hwsim/config.py, which builds them,
    compares a config's kind with 'arm' or 'systolic'."""
    import re

    pattern = re.compile(r"""kind\s*(==|!=|\bin\b)\s*[(\[{]?\s*["'](arm|systolic)["']|["'](arm|systolic)["']\s*(==|!=)""")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in PACKAGE.rglob("*.py") if p.name != "config.py" or p.parent != PACKAGE
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if pattern.search(line)]
    assert not found, found


def test_one_module_per_command():
    import hwsim.cli

    modules = {c.__name__.rpartition(".")[2] for c in hwsim.cli.COMMANDS}
    assert modules == {"simulate", "lut", "calibrate", "sweep", "quantize", "sensitivity", "problem", "search",
                       "pareto", "pipeline", "codesign"}
    parser = hwsim.cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == modules


def test_no_import_cycles():
    graph = {}
    for layer in ("sim",) + LAYERS:
        for mod, names in _imports(layer).items():
            graph[mod] = {n for n in names if n.split(".")[0] == "hwsim"}
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
    code = ("import sys; from hwsim.cli import main; "
            f"rc = main(['simulate', '--hw', r'{PACKAGE / 'hw_configs' / 'bitfusion_16x32.yaml'}', '--topology', "
            f"r'{ROOT / 'tests' / 'data' / 'scalesim' / 'topo_convs.csv'}', '--format', 'json']); "
            "assert rc == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_one_model_fingerprint():
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    users = [p.name for p, text in sources.items() if "model_fingerprint(" in text]
    assert {"fingerprint.py", "api.py", "pipeline.py"} <= set(users)
    summing = [str(p) for p, text in sources.items() if "double().sum()" in text]  # the old, second fingerprint
    assert not summing, f"a second way of fingerprinting a model: {summing}"
