"""Multi-touch attribution models: how much of an opportunity each touchpoint earns.

Each model is a pure function of an opportunity's touchpoints in time order
(oldest first) returning one weight per touchpoint; the weights sum to 1
(none for no touchpoints).

- ``first_touch``: all credit to the first touchpoint.
- ``last_touch``: all credit to the last touchpoint before the opportunity.
- ``linear``: equal credit to every touchpoint.
- ``u_shaped``: 40 % first, 40 % last, 20 % spread over those between
  (with two touchpoints 50/50; with one, all of it).
- ``w_shaped``: 30 % first, 30 % the lead-creation touchpoint (the first form
  fill; the middle touchpoint when there is none), 30 % last, 10 % spread over
  the rest (with exactly three touchpoints, a third each).
- ``time_decay``: weight ``0.5 ** (days before the opportunity / 7)``: a
  touchpoint a week older earns half as much (half-life ``HALF_LIFE_DAYS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Model(StrEnum):
    """The attribution models the report offers."""

    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    LINEAR = "linear"
    U_SHAPED = "u_shaped"
    W_SHAPED = "w_shaped"
    TIME_DECAY = "time_decay"


HALF_LIFE_DAYS = 7.0
DESCRIPTIONS: dict[Model, str] = {
    Model.FIRST_TOUCH: "first touch: all credit to the first touchpoint",
    Model.LAST_TOUCH: "last touch: all credit to the last touchpoint before the opportunity",
    Model.LINEAR: "linear: equal credit to every touchpoint",
    Model.U_SHAPED: "U-shaped: 40 % first touch, 40 % last touch, 20 % spread over the rest",
    Model.W_SHAPED: (
        "W-shaped: 30 % first touch, 30 % lead creation (first form fill), "
        "30 % last touch, 10 % spread over the rest"
    ),
    Model.TIME_DECAY: (
        f"time decay: credit halves for every {HALF_LIFE_DAYS:g} days a touchpoint "
        "came before the opportunity"
    ),
}


def first_touch(count: int) -> list[float]:
    """All credit to the first of ``count`` touchpoints."""
    return [1.0 if i == 0 else 0.0 for i in range(count)]


def last_touch(count: int) -> list[float]:
    """All credit to the last of ``count`` touchpoints."""
    return [1.0 if i == count - 1 else 0.0 for i in range(count)]


def linear(count: int) -> list[float]:
    """Equal credit to each of ``count`` touchpoints."""
    return [1.0 / count] * count


def u_shaped(count: int) -> list[float]:
    """40 % first, 40 % last, 20 % spread over the touchpoints between."""
    if count <= 2:
        return linear(count) if count else []
    middle = 0.2 / (count - 2)
    return [0.4, *([middle] * (count - 2)), 0.4]


def w_shaped(count: int, lead_creation: int | None = None) -> list[float]:
    """30 % first, 30 % ``lead_creation``, 30 % last, 10 % spread over the rest.

    ``lead_creation`` is the index of the touchpoint that created the lead; when
    it is missing or is the first or last touchpoint, the middle one stands in.
    """
    if count <= 3:
        return linear(count) if count else []
    if lead_creation is None or not 0 < lead_creation < count - 1:
        lead_creation = count // 2
    milestones = {0, lead_creation, count - 1}
    rest = 0.1 / (count - 3)
    return [0.3 if i in milestones else rest for i in range(count)]


def time_decay(days_before: Sequence[float], half_life_days: float = HALF_LIFE_DAYS) -> list[float]:
    """Credit halving every ``half_life_days`` a touchpoint came before the opportunity."""
    raw = [0.5 ** (max(days, 0.0) / half_life_days) for days in days_before]
    total = sum(raw)
    return [w / total for w in raw] if total else []


def weights(
    model: Model, days_before: Sequence[float], lead_creation: int | None = None
) -> list[float]:
    """The weights ``model`` gives touchpoints ``days_before`` the opportunity (oldest first)."""
    count = len(days_before)
    match model:
        case Model.FIRST_TOUCH:
            return first_touch(count)
        case Model.LAST_TOUCH:
            return last_touch(count)
        case Model.LINEAR:
            return linear(count) if count else []
        case Model.U_SHAPED:
            return u_shaped(count)
        case Model.W_SHAPED:
            return w_shaped(count, lead_creation)
        case Model.TIME_DECAY:
            return time_decay(days_before)
