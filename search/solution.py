"""What every solver returns: an assignment, its objective and cost, and how long it took."""

from __future__ import annotations

import dataclasses


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
        """The result document (``R.json``)."""
        return {"assignment": self.assignment, "objective": self.objective, "cost": self.cost,
                "feasible": self.feasible, "seconds": self.seconds, "solver": self.solver, **self.details}
