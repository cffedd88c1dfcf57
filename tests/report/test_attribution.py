"""The attribution models give the weights their documentation promises."""

from __future__ import annotations

import pytest

from abmsync.report.attribution import (
    HALF_LIFE_DAYS,
    Model,
    first_touch,
    last_touch,
    linear,
    time_decay,
    u_shaped,
    w_shaped,
    weights,
)


def test_first_touch_gives_everything_to_the_first_touchpoint() -> None:
    assert first_touch(4) == [1.0, 0.0, 0.0, 0.0]


def test_last_touch_gives_everything_to_the_last_touchpoint() -> None:
    assert last_touch(3) == [0.0, 0.0, 1.0]


def test_linear_shares_equally() -> None:
    assert linear(4) == [0.25] * 4


def test_u_shaped_gives_40_percent_to_first_and_last_and_spreads_20_over_the_middle() -> None:
    assert u_shaped(6) == pytest.approx([0.4, 0.05, 0.05, 0.05, 0.05, 0.4])


def test_u_shaped_splits_two_touchpoints_in_half_and_gives_one_everything() -> None:
    assert u_shaped(2) == [0.5, 0.5]
    assert u_shaped(1) == [1.0]


def test_w_shaped_gives_30_percent_to_first_lead_creation_and_last_and_spreads_10() -> None:
    rest = 0.1 / 3
    assert w_shaped(6, lead_creation=2) == pytest.approx([0.3, rest, 0.3, rest, rest, 0.3])


def test_w_shaped_uses_the_middle_touchpoint_when_no_lead_creation_is_known() -> None:
    assert w_shaped(5) == pytest.approx([0.3, 0.05, 0.3, 0.05, 0.3])
    assert w_shaped(5, lead_creation=0) == w_shaped(5)


def test_w_shaped_with_three_touchpoints_gives_a_third_each() -> None:
    assert w_shaped(3) == pytest.approx([1 / 3] * 3)


def test_time_decay_halves_credit_for_every_half_life_further_back() -> None:
    shares = time_decay([2 * HALF_LIFE_DAYS, HALF_LIFE_DAYS, 0.0])
    assert shares == pytest.approx([1 / 7, 2 / 7, 4 / 7])
    assert HALF_LIFE_DAYS == 7.0


@pytest.mark.parametrize("model", list(Model))
@pytest.mark.parametrize("count", [1, 2, 3, 4, 9])
def test_every_model_shares_out_exactly_the_whole_amount(model: Model, count: int) -> None:
    days = [float(30 - 3 * i) for i in range(count)]
    shares = weights(model, days, lead_creation=1)
    assert len(shares) == count
    assert sum(shares) == pytest.approx(1.0)
    assert all(share >= 0 for share in shares)


@pytest.mark.parametrize("model", list(Model))
def test_no_touchpoints_means_no_credit(model: Model) -> None:
    assert weights(model, []) == []
