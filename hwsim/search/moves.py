"""Moves on unit assignments (:mod:`hwsim.search.units`): Lagrangian seeds, budget repair, greedy fill, local search.

All work on a batch of assignments at once where they can (B x units arrays of choice indices);
costs here are the units' table costs, compared with ``Units.budget``.
"""

from __future__ import annotations

import numpy as np

from .units import Units

_EPS = 1e-12


def lagrangian(units: Units, lam: float, table: np.ndarray | None = None) -> np.ndarray:
    """Per unit the choice minimising loss + ``lam`` x cost, or x ``table`` (units x choices; pair terms ignored)."""
    table = units.cost if table is None else table
    score = np.where(units.valid, units.sens + lam * np.where(units.valid, table, 0.0), np.inf)
    return score.argmin(axis=1)


def lagrangian_seeds(units: Units, n: int) -> np.ndarray:
    """``n`` assignments along the Lagrangian front around the budget (the relaxation's solutions).

    The multiplier that just meets the budget is found by bisection (cost falls as it grows); the
    seeds take multipliers from a quarter to four times it, so some lie under and some over budget.
    """
    cost = lambda lam: units.evaluate(lagrangian(units, lam)[None, :])[1][0]
    lo, hi = 0.0, 1.0
    if cost(lo) <= units.budget:
        return np.repeat(lagrangian(units, 0.0)[None, :], n, axis=0)
    for _ in range(60):
        if cost(hi) <= units.budget:
            break
        hi *= 4
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if cost(mid) <= units.budget else (mid, hi)
    factors = np.geomspace(0.25, 4.0, n) if n > 1 else np.array([1.0])
    return np.stack([lagrangian(units, hi * f) for f in factors])


def _greedy_pick(score: np.ndarray, d_cost: np.ndarray, n_j: int, limit: float, cut: bool) -> list[tuple[int, int]]:
    """Moves on distinct units in ``score`` order (lowest first, finite only) until the summed cost change
    reaches ``limit``: a saving of at least ``limit`` (``cut``) or a spend of at most ``limit``."""
    order = np.argsort(score, kind="stable")
    taken, used, total = [], set(), 0.0
    for m in order:
        if score[m] == np.inf:
            break
        u = int(m // n_j)
        if u in used:
            continue
        if cut:
            taken.append((u, int(m % n_j)))
            used.add(u)
            total -= d_cost[m]
            if total >= limit:
                break
        elif total + d_cost[m] <= limit:
            taken.append((u, int(m % n_j)))
            used.add(u)
            total += d_cost[m]
    return taken


def repair(units: Units, genes: np.ndarray, max_rounds: int = 50) -> np.ndarray:
    """Bring over-budget assignments within budget, cutting cost where it loses least per unit of cost.

    Each round ranks every cost-cutting move of an over-budget assignment by loss per cost saved and
    takes them, one per unit, until the excess is covered; rounds repeat while any stays over.
    Assignments within budget are left alone; one that cannot be repaired ends where it got.
    """
    genes = np.array(genes, copy=True)
    n_j = units.cost.shape[1]
    for _ in range(max_rounds):
        cost = units.evaluate(genes)[1]
        over = np.flatnonzero(cost > units.budget * (1 + 1e-12))
        if not len(over):
            break
        d_obj, d_cost = units.deltas(genes[over])
        moved = False
        for r, row in enumerate(over):
            dc = d_cost[r].ravel()
            score = np.where(dc < -_EPS, d_obj[r].ravel() / np.maximum(-dc, _EPS), np.inf)
            for u, j in _greedy_pick(score, dc, n_j, cost[row] - units.budget, cut=True):
                genes[row, u] = j
                moved = True
        if not moved:
            break
    return genes


def fill(units: Units, genes: np.ndarray, max_rounds: int = 50) -> np.ndarray:
    """Greedy improvement within budget: loss-reducing moves by loss drop per unit of cost spent.

    Each round takes such moves, one per unit, while the budget allows, and keeps them if the
    assignment improved (pair terms can spoil a combination), else the single best move.
    """
    genes = np.array(genes, copy=True)
    n_j = units.cost.shape[1]
    active = np.ones(len(genes), dtype=bool)
    for _ in range(max_rounds):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        obj, cost = units.evaluate(genes[idx])
        d_obj, d_cost = units.deltas(genes[idx])
        for r, row in enumerate(idx):
            do, dc = d_obj[r].ravel(), d_cost[r].ravel()
            slack = units.budget - cost[r]
            ok = (do < -_EPS) & (dc <= slack + _EPS)
            if not ok.any():
                active[row] = False
                continue
            with np.errstate(invalid="ignore"):  # invalid choices: inf / inf, masked out by ok
                score = np.where(ok, np.where(dc > _EPS, do / np.maximum(dc, _EPS), -np.inf), np.inf)  # free first
            trial = genes[row].copy()
            for u, j in _greedy_pick(score, dc, n_j, slack, cut=False):
                trial[u] = j
            o, c = units.evaluate(trial[None, :])
            if o[0] < obj[r] - _EPS and c[0] <= units.budget * (1 + 1e-12):
                genes[row] = trial
            else:
                m = int(np.argmin(np.where(ok, do, np.inf)))
                genes[row, m // n_j] = m % n_j
    return genes


def _pair_moves(units: Units) -> np.ndarray:
    """Every (unit a, choice, unit b, choice) that switches a pair term on: rows of four indices."""
    rows = set()
    for p in range(len(units.ps)):
        for j1 in np.flatnonzero(units.mask_a[p]):
            for j2 in np.flatnonzero(units.mask_b[p]):
                rows.add((int(units.pa[p]), int(j1), int(units.pb[p]), int(j2)))
    return np.array(sorted(rows), dtype=np.int64).reshape(-1, 4)


def local_search(units: Units, genes: np.ndarray, rounds: int = 500, screen: int = 48) -> np.ndarray:
    """Descent within budget until no move improves; the moves:

    * one unit to another choice;
    * two units at once: each of the ``screen`` most loss-reducing moves (and the ``screen``
      cheapest cost cuts per loss) with every move on another unit, the best by summed change
      evaluated exactly;
    * a pair term switched on (both its units moved into it, which neither move does alone when
      the term is what pays), with the cheapest-loss cost cut on a third unit if over budget.
    """
    g = np.array(genes, copy=True)
    n_j = units.cost.shape[1]
    pair_moves = _pair_moves(units)
    for _ in range(rounds):
        obj, cost = units.evaluate(g[None, :])
        obj, slack = obj[0], units.budget - cost[0]
        d_obj, d_cost = (a[0].ravel() for a in units.deltas(g[None, :]))
        unit = np.arange(len(d_obj)) // n_j
        tol = 1e-12 * max(1.0, abs(obj))
        feasible = np.isfinite(d_obj) & (d_cost <= slack + 1e-12)
        single = np.where(feasible, d_obj, np.inf)
        cand = []
        i = int(single.argmin())
        if single[i] < -tol:
            h = g.copy()
            h[unit[i]] = i % n_j
            cand.append(h)
        finite = np.flatnonzero(np.isfinite(d_obj))
        ups = finite[np.argsort(d_obj[finite])[:screen]]
        saving = np.where(d_cost[finite] < -_EPS, d_obj[finite] / np.maximum(-d_cost[finite], _EPS), np.inf)
        downs = finite[np.argsort(saving)[:screen]]
        first = np.unique(np.concatenate([ups, downs]))
        tot = d_obj[first][:, None] + d_obj[finite][None, :]
        ok = (d_cost[first][:, None] + d_cost[finite][None, :] <= slack + 1e-12) & \
             (unit[first][:, None] != unit[finite][None, :])
        tot = np.where(ok, tot, np.inf)
        for flat in np.argsort(tot, axis=None)[:8]:
            a, b = np.unravel_index(flat, tot.shape)
            if not np.isfinite(tot[a, b]):
                break
            h = g.copy()
            h[unit[first[a]]], h[unit[finite[b]]] = first[a] % n_j, finite[b] % n_j
            cand.append(h)
        if len(pair_moves):
            pm = pair_moves[(g[pair_moves[:, 0]] != pair_moves[:, 1]) | (g[pair_moves[:, 2]] != pair_moves[:, 3])]
            if len(pm):
                h = np.repeat(g[None, :], len(pm), axis=0)
                h[np.arange(len(pm)), pm[:, 0]] = pm[:, 1]
                h[np.arange(len(pm)), pm[:, 2]] = pm[:, 3]
                o, c = units.evaluate(h)
                excess = c - units.budget
                # the cheapest-loss cut covering the excess: a prefix minimum over cuts by falling saving
                cuts = finite[d_cost[finite] < -_EPS]
                comp = np.full(len(pm), -1)
                comp_gain = np.where(excess <= 1e-12, 0.0, np.inf)
                if len(cuts):
                    by_saving = cuts[np.argsort(-d_cost[cuts])]
                    sv = -d_cost[by_saving]
                    need = excess > 1e-12
                    # the cuts with saving >= excess are a prefix of by_saving (saving descending)
                    last = np.searchsorted(-sv, -excess[need], side="right") - 1
                    okc = last >= 0
                    idx = np.flatnonzero(need)[okc]
                    comp[idx] = by_saving[_prefix_argmin(d_obj[by_saving])[last[okc]]]
                    comp_gain[idx] = d_obj[comp[idx]]
                total = (o - obj) + comp_gain
                for q in np.argsort(total)[:8]:
                    if not np.isfinite(total[q]) or total[q] >= -tol:
                        break
                    hq = h[q].copy()
                    if comp[q] >= 0:
                        if unit[comp[q]] in (pm[q, 0], pm[q, 2]):
                            continue
                        hq[unit[comp[q]]] = comp[q] % n_j
                    cand.append(hq)
        if not cand:
            break
        o, c = units.evaluate(np.stack(cand))
        o = np.where(c <= units.budget * (1 + 1e-12), o, np.inf)
        k = int(o.argmin())
        if not o[k] < obj - tol:
            break
        g = cand[k]
    return g


def _prefix_argmin(x: np.ndarray) -> np.ndarray:
    """Index of a minimum of ``x[:i + 1]`` for every ``i``."""
    at_min = np.where(x == np.minimum.accumulate(x), np.arange(len(x)), 0)
    return np.maximum.accumulate(at_min)
