"""Hardware in the loop for the search: an assignment's latency by re-simulating the whole network.

The additive table (what ``hwsim problem`` sums) assumes every layer writes its output to DRAM and reads
its input back at its own bits.  Re-simulating the whole network with an assignment's bits keeps the
small tensors that only the next layer reads on chip and writes each tensor at the bits of its readers;
:func:`network_oracle` gives the GA that truth as its cost, and :func:`surrogate_gap` says how far the
table sum is from it for one assignment.
"""

from __future__ import annotations

from typing import Callable, Sequence

from hwsim.errors import HwsimError
from hwsim.layers import Layer
from hwsim.precision import check_bits, parse_label
from hwsim.targets import simulate_network
from hwsim.search.problem import Problem


def network_oracle(layers: Sequence[Layer], hw, problem: Problem) -> Callable[[dict[str, str]], float]:
    """assignment (layer -> label, every layer of ``layers``) -> whole-network latency in ms."""
    if problem.cost_unit != "ms":
        raise HwsimError(f"re-simulation prices latency in ms; this problem's cost is in "
                         f"{problem.cost_unit or 'unnamed units'} (make it with 'hwsim problem --metric latency')")
    names = [layer.name for layer in layers]
    covered = set(problem.names) | set(problem.fixed)
    missing = [n for n in names if n not in covered]
    extra = sorted(covered - set(names))
    if missing or extra:
        raise HwsimError(f"the problem's layers are not the network's: {len(missing)} network layers missing "
                         f"(e.g. {missing[:1]}), {len(extra)} unknown (e.g. {extra[:1]}); build the problem from "
                         f"this network's lookup table")
    for label in set(problem.choices) | set(problem.fixed.values()):
        check_bits(hw, *parse_label(label), "re-simulation: ")

    def latency_ms(assignment: dict[str, str]) -> float:
        bits = {n: parse_label(assignment[n]) for n in names}
        return simulate_network(list(layers), hw, bits, whole_network=True).latency_ms

    return latency_ms


def surrogate_gap(problem: Problem, oracle: Callable[[dict[str, str]], float], assignment: dict[str, str]) -> dict:
    """The table sum against the re-simulated latency of one assignment (error of the table in %)."""
    table = float(problem.evaluate(problem.genes_of(assignment))[1][0])
    truth = float(oracle(assignment))
    return {"table_ms": table, "network_ms": truth, "error_pct": 100.0 * (table - truth) / truth,
            "within_budget": truth <= problem.budget * (1 + 1e-12)}
