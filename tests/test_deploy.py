"""accel_utils.deploy: ONNX export with a dynamic batch, parity with eager, ONNX Runtime sessions, size, load time."""
import numpy as np
import onnxruntime  # required dependencies: a broken install fails here, it is never skipped
import onnxscript  # noqa: F401
import pytest
import torch
from torch import nn

from accel_utils import deploy


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = Tiny().eval()
    path = deploy.export_onnx(model, torch.randn(1, 1, 8, 8), tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return model, path


def test_export_writes_one_file_with_dynamic_batch(exported):
    model, path = exported
    assert path.exists() and not path.with_name(path.name + ".data").exists()
    assert deploy.file_size(path) == path.stat().st_size > 0
    ort_model = deploy.OrtModel(path)
    for batch in (1, 3, 17):  # exported from batch 1: the batch must still be dynamic
        assert ort_model(torch.randn(batch, 1, 8, 8)).shape == (batch, 3)


def test_parity_and_max_abs_diff(exported):
    model, path = exported
    ort_model = deploy.OrtModel(path, threads=1, opt_level="all")
    xs = [torch.randn(b, 1, 8, 8) for b in (1, 5)]
    worst = deploy.assert_parity(model, ort_model, xs, atol=1e-4)
    assert 0 <= worst <= 1e-4
    assert deploy.max_abs_diff(model, ort_model, xs[0]) <= worst


def test_parity_failure_names_the_difference(exported):
    model, path = exported
    other = Tiny().eval()  # different weights
    with pytest.raises(AssertionError, match="max abs difference"):
        deploy.assert_parity(other, deploy.OrtModel(path), torch.randn(2, 1, 8, 8), atol=1e-6)


@pytest.mark.parametrize("level", deploy.OPT_LEVELS)
def test_every_optimization_level_gives_the_same_answer(exported, level):
    model, path = exported
    x = torch.randn(2, 1, 8, 8)
    ref = deploy.OrtModel(path, opt_level="disable")(x)
    torch.testing.assert_close(deploy.OrtModel(path, opt_level=level, threads=1)(x), ref, atol=1e-5, rtol=1e-4)


def test_bad_opt_level_is_named():
    with pytest.raises(ValueError, match="unknown opt_level 'fast'"):
        deploy.session_options(opt_level="fast")


def test_session_options_threads():
    so = deploy.session_options(threads=1, opt_level="basic")
    assert so.intra_op_num_threads == 1 and so.inter_op_num_threads == 1


def test_runner_and_evaluate_like_a_module(exported):
    import accel_utils as au

    model, path = exported
    ort_model = deploy.OrtModel(path)
    x = torch.randn(4, 1, 8, 8)
    out = ort_model.runner(x)()
    assert isinstance(out, list) and np.asarray(out[0]).shape == (4, 3)
    y = model(x).argmax(1)
    loader = [(x, y)]
    assert au.evaluate(ort_model, loader, device="cpu") == 1.0


def test_load_time_and_op_counts(exported, tmp_path):
    model, path = exported
    assert deploy.load_seconds(path, example=torch.randn(1, 1, 8, 8), repeats=2) > 0
    counts = deploy.op_counts(path)
    assert counts.get("Conv", 0) >= 1
    state = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), state)
    assert deploy.torch_load_seconds(lambda: Tiny(), state, example=torch.randn(1, 1, 8, 8), repeats=1) > 0


def test_file_size_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        deploy.file_size(tmp_path / "none.onnx")


def test_available_providers_has_cpu():
    assert "CPUExecutionProvider" in deploy.available_providers()


def test_shape_spec_is_trtexec_syntax():
    assert deploy.shape_spec("input", (1, 1, 28, 28)) == "input:1x1x28x28"
    with pytest.raises(ValueError, match="positive dimensions"):
        deploy.shape_spec("input", (0, 3))


def test_tensorrt_options_hold_an_engine_cache_and_one_profile(tmp_path):
    opts = deploy.tensorrt_options(input_name="input", min_shape=(1, 1, 28, 28), opt_shape=(64, 1, 28, 28),
                                   max_shape=(256, 1, 28, 28), cache_dir=tmp_path / "cache", int8=True)
    assert opts["trt_engine_cache_enable"] is True and opts["trt_engine_cache_path"] == str(tmp_path / "cache")
    assert (tmp_path / "cache").is_dir()
    assert opts["trt_profile_min_shapes"] == "input:1x1x28x28"
    assert opts["trt_profile_opt_shapes"] == "input:64x1x28x28"
    assert opts["trt_profile_max_shapes"] == "input:256x1x28x28"
    assert opts["trt_int8_enable"] is True and opts["trt_fp16_enable"] is False


def test_tensorrt_options_refuse_a_profile_out_of_order(tmp_path):
    with pytest.raises(ValueError, match="min ≤ opt ≤ max"):
        deploy.tensorrt_options(input_name="input", min_shape=(8, 3), opt_shape=(4, 3), max_shape=(16, 3),
                                cache_dir=tmp_path)
    with pytest.raises(ValueError, match="another rank"):
        deploy.tensorrt_options(input_name="input", min_shape=(1, 3), opt_shape=(4, 3, 1), max_shape=(16, 3),
                                cache_dir=tmp_path)


def test_cuda_options_keep_fp32_strict_unless_asked():
    assert deploy.cuda_options() == {"use_tf32": "0"}
    assert deploy.cuda_options(tf32=True) == {"use_tf32": "1"}


def test_a_provider_that_cannot_be_used_is_caught(exported):
    """ONNX Runtime falls back to the CPU with only a warning: require_provider reads what the session runs on."""
    _, path = exported
    missing = "TensorrtExecutionProvider"
    if missing in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has TensorRT: the fallback cannot be provoked here")
    with pytest.warns(UserWarning, match="not in available provider names"):
        ort_model = deploy.OrtModel(path, providers=[missing, "CPUExecutionProvider"])
    assert ort_model.providers == ["CPUExecutionProvider"]
    assert deploy.require_provider(ort_model, "CPUExecutionProvider") == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match=f"asked for {missing} but runs on CPUExecutionProvider"):
        deploy.require_provider(ort_model, missing)


def test_bound_runner_reads_the_tensor_in_place(exported):
    """I/O binding runs on the tensor's own memory: the same output as a plain run, and it sees later writes."""
    model, path = exported
    ort_model = deploy.OrtModel(path)
    x = torch.randn(3, 1, 8, 8)
    run = ort_model.bound_runner(x)
    out = run().copy_outputs_to_cpu()[0]
    np.testing.assert_allclose(out, ort_model.run_numpy(x), atol=1e-6)
    x.mul_(2)                                   # bound, not copied: the next call computes on the new values
    np.testing.assert_allclose(run().copy_outputs_to_cpu()[0], ort_model.run_numpy(x), atol=1e-6)


def test_sessions_do_not_spin_unless_asked():
    """Spinning ORT threads would steal the cores of the eager call timed next in the same session."""
    assert deploy.session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert deploy.session_options(allow_spinning=True).get_session_config_entry("session.intra_op.allow_spinning") == "1"
