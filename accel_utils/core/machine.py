"""What machine this is: CPU/GPU capabilities, the one-line fingerprint, and the device to use."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import torch

from .allocator import allocator_state
from .config import get_mode

BIG_GPU_MULTIPROCESSORS = 80   # A100 108, H100/H200 132; T4 40, L4 58, A10 72
_ISA_FLAGS = {  # /proc/cpuinfo flag -> name shown to the learner
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX512-BF16",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
}


@dataclass(frozen=True)
class GPUInfo:
    """One CUDA device: name, compute capability, memory."""

    index: int
    name: str
    capability: tuple[int, int]
    memory_gb: float
    multiprocessors: int = 0


@dataclass(frozen=True)
class Capabilities:
    """The capability report returned by ``probe()``."""

    cpu_model: str
    physical_cores: int | None
    logical_cpus: int
    torch_threads: int
    isa: tuple[str, ...]
    ram_gb: float | None
    gpus: tuple[GPUInfo, ...] = field(default_factory=tuple)
    cpu_bf16_native: bool = False
    cuda_bf16_native: bool = False
    mps: bool = False
    platform_name: str = "local"
    os_name: str = ""
    python: str = ""
    torch_version: str = ""
    cuda_version: str | None = None
    allocator: str = "default"

    @property
    def has_cuda(self) -> bool:
        """True when at least one CUDA GPU is visible."""
        return bool(self.gpus)

    @property
    def bf16_native(self) -> bool:
        """True when the default device computes bf16 in hardware (not emulated)."""
        return self.cuda_bf16_native if self.has_cuda else self.cpu_bf16_native

    @property
    def cpu_int8_vnni(self) -> bool:
        """True when the CPU has an int8 dot-product instruction (VNNI or AMX), the fast path of INT8 kernels."""
        return bool({"AVX512-VNNI", "AVX-VNNI", "AMX-INT8"} & set(self.isa))

    @property
    def cpu_int8_saturates(self) -> bool:
        """True on x86 CPUs with AVX2 but no VNNI: u8×s8 products summed in int16 can overflow (ORT's reduce_range)."""
        return "AVX2" in self.isa and not self.cpu_int8_vnni

    def as_dict(self) -> dict:
        """A JSON-friendly dict of every field."""
        return asdict(self)

    def summary(self) -> str:
        """A few readable lines for the top of a notebook."""
        lines = [
            f"CPU      {self.cpu_model} — {self.physical_cores or '?'} cores / {self.logical_cpus} threads "
            f"(torch uses {self.torch_threads})",
            f"ISA      {', '.join(self.isa) or 'no AVX2 or better found'}"
            f"  · bf16 native on CPU: {'yes' if self.cpu_bf16_native else 'no'}",
            f"RAM      {self.ram_gb:.1f} GB" if self.ram_gb else "RAM      unknown",
        ]
        if self.gpus:
            for g in self.gpus:
                lines.append(f"GPU {g.index}    {g.name}, compute capability {g.capability[0]}.{g.capability[1]}, "
                             f"{g.memory_gb:.1f} GB · bf16 native: {'yes' if g.capability >= (8, 0) else 'no (emulated)'}")
        else:
            lines.append("GPU      none" + (" (Apple MPS available)" if self.mps else ""))
        lines.append(f"Where    {self.platform_name} · {self.os_name} · Python {self.python} · torch {self.torch_version}"
                     + (f" · CUDA {self.cuda_version}" if self.cuda_version else ""))
        lines.append(f"malloc   {self.allocator}")
        return "\n".join(lines)


def parse_cpuinfo(text: str) -> tuple[str, set[str]]:
    """CPU model name and ISA flags from the text of /proc/cpuinfo (x86 'flags', Arm 'Features')."""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def _cpuinfo() -> tuple[str, set[str]]:
    """CPU model name and flags from /proc/cpuinfo (Linux) or the platform module elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            model, flags = parse_cpuinfo(f.read())
    except OSError:
        model, flags = "", set()
    if not model and sys.platform == "darwin":
        try:
            model = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                   text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            model = ""
    return model or platform.processor() or platform.machine() or "unknown CPU", flags


def _platform_name() -> str:
    """colab, kaggle or local."""
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "kaggle"
    return "local"


@lru_cache(maxsize=1)
def _static_probe() -> dict:
    """The parts of the probe that cannot change while the process runs."""
    import psutil

    model, flags = _cpuinfo()
    isa = tuple(name for flag, name in _ISA_FLAGS.items() if flag in flags)
    if not flags and platform.machine() in ("arm64", "aarch64"):
        isa = ("NEON",)
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append(GPUInfo(i, p.name, (p.major, p.minor), round(p.total_memory / 1e9, 1),
                                int(getattr(p, "multi_processor_count", 0))))
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return dict(
        cpu_model=" ".join(model.split()),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cpus=os.cpu_count() or 1,
        isa=isa,
        ram_gb=round(psutil.virtual_memory().total / 1e9, 1),
        gpus=tuple(gpus),
        cpu_bf16_native=bool({"avx512_bf16", "amx_bf16"} & flags),
        cuda_bf16_native=bool(gpus) and all(g.capability >= (8, 0) for g in gpus),
        mps=mps,
        os_name=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda if gpus else None,
    )


def probe() -> Capabilities:
    """Report CPU, ISA flags, RAM, GPUs, native bf16, platform and versions of this machine."""
    return Capabilities(torch_threads=torch.get_num_threads(), platform_name=_platform_name(),
                        allocator=allocator_state(), **_static_probe())


def _short_cpu(model: str) -> str:
    """CPU model without marketing noise: 'AMD EPYC 9R14 96-Core Processor' -> 'AMD EPYC 9R14'."""
    for junk in ("(R)", "(TM)", "(tm)", " CPU", " Processor"):
        model = model.replace(junk, "")
    words = [w for w in model.split() if not w.endswith("-Core") and w != "@"]
    return " ".join(words)[:40]


def fingerprint() -> str:
    """The one-line machine summary printed beside every result."""
    cap = probe()
    isa = "/".join(s.replace("AVX512-", "") for s in cap.isa if s != "AVX2") or (cap.isa[0] if cap.isa else "")
    parts = [f"{_short_cpu(cap.cpu_model)} ×{cap.torch_threads} threads" + (f" {isa}" if isa else "")]
    if cap.gpus:
        g = cap.gpus[0]
        parts.append(f"{g.name} (sm{g.capability[0]}{g.capability[1]})" + (f" ×{len(cap.gpus)}" if len(cap.gpus) > 1 else ""))
    else:
        parts.append("no GPU")
    parts.append(f"torch {cap.torch_version}")
    if cap.platform_name != "local":
        parts.append(cap.platform_name)
    parts.append(f"mode {get_mode()}")
    return " · ".join(parts)


def parse_device(text: str, *, cuda_count: int, mps: bool = False) -> torch.device:
    """Check a device name (cpu, cuda, cuda:N, mps) against what this machine has; errors name the valid ones."""
    wanted = text.strip().lower()
    available = ["cpu"] + [f"cuda:{i}" for i in range(cuda_count)] + (["mps"] if mps else [])
    kind, _, index = wanted.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"unknown device {text!r}; valid: cpu, cuda, cuda:N, mps (this machine: {', '.join(available)})")
    if kind == "cuda" and cuda_count == 0 or kind == "mps" and not mps:
        raise RuntimeError(f"device {text!r} asked for, but this machine has none; available: {', '.join(available)}")
    if kind == "cuda" and index and int(index) >= cuda_count:
        raise RuntimeError(f"device {text!r} asked for, but only {cuda_count} CUDA device(s) exist: {', '.join(available)}")
    return torch.device(wanted)


def get_device() -> torch.device:
    """The device to run on: ACCEL_DEVICE if set (cpu, cuda, cuda:N, mps), else cuda, else cpu."""
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    wanted = os.environ.get("ACCEL_DEVICE", "").strip()
    if wanted:
        try:
            return parse_device(wanted, cuda_count=count, mps=mps)
        except (ValueError, RuntimeError) as e:
            raise type(e)(f"ACCEL_DEVICE: {e}") from None
    return torch.device("cuda" if count else "cpu")


def synchronize(device: torch.device | str) -> None:
    """Wait until the device has finished the work queued so far (a no-op on the CPU, which runs in order)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_class(device: torch.device | str | None = None) -> str:
    """'cpu', 'gpu' (a T4-class GPU, an Apple GPU) or 'big-gpu' (80+ multiprocessors: A100, H100, H200)."""
    device = get_device() if device is None else torch.device(device)
    if device.type == "cuda":
        gpu = probe().gpus[device.index or 0]
        return "big-gpu" if gpu.multiprocessors >= BIG_GPU_MULTIPROCESSORS else "gpu"
    return "gpu" if device.type == "mps" else "cpu"
