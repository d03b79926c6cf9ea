"""Dependency rules of the layout (README, Layout): checked on the source, so a violation fails CI."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR = {"hwsim.config", "hwsim.systolic", "hwsim.arm", "hwsim.targets", "hwsim.lut", "hwsim.results",
             "hwsim.layers"}


def _imports(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_quant_never_imports_the_simulator_or_search():
    for path, names in _imports("quant").items():
        bad = {n for n in names if n.startswith("search") or any(n == s or n.startswith(s + ".") for s in SIMULATOR)}
        assert not bad, f"{path} imports {bad}"


def test_simulator_never_imports_quant_or_search():
    for path, names in _imports("hwsim").items():
        if path.endswith("cli.py"):  # the application layer may import everything
            continue
        bad = {n for n in names if n.split(".")[0] in ("quant", "search")}
        assert not bad, f"{path} imports {bad}"


def test_search_sees_numbers_only():
    for path, names in _imports("search").items():
        bad = {n for n in names if n.split(".")[0] in ("torch", "quant")
               or any(n == s or n.startswith(s + ".") for s in SIMULATOR | {"hwsim.workload", "hwsim.models"})}
        assert not bad, f"{path} imports {bad}"
