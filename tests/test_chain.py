"""accel_utils.chain: one paired session for every stage, a step kept only when it helps, records read like for like."""
import collections

import numpy as np
import pytest
import torch

import accel_utils as au
from accel_utils import chain
from accel_utils.core.timing import Measurements


def _stage(name, size=1000, runtime=chain.EAGER, role="chain", device="cpu"):
    return chain.Stage(name, lambda x: (lambda: None), size, runtime, device, role=role)


def _session(**times):
    return Measurements.from_rounds({k: list(v) for k, v in times.items()})


ROUNDS = 12
RNG = np.random.default_rng(0)
DRIFT = 1.0 + 0.5 * RNG.random(ROUNDS)          # the machine's speed changes from round to round


def test_saved_file_loads_back(tmp_path):
    model = au.SmallCNN(1, 10, (4, 8))
    size = chain.save_state_dict(model, tmp_path / "m.pt")
    assert size == (tmp_path / "m.pt").stat().st_size > 0
    other = au.SmallCNN(1, 10, (4, 8))
    other.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_eager_runner_matches_model_and_autocast_runs():
    model = au.SmallCNN(1, 10, (4, 8)).eval()
    x = torch.randn(3, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(chain.eager_runner(model)(x)(), model(x))
    assert chain.eager_runner(model, autocast_dtype=torch.bfloat16)(x)().shape == (3, 10)


def test_eager_stage_size_is_the_file_on_disk(tmp_path):
    big, small = au.SmallCNN(1, 10, (8, 16)), au.SmallCNN(1, 10, (4, 8))
    a = chain.eager_stage("big", big, tmp_path / "big.pt", accuracy=0.9)
    b = chain.eager_stage("small", small, tmp_path / "small.pt")
    assert a.size_bytes == (tmp_path / "big.pt").stat().st_size
    assert b.size_bytes < a.size_bytes and a.runtime == chain.EAGER and a.device == "cpu"
    with pytest.raises(ValueError, match="role"):
        chain.Stage("x", lambda x: None, 1, chain.EAGER, role="bogus")


def test_measure_times_every_stage_in_one_paired_session_per_batch(tmp_path):
    stages = [chain.eager_stage(n, au.SmallCNN(1, 10, w), tmp_path / f"{n}.pt")
              for n, w in (("big", (8, 16)), ("small", (4, 8)))]
    times = chain.measure(stages, [torch.randn(1, 1, 12, 12), torch.randn(4, 1, 12, 12)], device="cpu", rounds=4,
                          block_time=0.002)
    assert list(times) == [1, 4]
    for ms in times.values():
        assert set(ms) == {"big", "small"}
        assert ms["big"].session == ms["small"].session                    # one session: paired
        assert len(ms["big"].times) == len(ms["small"].times) == 4
        assert chain.cumulative_speedups(ms, ["big", "small"])[1].paired
    assert times[1].session != times[4].session


def test_measure_refuses_a_stage_on_another_device_and_bad_inputs():
    with pytest.raises(ValueError, match="every stage must run on cpu"):
        chain.measure([_stage("a"), _stage("b", device="cuda:0")], [torch.zeros(1)], device="cpu")
    with pytest.raises(ValueError, match="unique"):
        chain.measure([_stage("a"), _stage("a")], [torch.zeros(1)])
    with pytest.raises(ValueError, match="at least one"):
        chain.measure([], [torch.zeros(1)])
    with pytest.raises(ValueError, match="one input per batch"):
        chain.measure([_stage("a")], [torch.zeros(2, 1), torch.zeros(2, 1)], rounds=2, block_time=0.001)


def test_identical_code_reads_one_despite_drift():
    """Two stages that do the same work, timed in the same rounds, read 1.00× even when the machine drifts."""
    base_t = 1e-3 * DRIFT
    ms = _session(before=base_t, after=base_t * (1 + 0.01 * RNG.standard_normal(ROUNDS)))
    s = chain.step_speedups(ms, ["before", "after"])[0]
    assert s.value == pytest.approx(1.0, abs=0.02) and not s.significant


def test_step_and_cumulative_speedups_are_paired_by_round():
    ms = _session(a=4e-3 * DRIFT, b=2e-3 * DRIFT, c=1e-3 * DRIFT)
    cum = chain.cumulative_speedups(ms, ["a", "b", "c"])
    steps = chain.step_speedups(ms, ["a", "b", "c"])
    assert [round(s.value, 6) for s in cum] == [1.0, 2.0, 4.0]
    assert [round(s.value, 6) for s in steps] == [2.0, 2.0]
    assert all(s.ci_low == pytest.approx(s.ci_high) for s in cum + steps)   # drift cancels round by round


def test_interaction_is_the_per_round_ratio_of_the_two_steps():
    ms = _session(base=4e-3 * DRIFT, base_q=2e-3 * DRIFT, small=1e-3 * DRIFT, small_q=1.25e-3 * DRIFT)
    r = chain.interaction(ms, ("base", "base_q"), ("small", "small_q"))
    assert r.value == pytest.approx(0.8 / 2.0) and r.slower            # INT8: 2× alone, 0.8× in the chain
    with pytest.raises(KeyError, match="no stage"):
        chain.interaction(ms, ("base", "nope"), ("small", "small_q"))


def _judge(before_t, after_t, *, acceptable=True, runtimes=(chain.EAGER, chain.EAGER)):
    ms = _session(before=before_t, after=after_t)
    return chain.judge_step("step", _stage("before", runtime=runtimes[0]), _stage("after", runtime=runtimes[1]), ms,
                            acceptable=acceptable)


def test_a_step_is_kept_only_when_measurably_faster_and_within_budget():
    base_t = 1e-3 * DRIFT
    faster = _judge(base_t, base_t / 1.5)
    assert faster.kept and "1.50×" in faster.reason and str(faster).startswith("KEEP")
    slower = _judge(base_t, base_t * 1.4)                               # INT8 that made the model slower
    assert not slower.kept and "not measurably faster" in slower.reason and str(slower).startswith("DROP")
    noise = base_t * np.where(np.arange(ROUNDS) % 2 == 0, 0.9, 1.1)       # straddles 1: does not help measurably
    assert not _judge(base_t, noise).kept
    assert not _judge(base_t, base_t / 3, acceptable=False).kept         # faster, but loses too much accuracy
    cross = _judge(base_t, base_t / 2, runtimes=(chain.EAGER, chain.ORT))
    assert cross.kept and "cross-runtime" in cross.reason
    assert "cross-runtime" not in faster.reason


def test_replay_drops_what_does_not_help_and_judges_the_next_step_against_the_last_kept():
    sizes = {"start": 100, "bigger": 120, "smaller": 90, "no gain": 89, "much smaller": 40}
    cands = [_stage(n, s) for n, s in sizes.items()]
    assert chain.replay(cands, chain.smaller_by(1.05, lambda st: True)) == [True, False, True, False, True]
    # judged against the last KEPT stage (100), not the dropped one (50): 60 < 100 pays
    cands = [_stage("start", 100), _stage("fails budget", 50), _stage("next", 60)]
    assert chain.replay(cands, chain.smaller_by(1.05, lambda st: st.name != "fails budget")) == [True, False, True]
    assert chain.replay(cands, lambda a, b: False) == [True, False, False]
    with pytest.raises(ValueError):
        chain.replay([], lambda a, b: True)
    with pytest.raises(ValueError):
        chain.smaller_by(0.9, lambda st: True)


def test_the_chain_ends_at_the_measured_best():
    stages = [_stage("base"), _stage("fast"), _stage("fastest but inaccurate")]
    ms = _session(base=3e-3 * DRIFT, fast=1e-3 * DRIFT, **{"fastest but inaccurate": 0.5e-3 * DRIFT})
    assert chain.fastest(stages, ms, lambda s: True).name == "fastest but inaccurate"
    assert chain.fastest(stages, ms, lambda s: "inaccurate" not in s.name).name == "fast"
    with pytest.raises(ValueError):
        chain.fastest(stages, ms, lambda s: False)


def test_table_and_plot_show_kept_and_dropped(tmp_path):
    stages = [_stage("base"), _stage("step a"), _stage("pruned", role="intermediate"), _stage("step b")]
    ms = _session(base=2e-3 * DRIFT, **{"step a": 1e-3 * DRIFT, "pruned": 1e-3 * DRIFT, "step b": 1.1e-3 * DRIFT})
    decisions = [chain.Decision("a", "base", "step a", True, "x"), chain.Decision("b", "step a", "step b", False, "y")]
    text = chain.chain_table(stages, {1: ms}, decisions=decisions)
    lines = dict(line.split("  ", 1) for line in text.splitlines()[1:])
    assert "kept" in lines["step a"] and "dropped" in lines["step b"] and "(not a step)" in lines["pruned"]
    assert "1.00× (baseline)" in lines["base"]
    fig = chain.plot_chain(stages, ms, kept=["base", "step a"])
    assert len(fig.axes) == 2


def test_ort_stage_does_not_spin_and_matches_eager(tmp_path):
    from accel_utils import deploy
    model = au.SmallCNN(1, 10, (4, 8)).eval()
    x = torch.randn(2, 1, 12, 12)
    path = deploy.export_onnx(model, x, tmp_path / "m.onnx")
    ort_m = deploy.OrtModel(path)
    assert ort_m.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    deploy.assert_parity(model, ort_m, [x[:1], x], atol=1e-4)
    st = chain.ort_stage("ort", ort_m)
    assert st.runtime == chain.ORT and st.device == "cpu" and st.size_bytes == path.stat().st_size


def _rec(**kw):
    r = {"technique": "t", "runtime": chain.SAME_RUNTIME, "speedup": 2.0, "paired": True, "extra": {"batch": 1}}
    r.update(kw)
    return r


def test_like_for_like_keeps_only_same_runtime_trained_paired_same_batch_records():
    same = chain.SAME_RUNTIME
    recs = [_rec(runtime=same, technique="ok"),
            _rec(runtime="cross", technique="int8 vs eager"),
            _rec(runtime=same, technique="fast on random weights"),
            _rec(runtime=same, technique="at 64", extra={"batch": 64}),
            _rec(runtime=same, technique="timed apart", paired=False),
            _rec(runtime=None, technique="old")]
    kept, left = chain.like_for_like(recs, by="speedup", batch=1)
    assert [r["technique"] for r in kept] == ["ok"]
    assert left == collections.Counter({"cross-runtime": 1, "random weights": 1, "another batch size": 1,
                                        "not paired": 1, "runtime not recorded": 1})
    # every qualifying record, in order, not the best one
    kept, _ = chain.like_for_like([_rec(runtime=same, speedup=1.2), _rec(runtime=same, speedup=9.0)], batch=1)
    assert [r["speedup"] for r in kept] == [1.2, 9.0]
    with pytest.raises(ValueError):
        chain.like_for_like([], by="memory")


def test_course_results_falls_back_and_says_not_run(tmp_path):
    mine, ref = tmp_path / "mine", tmp_path / "ref"
    ms = _session(a=[2.0, 2.1, 1.9, 2.0, 2.2, 2.0], b=[1.0, 1.1, 0.9, 1.0, 1.1, 1.0])
    au.record(notebook="08_pruning", technique="prune", baseline=ms["a"], candidate=ms["b"], folder=mine,
              size_bytes_baseline=400, size_bytes_candidate=100)
    au.record(notebook="09_quantization", technique="int8", baseline=ms["a"], candidate=ms["b"], folder=ref)
    au.record(notebook="08_pruning", technique="old", baseline=ms["b"], candidate=ms["a"], folder=ref)
    got = chain.course_results(["08_pruning", "09_quantization", "10_knowledge_distillation"],
                               folders=[("mine", mine), ("ref", ref)])
    assert got["08_pruning"][0] == "mine" and got["08_pruning"][1][0]["technique"] == "prune"
    assert got["09_quantization"][0] == "ref"
    assert got["10_knowledge_distillation"] == ("not run", [])
    kept, _ = chain.like_for_like(got["08_pruning"][1], by="size")
    assert "4.0× smaller" in chain.describe_record(kept[0], by="size")
    assert chain.describe_left_out(collections.Counter()) == ""


def test_answer_key_14_3_follows_the_measured_interval():
    from accel_utils.core.stats import Speedup
    from accel_utils.teaching.answers import answer_key
    key = answer_key("14.3")
    assert key.correct_for({"int8_chain_over_alone": Speedup(0.6, 0.5, 0.7, "alone", "chain")}) == "b"
    assert key.correct_for({"int8_chain_over_alone": Speedup(0.9, 0.7, 1.1, "alone", "chain")}) == "d"
    assert key.correct_for({"int8_chain_over_alone": Speedup(1.3, 1.1, 1.5, "alone", "chain")}) == "d"
    assert key.correct_for({}) == "d"
    assert set(key.feedback) == set(key.options) == {"a", "b", "c", "d"}
