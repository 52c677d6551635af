import time

import pytest
import torch

import accel_utils as au


def test_benchmark_returns_measurement(monkeypatch):
    monkeypatch.setenv("ACCEL_MODE", "smoke")
    x = torch.randn(64, 64)
    m = au.benchmark(lambda: x @ x, label="mm")
    assert m.label == "mm" and m.threads == torch.get_num_threads()
    assert m.times and all(t > 0 for t in m.times) and m.number_per_run >= 1
    assert min(m.times) <= m.median <= max(m.times)
    assert m.iqr >= 0
    assert "median" in str(m)


def test_benchmark_warms_up_before_timing(monkeypatch):
    monkeypatch.setenv("ACCEL_MODE", "smoke")
    calls = []

    def fn():
        if not calls:
            time.sleep(0.2)  # a slow first call must not be measured
        calls.append(1)

    m = au.benchmark(fn, label="first slow", warmup=1)
    assert m.median < 0.05


def test_benchmark_rejects_non_callable():
    with pytest.raises(TypeError, match="needs a callable"):
        au.benchmark(torch.randn(3), label="oops")


@pytest.mark.parametrize("fn", [au.time_calls, au.time_first_call, au.peak_memory])
def test_other_timers_reject_non_callable(fn):
    with pytest.raises(TypeError, match="callable"):
        fn(42, **({"n": 3} if fn is au.time_calls else {}))


def test_compare_ratio_and_interval():
    base = au.Measurement("slow", [2.0, 2.1, 1.9, 2.0, 2.05, 1.95])
    cand = au.Measurement("fast", [1.0, 1.05, 0.95, 1.0, 1.02, 0.98])
    s = au.compare(base, cand)
    assert s.value == pytest.approx(2.0, rel=0.02)
    assert s.ci_low <= s.value <= s.ci_high
    assert s.ci_low > 1 and s.significant
    assert "2.0" in str(s) and "95% CI" in str(s)


def test_compare_identical_includes_one():
    times = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02]
    s = au.compare(au.Measurement("a", times), au.Measurement("b", list(reversed(times))))
    assert s.ci_low <= 1.0 <= s.ci_high and not s.significant


def test_compare_is_deterministic():
    a, b = au.Measurement("a", [1, 2, 3, 4.0]), au.Measurement("b", [2, 3, 4, 5.0])
    assert au.compare(a, b) == au.compare(a, b)


def test_compare_paired_cancels_drift_between_rounds():
    drifting = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]               # the machine slows down round by round
    base = au.Measurement("base", [1.2 * t for t in drifting])
    cand = au.Measurement("cand", drifting)
    unpaired, paired = au.compare(base, cand), au.compare(base, cand, paired=True)
    assert unpaired.ci_low < 1 < unpaired.ci_high          # drift swamps the change between independent samples
    assert paired.value == pytest.approx(1.2) and paired.ci_low == pytest.approx(1.2) == paired.ci_high
    with pytest.raises(ValueError, match="one time per round"):
        au.compare(base, au.Measurement("short", drifting[:3]), paired=True)


def test_benchmark_interleaved_alternates_and_rotates_the_order():
    order, before = [], torch.get_num_threads()
    fns = {name: (lambda name=name: order.append((name, torch.get_num_threads()))) for name in "abc"}
    ms = au.benchmark_interleaved(fns, rounds=3, warmup=0, block_time=0, threads=1)
    assert list(ms) == ["a", "b", "c"] and all(len(m.times) == 3 and m.number_per_run == 1 for m in ms.values())
    timed = [name for name, _ in order[3:]]                 # after one calibration call each
    assert timed == list("abc" "bca" "cab") and {n for _, n in order} == {1} and torch.get_num_threads() == before
    assert au.compare(ms["a"], ms["b"], paired=True).ci_low > 0


def test_benchmark_interleaved_takes_a_thread_count_per_label():
    seen, before = {}, torch.get_num_threads()
    fns = {name: (lambda name=name: seen.setdefault(name, set()).add(torch.get_num_threads())) for name in "ab"}
    ms = au.benchmark_interleaved(fns, rounds=2, warmup=1, block_time=0, threads={"a": 1, "b": 2})
    assert seen == {"a": {1}, "b": {2}} and ms["a"].threads == 1 and ms["b"].threads == 2
    assert torch.get_num_threads() == before


def test_benchmark_interleaved_rejects_non_callable():
    with pytest.raises(TypeError, match="'x'"):
        au.benchmark_interleaved({"x": 3})


def test_time_calls_gives_one_time_per_call():
    m = au.time_calls(lambda: None, n=25, label="noop")
    assert len(m.times) == 25 and m.percentile(95) >= m.percentile(50)


def test_time_calls_runs_with_the_given_threads_and_restores_them():
    before, seen = torch.get_num_threads(), []
    m = au.time_calls(lambda: seen.append(torch.get_num_threads()), n=2, warmup=1, threads=1)
    assert seen == [1, 1, 1] and m.threads == 1 and torch.get_num_threads() == before


def test_time_first_call_is_seconds():
    assert 0.04 < au.time_first_call(lambda: time.sleep(0.05)) < 1.0


def test_time_first_call_runs_with_the_given_threads_and_restores_them():
    before, seen = torch.get_num_threads(), []
    au.time_first_call(lambda: seen.append(torch.get_num_threads()), threads=1)
    assert seen == [1] and torch.get_num_threads() == before


def test_table_lists_every_measurement():
    a, b = au.Measurement("base", [1.0, 1.1, 0.9]), au.Measurement("cand", [0.5, 0.55, 0.45])
    text = au.table([a, b], items_per_call=10)
    assert "base" in text and "cand" in text and "2.00×" in text and "baseline" in text


def test_peak_memory_counts_the_tensors_a_call_holds_at_once():
    mib = 2 ** 20
    assert au.peak_memory(lambda: torch.ones(16 * mib // 4).add_(1), device="cpu") == 16 * mib  # in place: one tensor
    assert au.peak_memory(lambda: (torch.ones(mib) + 1) * 2, device="cpu") == 8 * mib  # 2 of the 3 temporaries at once
    x = torch.ones(mib)
    assert au.peak_memory(lambda: x.add_(1), device="cpu") == 0  # a tensor that existed before is not new
    assert au.peak_memory(lambda: x.view(2, -1), device="cpu") == 0  # a view allocates nothing
