"""Correctness of the dynamic-batching serving simulation (no timing)."""
import numpy as np
import pytest

from accel_utils import serving


def test_poisson_arrivals_sorted_and_rate():
    a = serving.poisson_arrivals(100.0, 20000, seed=1)
    assert np.all(np.diff(a) > 0)
    assert abs(len(a) / a[-1] - 100.0) < 3.0


def test_batch_one_idle_server_latency_is_service_time():
    arrivals = np.array([0.0, 1.0, 2.0])
    r = serving.simulate_serving(arrivals, lambda b: 0.1, max_batch=1)
    assert np.allclose(r.latencies, 0.1)
    assert list(r.batch_sizes) == [1, 1, 1]


def test_queueing_when_requests_overlap():
    arrivals = np.array([0.0, 0.0, 0.0])
    r = serving.simulate_serving(arrivals, lambda b: 1.0, max_batch=1)
    assert np.allclose(r.latencies, [1.0, 2.0, 3.0])


def test_batching_waits_to_fill_then_serves_together():
    arrivals = np.array([0.0, 0.1, 0.2, 5.0])
    r = serving.simulate_serving(arrivals, lambda b: 0.5, max_batch=3, max_wait=1.0)
    assert list(r.batch_sizes) == [3, 1]
    assert np.allclose(r.latencies[:3], [0.7, 0.6, 0.5])   # batch closes when full at t=0.2
    assert np.isclose(r.latencies[3], 1.5)                  # alone: waits max_wait, then served


def test_every_request_served_once():
    a = serving.poisson_arrivals(50.0, 500, seed=0)
    r = serving.simulate_serving(a, serving.service_time_from_table({1: 0.01, 8: 0.03}), max_batch=8, max_wait=0.01)
    assert r.batch_sizes.sum() == 500 and r.batch_sizes.max() <= 8
    assert np.all(r.latencies > 0) and 0 < r.utilization <= 1


def test_service_table_interpolates_and_extrapolates():
    s = serving.service_time_from_table({1: 1.0, 3: 2.0})
    assert s(2) == pytest.approx(1.5) and s(6) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        s(0)


def test_knee():
    assert serving.knee([1, 2, 4, 8, 16], [10, 19, 30, 36, 37]) == 8
    with pytest.raises(ValueError):
        serving.knee([1, 2], [1.0])


@pytest.mark.parametrize("load", [0.5, 0.8])
def test_batch_one_matches_queueing_theory(load):
    """Poisson arrivals, one fixed service time: the mean latency is the M/D/1 result (Pollaczek–Khinchine).

    Notebook 03 explains batch-1 serving's tail with queueing: a simulation that lost the queue (each request
    served on arrival) would give a mean latency of one service time and fail here.
    """
    arrivals = serving.poisson_arrivals(load, 100_000, seed=0)
    r = serving.simulate_serving(arrivals, lambda b: 1.0, max_batch=1)
    expected = 1.0 + load / (2 * (1 - load))            # service time + mean wait in the queue
    assert r.latencies.mean() == pytest.approx(expected, rel=0.05)
    assert r.utilization == pytest.approx(load, rel=0.02)
    assert r.p95 > 2 * r.p50                            # the tail is the queue: p95 well above the median


def test_dynamic_batching_never_holds_a_request_past_max_wait_when_idle():
    """Sparse arrivals on an idle server: each request waits at most max_wait, then its batch's service time."""
    arrivals = np.arange(20) * 10.0
    r = serving.simulate_serving(arrivals, lambda b: 0.5, max_batch=8, max_wait=0.2)
    assert np.allclose(r.latencies, 0.7) and list(r.batch_sizes) == [1] * 20
