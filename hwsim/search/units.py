"""A problem without activation groups: every group becomes one unit whose choices are joint ones.

Layers that read one tensor must share activation bits (``Problem.act_groups``).  Folding each
group into a single *unit*, whose choices are the members' joint choices with equal activation bits,
leaves a plain multiple-choice problem with pair terms, on which the seeds, the repair and the local
search of the genetic search (:mod:`hwsim.search.ga`) work move by move, and every move stays legal.

Pair terms between units become indicator products: term ``p`` counts when unit ``pa[p]`` takes a
choice in ``mask_a[p]`` and unit ``pb[p]`` one in ``mask_b[p]``; a pair inside one unit is folded
into that unit's loss.  Padding choices (units with fewer joint choices than the widest) are marked
invalid and never taken.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from .problem import Problem


@dataclasses.dataclass
class Units:
    """The unit view of a :class:`Problem` (arrays are units x joint choices, padded)."""

    problem: Problem
    members: list[list[int]]  # layer indices of each unit
    joint: list[np.ndarray]  # per unit: (joint choices x members) layer choice indices
    cost: np.ndarray
    sens: np.ndarray
    valid: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    mask_a: np.ndarray  # pairs x joint choices (bool)
    mask_b: np.ndarray
    ps: np.ndarray

    def __post_init__(self) -> None:
        # pairs sorted by their first (second) unit, with each unit's segment start, for reduceat
        for side, units in (("a", self.pa), ("b", self.pb)):
            order = np.argsort(units, kind="stable")
            owner, starts = np.unique(units[order], return_index=True)
            setattr(self, f"_ord_{side}", order)
            setattr(self, f"_start_{side}", starts)
            setattr(self, f"_unit_{side}", owner)

    @property
    def budget(self) -> float:
        """Budget left for the units (the fixed layers' cost taken off)."""
        return self.problem.budget - self.problem.fixed_cost

    def evaluate(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(objective, unit cost) of unit assignments ``genes`` (B x units)."""
        genes = np.atleast_2d(genes)
        rows = np.arange(genes.shape[1])
        obj = self.sens[rows, genes].sum(axis=1)
        cost = self.cost[rows, genes].sum(axis=1)
        if len(self.ps):
            p = np.arange(len(self.ps))
            hit = self.mask_a[p, genes[:, self.pa]] & self.mask_b[p, genes[:, self.pb]]
            obj = obj + hit @ self.ps
        return obj, cost

    def deltas(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Change of objective and of cost for moving each unit to each choice: two (B x units x choices) arrays.

        Invalid choices get +inf objective change.  Exact for one move at a time.
        """
        genes = np.atleast_2d(genes)
        b, n = genes.shape
        rows = np.arange(n)
        cur_s = self.sens[rows, genes]  # B x U
        d_obj = self.sens[None, :, :] - cur_s[:, :, None]
        d_cost = self.cost[None, :, :] - self.cost[rows, genes][:, :, None]
        if len(self.ps):
            p = np.arange(len(self.ps))
            in_a = self.mask_a[p, genes[:, self.pa]]  # B x P
            in_b = self.mask_b[p, genes[:, self.pb]]
            hit = in_a & in_b
            # moving pair p's first unit to j makes the term mask_a[p, j] & in_b (and the second's alike)
            for order, starts, owner, mask, other in (
                    (self._ord_a, self._start_a, self._unit_a, self.mask_a, in_b),
                    (self._ord_b, self._start_b, self._unit_b, self.mask_b, in_a)):
                term = (mask[order][None, :, :] & other[:, order, None]).astype(float) - hit[:, order, None]
                term *= self.ps[order][None, :, None]
                d_obj[:, owner, :] += np.add.reduceat(term, starts, axis=1)
        d_obj = np.where(self.valid[None, :, :], d_obj, np.inf)
        return d_obj, d_cost

    def table(self, layer_table: np.ndarray) -> np.ndarray:
        """A (layers x choices) table summed over each unit's members for every joint choice (invalid: inf)."""
        out = np.full(self.cost.shape, np.inf)
        for u, (mem, joint) in enumerate(zip(self.members, self.joint)):
            out[u, :len(joint)] = layer_table[mem, :][np.arange(len(mem))[None, :], joint].sum(axis=1)
        return out

    def layer_genes(self, genes: np.ndarray) -> np.ndarray:
        """Layer choice indices of unit assignments (B x layers)."""
        genes = np.atleast_2d(genes)
        out = np.empty((len(genes), self.problem.n_layers), dtype=np.int64)
        for u, (mem, table) in enumerate(zip(self.members, self.joint)):
            out[:, mem] = table[genes[:, u]]
        return out

    def unit_genes(self, layer_genes: np.ndarray) -> np.ndarray:
        """Unit assignments of layer assignments that respect the activation groups (B x units)."""
        layer_genes = np.atleast_2d(layer_genes)
        out = np.empty((len(layer_genes), len(self.members)), dtype=np.int64)
        for u, (mem, table) in enumerate(zip(self.members, self.joint)):
            sub = layer_genes[:, mem]
            match = (sub[:, None, :] == table[None, :, :]).all(axis=2)
            if not match.any(axis=1).all():
                raise ValueError("an assignment breaks an activation group")
            out[:, u] = match.argmax(axis=1)
        return out


def build_units(problem: Problem) -> Units:
    """Fold ``problem``'s activation groups into units (layers outside every group are units of one)."""
    n_l, n_k = problem.cost.shape
    grouped = {l for g in problem.act_groups for l in g}
    members = [list(g) for g in problem.act_groups] + [[l] for l in range(n_l) if l not in grouped]
    members.sort(key=lambda m: m[0])
    abits = problem.abits
    joint = []
    for mem in members:
        if len(mem) == 1:
            joint.append(np.arange(n_k)[:, None])
            continue
        combos = []
        for a in np.unique(abits):
            ks = np.flatnonzero(abits == a)
            combos += list(itertools.product(ks, repeat=len(mem)))
        joint.append(np.array(combos, dtype=np.int64))
    width = max(len(t) for t in joint)
    n_u = len(members)
    cost = np.zeros((n_u, width))
    sens = np.zeros((n_u, width))
    valid = np.zeros((n_u, width), dtype=bool)
    unit_of = np.empty(n_l, dtype=np.int64)
    slot_of = np.empty(n_l, dtype=np.int64)
    for u, (mem, table) in enumerate(zip(members, joint)):
        for s, l in enumerate(mem):
            unit_of[l], slot_of[l] = u, s
        m = len(table)
        cost[u, :m] = problem.cost[mem, :][np.arange(len(mem))[None, :], table].sum(axis=1)
        sens[u, :m] = problem.sens[mem, :][np.arange(len(mem))[None, :], table].sum(axis=1)
        valid[u, :m] = True
    pa, pb, ma, mb, ps = [], [], [], [], []
    for a, b, ca, cb, s in zip(problem.pair_a, problem.pair_b, problem.pair_ca, problem.pair_cb, problem.pair_s):
        ua, ub = unit_of[a], unit_of[b]
        in_a = np.zeros(width, dtype=bool)
        in_a[:len(joint[ua])] = joint[ua][:, slot_of[a]] == ca
        in_b = np.zeros(width, dtype=bool)
        in_b[:len(joint[ub])] = joint[ub][:, slot_of[b]] == cb
        if ua == ub:  # both layers in one unit: part of that unit's loss
            sens[ua] += s * (in_a & in_b)
            continue
        pa.append(ua)
        pb.append(ub)
        ma.append(in_a)
        mb.append(in_b)
        ps.append(s)
    ints = lambda v: np.array(v, dtype=np.int64)
    bools = lambda v: np.array(v, dtype=bool).reshape(len(v), width)
    cost = np.where(valid, cost, np.inf)
    return Units(problem, members, joint, cost, sens, valid, ints(pa), ints(pb), bools(ma), bools(mb),
                 np.array(ps, dtype=float))
