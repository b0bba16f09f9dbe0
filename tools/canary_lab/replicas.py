"""Replica arithmetic of a basic (replica-weighted) canary, as the Argo Rollouts controller does it.

Facts from argo-rollouts `utils/replicaset/canary.go` and `replicaset.go` (read, not copied):

- `maxSurge` and `maxUnavailable` default to 25 %; a percentage of `spec.replicas` rounds up
  for the surge and down for the unavailable; if both come out 0, unavailable becomes 1.
- The counts a weight aims at are the *closest approximation* of the weight among a few
  candidates (`approximateWeightedCanaryStableReplicaCounts`): canary = ⌈r·w⌉ or ⌊r·w⌋ with
  canary + stable = r, or = r + 1 when a surge is allowed; for a weight strictly between 0
  and 100 neither set may be 0 (with 2+ replicas); a floor/ceiling tie keeps the larger canary.
- Each reconcile moves the ReplicaSets' specs toward those counts without exceeding
  `replicas + maxSurge` pods and without letting available pods drop below
  `replicas − maxUnavailable` (`CalculateReplicaCountsForBasicCanary`): the stable set is
  scaled up before the canary; when the canary grows, stable pods may go (the canary's
  unready pods are not counted as available); when it shrinks (an abort), canary pods go
  first, whatever their availability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_WEIGHT = 100


def resolve_int_or_percent(value: int | str | None, total: int, *, round_up: bool) -> int:
    """A Kubernetes IntOrString against `total` (a string is a percentage, `%` optional as in
    the legacy `GetValueFromIntOrPercent` Argo uses)."""
    if value is None:
        value = "25%"  # argo-rollouts DefaultMaxSurge / DefaultMaxUnavailable ("25")
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def fenceposts(
    replicas: int, max_surge: int | str | None, max_unavailable: int | str | None
) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; unavailable never exceeds the replicas."""
    surge = resolve_int_or_percent(max_surge, replicas, round_up=True)
    unavailable = resolve_int_or_percent(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def _tied(weight: int, total: int) -> bool:
    return math.modf(total * weight / MAX_WEIGHT)[0] == 0.5


def approximate_counts(replicas: int, weight: int, max_surge: int) -> tuple[int, int]:
    """(canary, stable) whose canary share is closest to `weight` (see the module docstring)."""
    if replicas == 0:
        return 0, 0
    ceil = math.ceil(replicas * weight / MAX_WEIGHT)
    floor = math.floor(replicas * weight / MAX_WEIGHT)
    zero_allowed = weight in {0, MAX_WEIGHT} or (replicas == 1 and max_surge == 0)
    options: list[tuple[int, int]] = []  # (canary, total)
    if ceil < replicas or zero_allowed:
        options.append((ceil, replicas))
    if not _tied(weight, replicas) and (floor != 0 or zero_allowed):
        options.append((floor, replicas))
    if max_surge > 0:
        options.append((ceil, replicas + 1))
        if not _tied(weight, replicas + 1) and (floor != 0 or zero_allowed):
            options.append((floor, replicas + 1))
    if not options:
        return 0, replicas
    best = options[0]
    for option in options[1:]:  # strictly closer only: the first of equals wins
        if _delta(weight, *option) < _delta(weight, *best):
            best = option
    return best[0], best[1] - best[0]


def _delta(weight: int, canary: int, total: int) -> float:
    return abs(canary * MAX_WEIGHT / total - weight)


@dataclass(frozen=True)
class SetState:
    """A ReplicaSet as the controller sees it: its spec'd replicas and its available pods."""

    replicas: int
    available: int

    def for_scale_down(self, *, ignore_availability: bool) -> int:
        if self.replicas < self.available or ignore_availability:
            return self.replicas
        return self.available


@dataclass(frozen=True)
class Fenceposts:
    replicas: int
    max_surge: int
    max_unavailable: int


def reconcile_counts(
    spec: Fenceposts, weight: int, canary: SetState, stable: SetState
) -> tuple[int, int]:
    """One reconcile: the (canary, stable) replica counts the controller sets now."""
    want_canary, want_stable = approximate_counts(spec.replicas, weight, spec.max_surge)
    new_canary, new_stable = canary.replicas, stable.replicas
    ceiling = spec.replicas + spec.max_surge
    scale_up = ceiling - (canary.replicas + stable.replicas)
    if stable.replicas < want_stable and scale_up > 0:
        grow = min(scale_up, want_stable - stable.replicas)
        new_stable = stable.replicas + grow
        scale_up -= grow
    if canary.replicas < want_canary and scale_up > 0:
        new_canary = min(want_canary, canary.replicas + scale_up)
    floor = spec.replicas - spec.max_unavailable
    increasing = want_canary >= canary.replicas
    removable = canary.for_scale_down(ignore_availability=not increasing) + stable.for_scale_down(
        ignore_availability=increasing
    )
    if removable <= floor:
        return new_canary, new_stable
    scale_down = removable - floor
    if not increasing:
        if canary.replicas > want_canary:
            new_canary = max(want_canary, canary.replicas - scale_down)
        new_canary, new_stable = _within_limits(
            canary, stable, new_canary, new_stable, ceiling, floor
        )
    else:
        if stable.replicas > want_stable:
            new_stable = max(want_stable, stable.replicas - scale_down)
        new_stable, new_canary = _within_limits(
            stable, canary, new_stable, new_canary, ceiling, floor
        )
    return new_canary, new_stable


def _within_limits(
    drain: SetState, adjust: SetState, drain_count: int, adjust_count: int, ceiling: int, floor: int
) -> tuple[int, int]:
    """Keep the pair under the surge ceiling without dropping availability below the floor;
    `drain` is the set whose availability was not counted."""
    over = max(0, adjust_count + drain_count - ceiling)
    available = min(drain.available, drain_count)
    adjust_count -= over
    available += min(adjust.available, adjust_count)
    extra = max(0, adjust.available - adjust_count)
    missing = max(0, floor - available)
    adjust_count += min(extra, missing)
    over = max(0, adjust_count + drain_count - ceiling)
    return drain_count - over, adjust_count
