"""The simulator's answers are frozen (tests/data/golden_sim.json.gz, written by scripts/golden_sim.py): a
refactor must reproduce them number for number.  This test checks a sample (every 5th cheap case of each
group, about 400 cases: every shipped model on every shipped config, random layers on random systolic
configs in both timing modes and all three dataflows, random layers on the ARM boards, SCALE-Sim .cfg
files); ``python scripts/golden_sim.py --check`` checks all 2,610 cases."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

import golden_sim  # noqa: E402

ENTRIES = golden_sim.sample(golden_sim.load(), every=5, max_seconds=0.5)


def test_the_sample_covers_every_group_and_both_timings():
    groups = {e["case"]["group"] for e in ENTRIES}
    assert groups == {"zoo", "random", "arm", "scalesim_cfg"}
    random = [e["case"]["hw"] for e in ENTRIES if e["case"]["group"] == "random"]
    assert {h["timing"] for h in random} == {"hwsim", "scalesim"}
    assert {h["dataflow"] for h in random} == {"os", "ws", "is"}
    assert len(ENTRIES) >= 300


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e['case']['group']}")
def test_identical_to_the_frozen_answer(entry):
    results = golden_sim.results(entry["case"])
    diff = golden_sim.compare(entry["results"], golden_sim._record(results))
    assert not diff, "\n".join(diff[:10])
    # the schedule as data says what the frozen note says in prose
    disagree = golden_sim.schedule_disagreements(results)
    assert not disagree, "\n".join(disagree[:10])
