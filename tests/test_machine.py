import pytest
import torch

import accel_utils as au
from accel_utils.core import machine, sizing


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


ZEN4_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
"""


def test_cpuinfo_is_parsed_from_its_text():
    model, flags = machine.parse_cpuinfo(ZEN4_CPUINFO)
    assert model == "AMD EPYC 9R14 96-Core Processor"
    assert {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"} <= flags and "model" not in flags
    model, flags = machine.parse_cpuinfo(ARM_CPUINFO)
    assert model == "" and "asimd" in flags
    assert machine.parse_cpuinfo("") == ("", set())


def test_short_cpu_name_drops_marketing():
    assert machine._short_cpu("AMD EPYC 9R14 96-Core Processor") == "AMD EPYC 9R14"
    assert machine._short_cpu("Intel(R) Xeon(R) CPU @ 2.20GHz") == "Intel Xeon 2.20GHz"


@pytest.mark.parametrize("text, kind", [("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda"), ("CUDA:0", "cuda")])
def test_device_names_are_checked_against_the_machine(text, kind):
    assert machine.parse_device(text, cuda_count=2).type == kind


@pytest.mark.parametrize("text, error, match", [
    ("tpu", ValueError, "unknown device 'tpu'"),
    ("cuda:x", ValueError, "unknown device 'cuda:x'.*cuda:N"),
    ("cpu:1", ValueError, "unknown device"),
    ("cuda", RuntimeError, "has none; available: cpu"),
    ("cuda:2", RuntimeError, "only 2 CUDA device"),
    ("mps", RuntimeError, "has none"),
])
def test_bad_device_names_say_what_is_valid(text, error, match):
    with pytest.raises(error, match=match):
        machine.parse_device(text, cuda_count=0 if text == "cuda" else 2)


def test_accel_device_errors_name_the_variable(monkeypatch):
    monkeypatch.setenv("ACCEL_DEVICE", "cuda:x")
    with pytest.raises(ValueError, match="ACCEL_DEVICE: unknown device 'cuda:x'"):
        au.get_device()


def _gpu(multiprocessors):
    return machine.GPUInfo(0, "GPU", (8, 0), 40.0, multiprocessors)


@pytest.mark.parametrize("multiprocessors, expected", [(40, "gpu"), (58, "gpu"), (108, "big-gpu"), (132, "big-gpu")])
def test_device_class_of_gpus(monkeypatch, multiprocessors, expected):
    cap = au.Capabilities(cpu_model="x", physical_cores=1, logical_cpus=1, torch_threads=1, isa=(), ram_gb=1.0,
                          gpus=(_gpu(multiprocessors),))
    monkeypatch.setattr(machine, "probe", lambda: cap)
    assert au.device_class(torch.device("cuda:0")) == expected
    assert au.device_class("cpu") == "cpu"


@pytest.mark.parametrize("mode, device_class, expected", [
    ("smoke", "big-gpu", "tiny"), ("standard", "cpu", "cpu"), ("standard", "gpu", "gpu"),
    ("standard", "big-gpu", "big-gpu"), ("full", "cpu", "cpu"), ("full", "gpu", "big-gpu")])
def test_workload_is_mode_times_device_class(monkeypatch, mode, device_class, expected):
    monkeypatch.setenv("ACCEL_MODE", mode)
    monkeypatch.setattr(sizing, "device_class", lambda device=None: device_class)
    assert au.workload() == expected
    sizes = dict(tiny=1, cpu=2, gpu=3, big_gpu=4)
    assert au.by_workload(**sizes) == {"tiny": 1, "cpu": 2, "gpu": 3, "big-gpu": 4}[expected]
    assert au.by_workload(tiny=1, cpu=2, gpu=3) == {"tiny": 1, "cpu": 2, "gpu": 3, "big-gpu": 3}[expected]
