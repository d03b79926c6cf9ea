"""Keep the README's demo table equal to what `make demo` writes (out/demo/summary.md).

  python scripts/readme_demo.py --check  [SUMMARY]   exit 1 and show a diff if the README differs
  python scripts/readme_demo.py --update [SUMMARY]   paste SUMMARY into the README between the markers and
                                                     copy the demo's plots next to it into docs/demo_*.png
"""

from __future__ import annotations

import difflib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- demo-summary:begin (pasted from out/demo/summary.md by `make readme-demo`; checked by tests) -->"
END = "<!-- demo-summary:end -->"


def readme_block(readme: str) -> str:
    """The text between the markers."""
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {BEGIN!r} ... {END!r}")
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "--check"
    summary = Path(argv[1]) if len(argv) > 1 else ROOT / "out" / "demo" / "summary.md"
    readme_path = ROOT / "README.md"
    readme, fresh = readme_path.read_text(encoding="utf-8"), summary.read_text(encoding="utf-8")
    if mode == "--update":
        head, rest = readme.split(BEGIN, 1)
        readme_path.write_text(head + BEGIN + "\n" + fresh + END + rest.split(END, 1)[1], encoding="utf-8")
        for plot in sorted(summary.parent.glob("pareto_*.png")) + [summary.parent / "bitwidths.png"]:
            if plot.is_file():  # the README shows the demo's plots from docs/
                shutil.copyfile(plot, ROOT / "docs" / f"demo_{plot.name}")
        return 0
    quoted = readme_block(readme)
    if quoted == fresh:
        print("README demo table matches", summary)
        return 0
    sys.stdout.writelines(difflib.unified_diff(quoted.splitlines(True), fresh.splitlines(True), "README.md",
                                               str(summary)))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
