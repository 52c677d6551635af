"""Deployment helpers: ONNX export with a dynamic batch, parity against eager, ONNX Runtime sessions, load time, size.

The chain a notebook (or the capstone) runs::

    from accel_utils import deploy
    path = deploy.export_onnx(model, x_example, "model.onnx")            # dynamic batch, dynamo exporter
    ort_model = deploy.OrtModel(path, threads=2, opt_level="all")       # an ONNX Runtime session
    diff = deploy.assert_parity(model, ort_model, x_test, atol=1e-4)    # max |eager - ORT|, asserted
    m = au.benchmark(ort_model.runner(x), label="ORT fp32")             # time session.run, no torch overhead
    au.evaluate(ort_model, test_loader)                                 # accuracy, like an nn.Module
    deploy.file_size(path), deploy.load_seconds(path, example=x)        # bytes on disk, start-up time

On an NVIDIA GPU (onnxruntime-gpu), the same file runs on the CUDA or TensorRT execution provider. ONNX Runtime
falls back to the next provider in the list, with only a warning, when one cannot be used, so check what the
session really runs on::

    trt = deploy.OrtModel(path, providers=[("TensorrtExecutionProvider", deploy.tensorrt_options(
        input_name="input", min_shape=(1, 1, 28, 28), opt_shape=(64, 1, 28, 28), max_shape=(256, 1, 28, 28),
        cache_dir="trt_cache", int8=True)), ("CUDAExecutionProvider", deploy.cuda_options(tf32=False))])
    deploy.require_provider(trt, "TensorrtExecutionProvider")         # session.get_providers(), not the request
"""
from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .core.quiet import quiet_libraries

OPT_LEVELS = ("disable", "basic", "extended", "all")


def _to_numpy(x) -> np.ndarray:
    """A contiguous float32/int NumPy array from a tensor or array (on the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu").contiguous().numpy()
    return np.ascontiguousarray(x)


def _quiet():
    """Silence the exporter's progress prints and warnings (they are noise in a notebook)."""
    return quiet_libraries(("torch.onnx", "torch.export", "torch._dynamo", "onnxscript"))


def export_onnx(model: nn.Module, example_input: torch.Tensor, path: str | Path, *, dynamic_batch: bool = True,
                dynamo: bool = True, opset: int | None = None, input_name: str = "input",
                output_name: str = "logits", max_batch: int = 4096, quiet: bool = True) -> Path:
    """Export ``model`` (one tensor in, one tensor out) to one ONNX file with the batch dimension dynamic.

    ``dynamo=True`` is the torch.export-based exporter (needs the ``onnxscript`` package); ``dynamo=False`` is the
    legacy TorchScript-based exporter (deprecated, kept for old models). The model is exported from the CPU in eval
    mode; weights are stored inside the file (no external ``.data`` file). Returns the path.
    Example: ``deploy.export_onnx(model, torch.randn(8, 1, 28, 28), "cnn.onnx")``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    x = example_input.detach().to("cpu")
    if dynamic_batch and x.shape[0] == 1:  # torch.export specializes a size-1 dimension: give it a batch of 2
        x = torch.cat([x, x])
    device = next(iter(model.parameters()), torch.empty(0)).device
    model_cpu = model.to("cpu")
    kwargs = dict(input_names=[input_name], output_names=[output_name], dynamo=dynamo)
    if opset is not None:
        kwargs["opset_version"] = opset
    if dynamic_batch and dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=max_batch)},)
    elif dynamic_batch:
        kwargs["dynamic_axes"] = {input_name: {0: "batch"}, output_name: {0: "batch"}}
    if dynamo:
        kwargs["external_data"] = False
    try:
        with (_quiet() if quiet else contextlib.nullcontext()), torch.no_grad():
            torch.onnx.export(model_cpu, (x,), str(path), **kwargs)
    finally:
        model.to(device)
        model.train(was_training)
    return path


def file_size(path: str | Path) -> int:
    """Bytes on disk of an ONNX (or any) file, including an external-data file ``<path>.data`` beside it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file {path}")
    extra = path.with_name(path.name + ".data")
    return path.stat().st_size + (extra.stat().st_size if extra.exists() else 0)


def session_options(*, threads: int | None = None, opt_level: str = "all", inter_threads: int = 1,
                    optimized_model_path: str | Path | None = None, allow_spinning: bool = False):
    """onnxruntime.SessionOptions: graph optimization level (disable/basic/extended/all) and thread counts.

    ``threads`` (intra-op) defaults to ``torch.get_num_threads()``, so ORT and PyTorch are timed with the same
    number of cores. ``optimized_model_path`` writes the graph ORT actually runs (to inspect fusions).
    ``allow_spinning=False``: ORT's worker threads sleep after a run instead of spinning, so they do not steal
    the cores of whatever is timed next (eager PyTorch in the same session); a server with cores to spare may spin.
    """
    import onnxruntime as ort

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if opt_level not in levels:
        raise ValueError(f"unknown opt_level {opt_level!r}; valid: {', '.join(OPT_LEVELS)}")
    so = ort.SessionOptions()
    so.graph_optimization_level = levels[opt_level]
    so.intra_op_num_threads = int(threads or torch.get_num_threads())
    so.inter_op_num_threads = int(inter_threads)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # errors only
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    if optimized_model_path is not None:
        so.optimized_model_filepath = str(optimized_model_path)
    return so


def available_providers() -> list[str]:
    """ONNX Runtime execution providers in this installation (CPU always; CUDA/TensorRT with onnxruntime-gpu)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def shape_spec(input_name: str, shape: Sequence[int]) -> str:
    """``'input:1x1x28x28'``: one input's shape as trtexec and ONNX Runtime's TensorRT profile options write it."""
    dims = [int(d) for d in shape]
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"a shape needs positive dimensions, got {tuple(shape)}")
    return f"{input_name}:" + "x".join(str(d) for d in dims)


def tensorrt_options(*, input_name: str, min_shape: Sequence[int], opt_shape: Sequence[int],
                     max_shape: Sequence[int], cache_dir: str | Path, int8: bool = False,
                     fp16: bool = False) -> dict:
    """Provider options for ONNX Runtime's TensorRT execution provider: one shape profile and an engine cache.

    TensorRT builds an engine for a range of input shapes (the profile: smallest, most frequent, largest batch),
    which takes seconds to minutes; ``cache_dir`` keeps the built engine (and TensorRT's timing cache) on disk so
    the next session with the same model and profile loads it instead. ``int8`` turns on INT8 kernels: with a
    QDQ file (quantize.tensorrt_int8) TensorRT takes the scales from its Q/DQ nodes; ``fp16`` lets the layers
    left in floating point run in fp16.
    """
    for name, shape in (("min", min_shape), ("opt", opt_shape), ("max", max_shape)):
        if len(shape) != len(min_shape):
            raise ValueError(f"the {name} shape {tuple(shape)} has another rank than the min shape {tuple(min_shape)}")
    if not all(lo <= mid <= hi for lo, mid, hi in zip(min_shape, opt_shape, max_shape)):
        raise ValueError(f"profile shapes must satisfy min ≤ opt ≤ max in every dimension: "
                         f"{tuple(min_shape)}, {tuple(opt_shape)}, {tuple(max_shape)}")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    return {
        "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache_dir),
        "trt_profile_min_shapes": shape_spec(input_name, min_shape),
        "trt_profile_opt_shapes": shape_spec(input_name, opt_shape),
        "trt_profile_max_shapes": shape_spec(input_name, max_shape),
        "trt_int8_enable": bool(int8), "trt_fp16_enable": bool(fp16),
    }


def cuda_options(*, tf32: bool = False) -> dict:
    """Provider options for ONNX Runtime's CUDA execution provider; ``tf32=False`` keeps fp32 strict, as in eager."""
    return {"use_tf32": "1" if tf32 else "0"}


def require_provider(ort_model: OrtModel, provider: str) -> list[str]:
    """The providers the session really runs on (``session.get_providers()``); raise if ``provider`` is not one.

    ONNX Runtime drops a requested provider it cannot load (missing library, no GPU) and carries on with the
    next, warning only: a "TensorRT" timing would then measure CUDA or the CPU.
    """
    real = list(ort_model.session.get_providers())
    if provider not in real:
        raise RuntimeError(f"the session was asked for {provider} but runs on {', '.join(real)}")
    return real


def ort_session(path: str | Path, *, threads: int | None = None, opt_level: str = "all",
                providers: Sequence | None = None, inter_threads: int = 1):
    """An onnxruntime.InferenceSession for ``path`` (CPU execution provider unless ``providers`` are given)."""
    import onnxruntime as ort

    so = session_options(threads=threads, opt_level=opt_level, inter_threads=inter_threads)
    return ort.InferenceSession(str(path), sess_options=so, providers=list(providers or ["CPUExecutionProvider"]))


class OrtModel:
    """An ONNX Runtime session that can stand in for an nn.Module at inference.

    ``OrtModel(path)(x)`` takes and returns torch tensors (on the CPU), so ``au.evaluate(OrtModel(path), loader)``
    works; ``runner(x)`` returns a zero-argument callable around ``session.run`` for timing without conversions.
    """

    training = False

    def __init__(self, path: str | Path, *, threads: int | None = None, opt_level: str = "all",
                 providers: Sequence | None = None, session=None):
        self.path = Path(path)
        self.session = session or ort_session(path, threads=threads, opt_level=opt_level, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @property
    def providers(self) -> list[str]:
        """The execution providers the session really runs on, in priority order (not the ones requested)."""
        return list(self.session.get_providers())

    def run_numpy(self, x) -> np.ndarray:
        """Outputs for a NumPy array or tensor input, as a NumPy array."""
        return self.session.run([self.output_name], {self.input_name: _to_numpy(x).astype(np.float32, copy=False)})[0]

    def __call__(self, x) -> torch.Tensor:
        return torch.from_numpy(self.run_numpy(x))

    def runner(self, x) -> Callable[[], object]:
        """A callable that runs the session on a fixed input (converted once): for au.benchmark / au.time_calls."""
        feed = {self.input_name: _to_numpy(x).astype(np.float32, copy=False)}
        names = [self.output_name]
        return lambda: self.session.run(names, feed)

    def bound_runner(self, x: torch.Tensor) -> Callable[[], object]:
        """A callable that runs the session on tensor ``x`` where it lives (I/O binding), output left there too.

        For a session on a GPU provider and a CUDA tensor, no host copy is made per call, so the timing is the
        runtime's, as ``model(x)`` on a CUDA tensor is eager's. On the CPU it binds CPU memory the same way.
        ``au.benchmark`` synchronizes the whole device, which covers ONNX Runtime's own CUDA stream.
        """
        x = x.detach().contiguous().float()
        device_type, device_id = ("cuda", x.device.index or 0) if x.is_cuda else ("cpu", 0)
        binding = self.session.io_binding()
        binding.bind_input(name=self.input_name, device_type=device_type, device_id=device_id,
                           element_type=np.float32, shape=tuple(x.shape), buffer_ptr=x.data_ptr())
        binding.bind_output(self.output_name, device_type, device_id)

        def run():
            self.session.run_with_iobinding(binding)
            return binding

        run.input = x          # the bound memory must outlive the callable
        return run

    # nn.Module-like no-ops so au.evaluate() can call them
    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def __repr__(self) -> str:
        return f"OrtModel({self.path.name}, providers={self.session.get_providers()})"


def max_abs_diff(model: nn.Module, ort_model: OrtModel, x: torch.Tensor) -> float:
    """Largest |eager output - ONNX Runtime output| on input x (model run in eval mode on the CPU)."""
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    with torch.inference_mode():
        ref = model(x.to(device)).float().cpu().numpy()
    model.train(was_training)
    got = ort_model.run_numpy(x)
    if ref.shape != got.shape:
        raise AssertionError(f"output shapes differ: eager {ref.shape} vs ONNX Runtime {got.shape}")
    return float(np.max(np.abs(ref - got)))


def assert_parity(model: nn.Module, ort_model: OrtModel, inputs: torch.Tensor | Sequence[torch.Tensor], *,
                  atol: float = 1e-4) -> float:
    """Assert eager and ONNX Runtime agree within ``atol`` on every input (e.g. several batch sizes); return max diff."""
    xs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
    worst = 0.0
    for x in xs:
        d = max_abs_diff(model, ort_model, x)
        worst = max(worst, d)
        if not d <= atol:
            raise AssertionError(f"parity failed for input {tuple(x.shape)}: max abs difference {d:.3g} > atol {atol:g}")
    return worst


def load_seconds(path: str | Path, *, example=None, repeats: int = 3, **session_kwargs) -> float:
    """Median seconds to create a session for ``path`` (plus its first run on ``example`` if given): start-up time."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = OrtModel(path, **session_kwargs)
        if example is not None:
            m.run_numpy(example)
        times.append(time.perf_counter() - t0)
        del m
    return float(statistics.median(times))


def torch_load_seconds(build: Callable[[], nn.Module], state_path: str | Path, *, example=None,
                       repeats: int = 3) -> float:
    """Median seconds to build a model, load its state_dict from disk (and run ``example`` once): eager start-up."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = build()
        model.load_state_dict(torch.load(str(state_path), map_location="cpu", weights_only=True))
        model.eval()
        if example is not None:
            with torch.inference_mode():
                model(example)
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


def op_counts(path: str | Path) -> dict[str, int]:
    """How many nodes of each op type an ONNX file holds (e.g. to see QuantizeLinear/DequantizeLinear pairs)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
