"""The README quotes what the demo produces: a fresh run of the pipeline at the demo's defaults writes the
same summary table, number for number (the run is deterministic from its seed)."""

import os
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from readme_demo import readme_block  # noqa: E402


def test_readme_demo_table_equals_a_fresh_run(model, cache_dir, tmp_path):
    from codesign.pipeline import PipelineConfig, run_pipeline
    from codesign.report import summary_markdown

    os.environ["HWSIM_CACHE_DIR"] = str(cache_dir)  # the session's trained digits model
    results = run_pipeline(PipelineConfig(out=str(tmp_path / "demo")), progress=False)
    quoted = readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert summary_markdown(results) == quoted, "README demo table is stale: run `make demo && make readme-demo`"
