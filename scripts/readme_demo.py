"""Keep the README's demo table equal to what `make demo` writes (out/demo/summary.md).

  python scripts/readme_demo.py --check  [SUMMARY]   exit 1 and show a diff if the table differs
  python scripts/readme_demo.py --update [SUMMARY]   paste SUMMARY into the README between the markers and
                                                     copy the demo's plots next to it into docs/demo_*.png
  python scripts/readme_demo.py --class              print this machine's CPU class (below)

The block reconstruction's floats still differ between two classes of x86-64 CPU (docs/guide/pipeline.md,
"What still moves"): Xeons with AMX and AVX512-FP16 (Sapphire Rapids and later) give one table, every other
machine seen (an AVX-512 Xeon, an AVX2 AMD EPYC) the other.  The README quotes the ``baseline`` class's table;
the ``amx`` class's is ``tests/data/demo_summary.amx.md``.  On a machine of either class, --check and
--update use that class's table, so the check stays exact on both.
"""

from __future__ import annotations

import difflib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- demo-summary:begin (pasted from out/demo/summary.md by `make readme-demo`; checked by tests) -->"
END = "<!-- demo-summary:end -->"
AMX_TABLE = ROOT / "tests" / "data" / "demo_summary.amx.md"
AMX_FLAGS = {"amx_tile", "avx512_fp16"}


def cpu_class(cpuinfo: str | None = None) -> str:
    """``"amx"`` on a CPU that reports AMX or AVX512-FP16 (whose reconstruction floats differ), else ``"baseline"``."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        except OSError:
            return "baseline"
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "amx" if AMX_FLAGS & set(line.split(":", 1)[1].split()) else "baseline"
    return "baseline"


def expected_table(cls: str | None = None) -> str:
    """The demo table a machine of class ``cls`` (default: this one) must write."""
    if (cls or cpu_class()) == "amx":
        return AMX_TABLE.read_text(encoding="utf-8")
    return readme_block((ROOT / "README.md").read_text(encoding="utf-8"))


def readme_block(readme: str) -> str:
    """The text between the markers."""
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {BEGIN!r} ... {END!r}")
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "--check"
    cls = cpu_class()
    if mode == "--class":
        print(cls)
        return 0
    summary = Path(argv[1]) if len(argv) > 1 else ROOT / "out" / "demo" / "summary.md"
    readme_path = ROOT / "README.md"
    readme, fresh = readme_path.read_text(encoding="utf-8"), summary.read_text(encoding="utf-8")
    if mode == "--update" and cls == "amx":  # this class's table lives beside the tests, not in the README
        AMX_TABLE.write_text(fresh, encoding="utf-8")
        return 0
    if mode == "--update":
        head, rest = readme.split(BEGIN, 1)
        readme_path.write_text(head + BEGIN + "\n" + fresh + END + rest.split(END, 1)[1], encoding="utf-8")
        for plot in sorted(summary.parent.glob("pareto_*.png")) + [summary.parent / "bitwidths.png"]:
            if plot.is_file():  # the README shows the demo's plots from docs/
                shutil.copyfile(plot, ROOT / "docs" / f"demo_{plot.name}")
        return 0
    quoted = expected_table(cls)
    where = str(AMX_TABLE.relative_to(ROOT)) if cls == "amx" else "README.md"
    if quoted == fresh:
        print(f"demo table matches {where} ({cls} CPU class)", summary)
        return 0
    sys.stdout.writelines(difflib.unified_diff(quoted.splitlines(True), fresh.splitlines(True), where, str(summary)))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
