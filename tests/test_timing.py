"""accel_utils.core.timing: each property the course's numbers rely on has a test that fails when it is removed."""
import threading
import time

import pytest
import torch

import accel_utils as au
from accel_utils.core import timing


def test_benchmark_of_one_callable_is_a_measurement(monkeypatch):
    monkeypatch.setenv("ACCEL_MODE", "smoke")
    x = torch.randn(64, 64)
    m = au.benchmark(lambda: x @ x, label="mm")
    assert isinstance(m, au.Measurement) and m.label == "mm" and m.threads == torch.get_num_threads()
    assert len(m.times) == 8 and all(t > 0 for t in m.times) and m.number_per_run >= 1
    assert min(m.times) <= m.median <= max(m.times) and m.iqr >= 0 and "median" in str(m)


def test_warm_up_keeps_slow_first_calls_out_of_every_round():
    """Without the warm-up calls the first rounds would hold the slow calls (they size the block too)."""
    calls = []

    def fn():
        if len(calls) < 3:
            time.sleep(0.05)   # three slow first calls: a compile, an autotune, a cache fill
        calls.append(1)

    m = au.benchmark(fn, label="slow start", rounds=6, block_time=0.001, warmup=3)
    assert max(m.times) < 0.01, m.times


def test_every_block_is_bracketed_by_device_syncs(monkeypatch):
    """Work queued on a device is only finished at a sync: a block must wait for it before the clock stops."""
    pending = []

    def fake_sync(device):
        for t in pending:
            t.join()
        pending.clear()

    def enqueue():  # returns at once; the 'device' finishes 20 ms later, as a CUDA kernel launch does
        t = threading.Thread(target=time.sleep, args=(0.02,))
        t.start()
        pending.append(t)

    monkeypatch.setattr(timing, "synchronize", fake_sync)
    ms = au.benchmark({"a": enqueue, "b": enqueue}, rounds=3, block_time=0, warmup=1)
    for m in ms.values():
        assert m.number_per_run == 1 and min(m.times) >= 0.018, m.times   # the queued work is inside the time
    assert au.time_first_call(enqueue) >= 0.018
    assert min(au.time_calls(enqueue, n=2, warmup=0).times) >= 0.018


def test_one_sync_policy_for_every_label(monkeypatch):
    """benchmark, time_calls and time_first_call sync before and after each block, the same for every callable."""
    log = []
    monkeypatch.setattr(timing, "synchronize", lambda device: log.append("sync"))
    au.benchmark({"a": lambda: log.append("a"), "b": lambda: log.append("b")}, rounds=2, block_time=0, warmup=0)
    timed = "".join("|" if e == "sync" else e for e in log)
    assert timed == "|a||b|" + "|a||b||b||a|"      # calibration calls, then rounds with the order rotated


def test_rounds_alternate_and_rotate_the_order():
    order = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abc"}
    ms = au.benchmark(fns, rounds=3, warmup=0, block_time=0)
    assert list(ms) == ["a", "b", "c"] and all(len(m.times) == 3 and m.number_per_run == 1 for m in ms.values())
    assert "".join(order[3:]) == "abc" "bca" "cab"          # after one calibration call each


def test_each_callable_follows_every_other_equally_often():
    order = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abcd"}
    au.benchmark(fns, rounds=4, warmup=0, block_time=0)
    rounds = ["".join(order[4 + 4 * r: 8 + 4 * r]) for r in range(4)]       # after one calibration call each
    follows = [(a, b) for r in rounds for a, b in zip(r, r[1:])]
    assert sorted(follows) == sorted((a, b) for a in "abcd" for b in "abcd" if a != b), rounds   # rotation fails
    assert all(sorted(r[i] for r in rounds) == list("abcd") for i in range(4))                   # every position


def test_measurements_of_one_session_are_paired():
    ms = au.benchmark({"a": lambda: None, "b": lambda: None}, rounds=8, block_time=0, warmup=0)
    assert ms["a"].session == ms["b"].session == ms.session
    assert au.compare(ms["a"], ms["b"]).paired
    other = au.benchmark(lambda: None, label="later", rounds=8, block_time=0, warmup=0)
    s = au.compare(ms["a"], other)
    assert not s.paired and not s.has_ci and "timed apart" in str(s)


def test_threads_are_pinned_per_label_and_restored():
    seen, before = {}, torch.get_num_threads()
    fns = {name: (lambda name=name: seen.setdefault(name, set()).add(torch.get_num_threads())) for name in "ab"}
    ms = au.benchmark(fns, rounds=2, warmup=1, block_time=0, threads={"a": 1, "b": 2})
    assert seen == {"a": {1}, "b": {2}} and ms["a"].threads == 1 and ms["b"].threads == 2
    assert torch.get_num_threads() == before
    ran = []
    m = au.time_calls(lambda: ran.append(torch.get_num_threads()), n=2, warmup=1, threads=1)
    assert ran == [1, 1, 1] and m.threads == 1 and torch.get_num_threads() == before


def test_threads_restored_when_the_timed_code_raises():
    before = torch.get_num_threads()

    def boom():
        raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError, match="kernel failed"):
        au.benchmark({"x": boom}, threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad, error, match", [
    ({}, ValueError, "at least one callable"),
    ({"x": 3}, TypeError, "'x'"),
    (torch.randn(3), TypeError, "needs a callable"),
])
def test_bad_inputs_are_named(bad, error, match):
    with pytest.raises(error, match=match):
        au.benchmark(bad)


def test_misspelt_thread_label_is_an_error():
    with pytest.raises(KeyError, match="'c'"):
        au.benchmark({"a": lambda: None, "b": lambda: None}, threads={"a": 1, "c": 2})


@pytest.mark.parametrize("fn", [au.time_calls, au.time_first_call, au.peak_memory])
def test_other_timers_reject_non_callable(fn):
    with pytest.raises(TypeError, match="callable"):
        fn(42, **({"n": 3} if fn is au.time_calls else {}))


def test_time_calls_gives_one_time_per_call():
    m = au.time_calls(lambda: None, n=25, label="noop")
    assert len(m.times) == 25 and m.percentile(95) >= m.percentile(50)


def test_time_first_call_is_seconds():
    assert 0.04 < au.time_first_call(lambda: time.sleep(0.05)) < 1.0


def test_table_lists_every_measurement_with_paired_speedups():
    ms = au.benchmark({"base": lambda: time.sleep(0.002), "cand": lambda: time.sleep(0.001)}, rounds=8,
                      block_time=0, warmup=0)
    text = ms.table(items_per_call=10)
    assert "base" in text and "cand" in text and "baseline" in text and "items/s" in text
    assert set(ms.speedups()) == {"cand"} and ms.speedups()["cand"].value > 1


@pytest.mark.slow
def test_peak_memory_counts_the_tensors_a_call_holds_at_once():
    mib = 2 ** 20
    assert au.peak_memory(lambda: torch.ones(16 * mib // 4).add_(1), device="cpu") == 16 * mib
    assert au.peak_memory(lambda: (torch.ones(mib) + 1) * 2, device="cpu") == 8 * mib
    x = torch.ones(mib)
    assert au.peak_memory(lambda: x.add_(1), device="cpu") == 0
    assert au.peak_memory(lambda: x.view(2, -1), device="cpu") == 0


def test_rounds_timed_elsewhere_make_one_paired_session():
    ms = au.Measurements.from_rounds({"one process": [2.0] * 8, "two processes": [1.0] * 8})
    s = au.compare(ms["one process"], ms["two processes"])
    assert s.paired and s.value == 2.0 and s.has_ci
    with pytest.raises(ValueError, match="one time per round"):
        au.Measurements.from_rounds({"a": [1.0] * 8, "b": [1.0] * 7})
