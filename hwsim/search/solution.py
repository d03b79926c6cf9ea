"""What every solver returns: an assignment, its objective and cost, and how long it took."""

from __future__ import annotations

import dataclasses

from .problem import Problem


@dataclasses.dataclass
class Solution:
    """A solver's answer; ``cost`` is the summed table cost (or the oracle's, in oracle mode)."""

    assignment: dict[str, str]
    objective: float
    cost: float
    feasible: bool
    seconds: float
    solver: str
    details: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        """The result document (``R.json``); its ``assignment`` makes it a bits file for simulate, lut, quantize."""
        return {"assignment": self.assignment, "objective": self.objective, "cost": self.cost,
                "feasible": self.feasible, "seconds": self.seconds, "solver": self.solver, **self.details}

    def table(self, problem: Problem) -> str:
        """The assignment per layer: weight and activation bits, table cost and predicted loss, with totals."""
        unit = problem.cost_unit or "cost"
        genes = problem.genes_of(self.assignment)
        rows = [(name, *problem.choices[k][1:].split("a"), f"{problem.cost[i, k]:.6g}", f"{problem.sens[i, k]:.6g}")
                for i, (name, k) in enumerate(zip(problem.names, genes))]
        rows += [(name, *lab[1:].split("a"), "fixed", "") for name, lab in problem.fixed.items()]
        pair_loss = self.objective - float(sum(problem.sens[i, k] for i, k in enumerate(genes)))
        head = ("layer", "w", "a", unit, "loss")
        width = [max(len(str(r[c])) for r in rows + [head]) for c in range(5)]
        line = lambda r: "  ".join(str(v).ljust(width[c]) if c == 0 else str(v).rjust(width[c]) for c, v in enumerate(r))
        out = [line(head), line(tuple("-" * w for w in width))] + [line(r) for r in rows]
        out.append(line(tuple("-" * w for w in width)))
        if abs(pair_loss) > 0:
            out.append(line(("pair terms", "", "", "", f"{pair_loss:.6g}")))
        fixed = f" (fixed layers {problem.fixed_cost:.6g})" if problem.fixed_cost else ""
        table_sum = float(problem.evaluate(genes)[1][0])
        out.append(line(("total", "", "", f"{table_sum:.6g}", f"{self.objective:.6g}")))
        if "resimulation" in self.details:
            out.append(f"whole network re-simulated: {self.cost:.6g} {problem.cost_unit} "
                       f"(the table sum is {100 * (table_sum - self.cost) / self.cost:+.2f}% off)")
        out.append(f"budget {problem.budget:.6g} {problem.cost_unit}{fixed}; {self.solver}, "
                   f"{'feasible' if self.feasible else 'INFEASIBLE'}, {self.seconds:.3f} s")
        return "\n".join(out) + "\n"
