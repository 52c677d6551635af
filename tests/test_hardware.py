import pytest
import torch

import accel_utils as au


def test_probe_reports_this_machine():
    cap = au.probe()
    assert cap.logical_cpus >= 1
    assert cap.torch_threads == torch.get_num_threads()
    assert cap.torch_version == torch.__version__
    assert cap.has_cuda == torch.cuda.is_available()
    assert isinstance(cap.isa, tuple)
    assert cap.platform_name in ("local", "colab", "kaggle")
    text = cap.summary()
    assert "CPU" in text and "GPU" in text and "torch" in text
    assert set(cap.as_dict()) >= {"cpu_model", "gpus", "ram_gb", "cpu_bf16_native"}


def test_bf16_native_is_not_cuda_emulation():
    cap = au.probe()
    if not cap.has_cuda:
        assert cap.bf16_native == cap.cpu_bf16_native
    else:  # a T4 (sm75) says is_bf16_supported() through emulation; the probe must not
        assert cap.cuda_bf16_native == all(g.capability >= (8, 0) for g in cap.gpus)


@pytest.mark.parametrize("isa, vnni, saturates", [
    (("AVX2",), False, True),                                  # Zen 3, Haswell-Skylake: int16 pair sums can overflow
    (("AVX2", "AVX-512", "AVX512-VNNI"), True, False),         # Zen 4, Cascade Lake and newer
    (("AVX2", "AVX-VNNI"), True, False),                       # Alder Lake
    (("NEON",), False, False),                                 # ARM: no u8×s8 int16 path
])
def test_int8_vnni_and_saturation_from_isa(isa, vnni, saturates):
    cap = au.Capabilities(cpu_model="x", physical_cores=1, logical_cpus=1, torch_threads=1, isa=isa, ram_gb=1.0)
    assert (cap.cpu_int8_vnni, cap.cpu_int8_saturates) == (vnni, saturates)


def test_fingerprint_is_one_line_with_versions(monkeypatch):
    monkeypatch.setenv("ACCEL_MODE", "smoke")
    fp = au.fingerprint()
    assert "\n" not in fp
    assert torch.__version__ in fp and "mode smoke" in fp


def test_get_device_default_and_cpu(monkeypatch):
    monkeypatch.delenv("ACCEL_DEVICE", raising=False)
    assert au.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("ACCEL_DEVICE", "cpu")
    assert au.get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ACCEL_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no cuda device is available"):
        au.get_device()


def test_unknown_device_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("ACCEL_DEVICE", "tpu")
    with pytest.raises(ValueError, match="cpu, cuda"):
        au.get_device()
