"""accel_utils.chain: uniform measurement of every prefix of an optimization chain (correctness only)."""
import pytest
import torch

import accel_utils as au
from accel_utils import chain


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("chain")
    big, small = au.SmallCNN(1, 10, (8, 16)), au.SmallCNN(1, 10, (4, 8))
    x1, xb = torch.randn(1, 1, 12, 12), torch.randn(4, 1, 12, 12)
    kw = dict(min_run_time=0.001, max_run_time=0.02, min_runs=3, device="cpu")
    out = []
    for name, model, acc in (("big", big, 0.9), ("small", small, 0.8)):
        size = chain.save_state_dict(model, folder / f"{name}.pt")
        assert size == (folder / f"{name}.pt").stat().st_size > 0
        out.append(chain.measure_stage(name, chain.eager_runner(model), x1, xb, accuracy=acc,
                                       path=folder / f"{name}.pt", **kw))
    return out


def test_saved_file_loads_back(tmp_path):
    model = au.SmallCNN(1, 10, (4, 8))
    chain.save_state_dict(model, tmp_path / "m.pt")
    other = au.SmallCNN(1, 10, (4, 8))
    other.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_eager_runner_matches_model_and_autocast_runs():
    model = au.SmallCNN(1, 10, (4, 8)).eval()
    x = torch.randn(3, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(chain.eager_runner(model)(x)(), model(x))
    out = chain.eager_runner(model, autocast_dtype=torch.bfloat16)(x)()
    assert out.shape == (3, 10)


def test_measure_stage_fields(stages):
    st = stages[0]
    assert st.batch == 4 and st.accuracy == 0.9 and st.size_bytes > 0
    assert st.latency_1.median > 0 and st.latency_batch.median > 0
    assert st.throughput == pytest.approx(4 / st.latency_batch.median)
    assert stages[1].size_bytes < stages[0].size_bytes


def test_measure_stage_rejects_bad_inputs():
    model = au.SmallCNN(1, 10, (4, 8))
    with pytest.raises(ValueError, match="batch of 1"):
        chain.measure_stage("x", chain.eager_runner(model), torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8), accuracy=1)
    with pytest.raises(ValueError, match="path"):
        chain.measure_stage("x", chain.eager_runner(model), torch.randn(1, 1, 8, 8), torch.randn(2, 1, 8, 8), accuracy=1)


def test_speedups_telescope(stages):
    cum = chain.cumulative_speedups(stages)
    steps = chain.step_speedups(stages)
    assert cum[0].value == pytest.approx(1.0)
    assert len(steps) == len(stages) - 1
    product = 1.0
    for s in steps:
        product *= s.value
    assert product == pytest.approx(cum[-1].value)   # ratios of medians along the chain multiply exactly
    for s in cum + steps:
        assert s.ci_low <= s.value <= s.ci_high


def test_table_and_waterfall(stages):
    text = chain.chain_table(stages)
    assert "big" in text and "small" in text and "1.00×" in text
    fig = chain.plot_waterfall(stages)
    assert len(fig.axes) == 1
    fig2 = chain.plot_waterfall(stages, batched=True)
    assert "batch 4" in fig2.axes[0].get_title()


def test_course_results_falls_back_and_says_not_run(tmp_path):
    mine, ref = tmp_path / "mine", tmp_path / "ref"
    m_a = au.Measurement("a", [2.0, 2.1, 1.9])
    m_b = au.Measurement("b", [1.0, 1.1, 0.9])
    au.record(notebook="08_pruning", technique="prune", baseline=m_a, candidate=m_b, folder=mine,
              size_bytes_baseline=400, size_bytes_candidate=100, accuracy_baseline=0.9, accuracy_candidate=0.88)
    au.record(notebook="09_quantization", technique="int8", baseline=m_a, candidate=m_b, folder=ref)
    au.record(notebook="08_pruning", technique="old", baseline=m_b, candidate=m_a, folder=ref)
    got = chain.course_results(["08_pruning", "09_quantization", "10_knowledge_distillation"],
                               folders=[("mine", mine), ("ref", ref)])
    assert got["08_pruning"][0] == "mine" and got["08_pruning"][1][0]["technique"] == "prune"
    assert got["09_quantization"][0] == "ref"
    assert got["10_knowledge_distillation"] == ("not run", [])
    best = chain.best_record(got["08_pruning"][1], by="size")
    assert best["technique"] == "prune"
    line = chain.describe_record(best, by="size")
    assert "4.0× smaller" in line and "-2.0 pts" in line
    assert chain.best_record([], by="speedup") is None
    assert chain.describe_record(None) == "no matching result recorded"
    with pytest.raises(ValueError):
        chain.best_record([], by="memory")
