"""Seed statistics: known answers for mean +- sd and the paired t-interval."""

from __future__ import annotations

import math

import pytest

from namelstm.experiments.stats import mean_sd, paired_difference, t_975


def test_t_quantiles_from_the_table_and_beyond() -> None:
    assert t_975(1) == 12.706 and t_975(2) == 4.303 and t_975(30) == 2.042
    # Beyond the table: the exact quantiles (scipy.stats.t.ppf), not the normal 1.96 that made
    # intervals up to 4% too narrow.
    for df, exact in ((31, 2.039513), (40, 2.021075), (60, 2.000298), (120, 1.979930), (1000, 1.962339)):
        assert t_975(df) == pytest.approx(exact, abs=1e-6), df
    with pytest.raises(ValueError):
        t_975(0)


def test_mean_sd_uses_the_sample_sd() -> None:
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([0.5]) == (0.5, None)


def test_paired_interval_known_answer() -> None:
    d = paired_difference([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])  # differences 1, 2, 3: mean 2, sd 1
    half = 4.303 / math.sqrt(3)
    assert (d.mean, d.sd, d.n) == (2.0, 1.0, 3)
    assert d.low == pytest.approx(2 - half) and d.high == pytest.approx(2 + half)
    assert not d.exceeds_noise  # -0.48 .. 4.48 holds 0


def test_a_consistent_difference_exceeds_noise_and_one_seed_has_no_interval() -> None:
    assert paired_difference([0.80, 0.81, 0.79], [0.75, 0.755, 0.745]).exceeds_noise
    assert paired_difference([0.79, 0.70, 0.81], [0.80, 0.80, 0.70]).exceeds_noise is False
    single = paired_difference([0.8], [0.7])
    assert single.low is None and not single.exceeds_noise and single.to_dict()["exceeds_noise"] is False
