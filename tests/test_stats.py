"""accel_utils.core.stats: pairing, the bootstrap, intervals of accuracies — each test fails if its property goes."""
import numpy as np
import pytest

import accel_utils as au
from accel_utils.core import stats


def _session(base, cand, session="s1"):
    return au.Measurement("base", list(base), session=session), au.Measurement("cand", list(cand), session=session)


def test_pairing_cancels_drift_between_rounds():
    """The machine slows down round by round; the candidate is 1.2× faster in every round."""
    drifting = np.linspace(1.0, 6.0, 12)
    b, c = _session(1.2 * drifting, drifting)
    s = au.compare(b, c)
    assert s.paired and s.value == pytest.approx(1.2) and s.ci_low == pytest.approx(1.2) == s.ci_high
    apart = au.compare(au.Measurement("base", list(1.2 * drifting)), au.Measurement("cand", list(drifting)))
    assert not apart.paired and apart.ci_low is None                   # timed apart: no interval at all


def test_pairing_is_by_round_not_by_sorted_times():
    """Shuffling one side's rounds must change a paired result (an unpaired statistic would not notice)."""
    rng = np.random.default_rng(1)
    drift = rng.uniform(1, 3, 12)
    b, c = _session(drift * 1.5, drift)
    shuffled = au.Measurement("cand", list(rng.permutation(drift)), session="s1")
    assert au.compare(b, c).ci_high - au.compare(b, c).ci_low < 1e-9
    assert au.compare(b, shuffled).ci_high - au.compare(b, shuffled).ci_low > 0.1


def test_few_rounds_show_their_values_not_an_interval():
    b, c = _session([2.0, 2.2, 1.8], [1.0, 1.0, 1.0])
    s = au.compare(b, c)
    assert s.ci_low is None and s.values == (2.0, 2.2, 1.8) and "too few rounds" in str(s)
    assert not s.significant and not s.faster


def test_rounds_must_match_within_a_session():
    b, c = _session([1.0] * 8, [1.0] * 7)
    with pytest.raises(ValueError, match="one time per round"):
        au.compare(b, c)


def test_bootstrap_interval_covers_the_true_median_about_95_percent_of_the_time():
    """A broken bootstrap (wrong percentiles, no resampling) misses this by far."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(300):
        sample = rng.lognormal(mean=0.0, sigma=0.3, size=30)     # true median exp(0) = 1
        low, high = stats.bootstrap_ci(sample, n_boot=500, seed=int(rng.integers(1 << 31)))
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / 300 <= 0.99, covered / 300


def test_bootstrap_is_deterministic_for_a_seed():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert stats.bootstrap_ci(x, seed=3) == stats.bootstrap_ci(x, seed=3)


def test_speedup_flags_read_the_interval():
    faster = stats.paired_speedup([1.3] * 5 + [1.4] * 5, "a", "b")
    same = stats.paired_speedup([0.9, 1.1] * 5, "a", "b")
    assert faster.faster and faster.significant and not faster.slower
    assert not same.significant and same.ci_low < 1 < same.ci_high
    with pytest.raises(ValueError, match="positive"):
        stats.paired_speedup([1.0, 0.0], "a", "b")


@pytest.mark.parametrize("correct, total, low, high", [(970, 1000, 0.9574, 0.9794), (0, 10, 0.0, 0.2775),
                                                       (10, 10, 0.7225, 1.0)])
def test_wilson_interval_matches_the_formula(correct, total, low, high):
    assert au.wilson_interval(correct, total) == pytest.approx((low, high), abs=1e-3)


def test_accuracy_is_a_float_with_its_interval():
    a = au.Accuracy(970, 1000)
    assert a == pytest.approx(0.97) and a * 100 == pytest.approx(97.0)
    assert a.low < 0.97 < a.high and a.n == 1000 and "97.0%" in str(a) and "n=1000" in str(a)
    with pytest.raises(ValueError, match="empty"):
        au.Accuracy(0, 0)


def test_accuracy_difference_is_paired_over_the_same_examples():
    rng = np.random.default_rng(0)
    base = rng.random(1000) < 0.95
    cand = base.copy()
    flip = rng.choice(np.flatnonzero(~base), size=20, replace=False)     # the candidate fixes 20 mistakes
    cand[flip] = True
    d = au.accuracy_difference(au.Accuracy.from_correct(base), au.Accuracy.from_correct(cand))
    assert d.paired and d.value == pytest.approx(2.0) and d.significant and d.verdict() == "better"
    unpaired = au.accuracy_difference(au.Accuracy(int(base.sum()), 1000), au.Accuracy(int(cand.sum()), 1000))
    assert not unpaired.paired and unpaired.ci_high - unpaired.ci_low > d.ci_high - d.ci_low


def test_paired_difference_over_few_seeds_shows_values():
    d = au.paired_difference([0.96, 0.97, 0.965], [0.97, 0.975, 0.968], what="points")
    assert d.ci_low is None and len(d.values) == 3 and "too few samples" in str(d)
    many = au.paired_difference([0.9] * 10, [0.95] * 10)
    assert many.has_ci and many.significant


def test_accuracy_difference_counts_changes_both_ways():
    """20 mistakes fixed and 10 new ones: +1 point, whose paired interval (McNemar's, ±1.07) includes 0."""
    base = np.zeros(1000, dtype=bool)
    base[:950] = True
    cand = base.copy()
    cand[950:970] = True       # fixed
    cand[:10] = False          # broken
    d = au.accuracy_difference(au.Accuracy.from_correct(base), au.Accuracy.from_correct(cand))
    assert d.value == pytest.approx(1.0) and not d.significant
    assert (d.ci_high - d.ci_low) / 2 == pytest.approx(1.07, abs=0.2)


def test_per_item_times_stay_paired():
    b, c = _session([8.0] * 8, [16.0] * 8)
    per_sample = au.compare(b.per_item(1), c.per_item(4, label="batch 4 per sample"))
    assert per_sample.paired and per_sample.value == pytest.approx(2.0)


def test_speedup_verdict_reads_the_interval():
    from accel_utils.core.stats import Speedup
    assert Speedup(1.2, 1.1, 1.3, "a", "b").verdict() == "faster"
    assert Speedup(0.8, 0.7, 0.9, "a", "b").verdict() == "slower"
    assert Speedup(1.0, 0.9, 1.1, "a", "b").verdict() == "no measurable difference"
    assert Speedup(1.5, None, None, "a", "b", values=(1.4, 1.6)).verdict() == "too few rounds to say"
