"""A GPT-2-shaped decoder with an explicit KV cache, and its ONNX Runtime plumbing (notebook 16).

Decoding speed depends on the sizes of the weights, not on what they know, so ``Decoder(GPT2_SMALL)`` is built
with random weights (GPT-2 small's shapes: 12 layers, width 768, 12 heads, 50,257 tokens, the embedding tied to
the output head, about 124 M parameters). The KV cache is explicit tensors, so the same step exports to ONNX::

    model = llm.Decoder(llm.GPT2_SMALL).eval()
    past_k, past_v = llm.empty_cache(model.cfg, batch=1, length=128)        # (layers, B, heads, S, head_dim)
    logits, k_new, v_new = model(ids, past_k, past_v)                       # ids (B, T): T new tokens after S
    path = llm.export_decode_step(model, "decoder.onnx")                    # dynamic batch and past length
    step = llm.OrtDecodeStep(path)                                          # an ONNX Runtime session
    run = step.runner(ids, past_k, past_v)                                  # time session.run alone

Quantized copies of the exported step come from ONNX Runtime's maintained quantizers: ``int8_dynamic`` (INT8
weights, activations quantized per call) and ``weight_4bit`` (``MatMulNBits``: 4-bit weights in groups along
the input dimension, one scale per group).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .core.config import data_dir
from .core.quiet import quiet_libraries


# ---------------------------------------------------------------- shapes
@dataclass(frozen=True)
class DecoderConfig:
    """Shape of a GPT-2-style decoder: vocabulary, longest context, width, depth, heads, MLP width ratio."""

    vocab_size: int = 50257
    n_ctx: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    mlp_ratio: int = 4
    name: str = "GPT-2 small"

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def n_params(self) -> int:
        """Parameters, the tied embedding counted once (GPT-2 small: 124,439,808)."""
        d, L, f = self.d_model, self.n_layers, self.mlp_ratio * self.d_model
        per_block = (4 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)  # 2 LayerNorms, qkv, proj, fc1, fc2
        return self.vocab_size * d + self.n_ctx * d + L * per_block + 2 * d

    @property
    def matmul_params(self) -> int:
        """Weights every decoded token multiplies with: every block's Linear layers and the output head."""
        d, f = self.d_model, self.mlp_ratio * self.d_model
        return self.n_layers * (d * 3 * d + d * d + 2 * d * f) + self.vocab_size * d

    def kv_bytes_per_token(self, bytes_per_value: int = 4) -> int:
        """Bytes of keys and values one token keeps in the cache: 2 × layers × width × bytes."""
        return 2 * self.n_layers * self.d_model * bytes_per_value


GPT2_SMALL = DecoderConfig()
GPT2_MEDIUM = DecoderConfig(d_model=1024, n_layers=24, n_heads=16, name="GPT-2 medium")
GPT2_LARGE = DecoderConfig(d_model=1280, n_layers=36, n_heads=20, name="GPT-2 large")
GPT2_XL = DecoderConfig(d_model=1600, n_layers=48, n_heads=25, name="GPT-2 XL")
GPT3_XL = DecoderConfig(n_ctx=2048, d_model=2048, n_layers=24, n_heads=16, name="GPT-3 XL")   # 1.3 B, kernel-friendly widths
TINY = DecoderConfig(vocab_size=512, n_ctx=128, d_model=64, n_layers=2, n_heads=2, name="tiny")
CONFIGS = {c.name: c for c in (TINY, GPT2_SMALL, GPT2_MEDIUM, GPT2_LARGE, GPT2_XL, GPT3_XL)}


def config(name: str, /, **changes) -> DecoderConfig:
    """A known shape by name ('GPT-2 small', …, 'tiny'), with fields changed, e.g. ``config('GPT-2 small', n_layers=6)``."""
    if name not in CONFIGS:
        raise KeyError(f"unknown decoder shape {name!r}; known: {', '.join(CONFIGS)}")
    return replace(CONFIGS[name], **changes) if changes else CONFIGS[name]


# ---------------------------------------------------------------- model
def attend(q: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Causal attention of T new queries over S cached keys and the T new ones, without copying the cache.

    q, k, v (B, H, T, D); past_k, past_v (B, H, S, D). The scores against the past and against the new keys are
    computed apart and joined (a small B·H·T·(S+T) tensor), so each cached key and value is read once and never
    concatenated into a new cache-sized tensor: a step moves the cache's bytes once, as the roofline counts them.
    """
    t, scale = q.shape[2], 1.0 / math.sqrt(q.shape[-1])
    s_past = (q @ past_k.transpose(-2, -1)) * scale                        # (B, H, T, S): every past key is visible
    s_new = (q @ k.transpose(-2, -1)) * scale                              # (B, H, T, T): causal among the new ones
    if t > 1:
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
        s_new = s_new.masked_fill(~mask, float("-inf"))
    p = torch.softmax(torch.cat([s_past, s_new], dim=-1), dim=-1)
    n_past = past_k.shape[2]
    return p[..., :n_past] @ past_v + p[..., n_past:] @ v


class Block(nn.Module):
    """Pre-norm GPT-2 block: x + attn(ln(x)), then x + mlp(ln(x)); attention over the cached keys and the new ones."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc1 = nn.Linear(d, cfg.mlp_ratio * d)
        self.fc2 = nn.Linear(cfg.mlp_ratio * d, d)

    def forward(self, x: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = attend(q, past_k, past_v, k, v)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))
        return x, k, v


class Decoder(nn.Module):
    """GPT-2-shaped decoder. ``model(ids, past_k, past_v)`` → (logits (B, T, vocab), new keys, new values).

    ``past_k``/``past_v`` are (layers, B, heads, S, head_dim): the keys and values of the S tokens before ``ids``
    (S may be 0); the new ones come back as (layers, B, heads, T, head_dim) for the caller to append.
    Weights are random (GPT-2's initialisation): the speed of a step depends on the shapes, not on the values.
    """

    def __init__(self, cfg: DecoderConfig = GPT2_SMALL):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.wte.weight          # tied, as in GPT-2
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * cfg.n_layers) if name.endswith(("proj.weight", "fc2.weight")) else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, ids: torch.Tensor, past_k: torch.Tensor | None = None, past_v: torch.Tensor | None = None):
        b, t = ids.shape
        if past_k is None:
            past_k = past_v = empty_cache(self.cfg, b, 0, dtype=self.wte.weight.dtype, device=ids.device)[0]
        start = past_k.shape[3]
        pos = torch.arange(start, start + t, device=ids.device)
        x = self.wte(ids) + self.wpe(pos)
        ks, vs = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block(x, past_k[i], past_v[i])
            ks.append(k)
            vs.append(v)
        return self.head(self.ln_f(x)), torch.stack(ks), torch.stack(vs)


def empty_cache(cfg: DecoderConfig, batch: int, length: int, *, dtype=torch.float32, device=None, fill: str = "random",
                seed: int = 0):
    """(past_k, past_v), each (layers, batch, heads, length, head_dim): a cache of ``length`` earlier tokens.

    ``fill="random"`` gives values of the size real keys have (for timing a step at a given context length);
    ``"zeros"`` an all-zero cache. Length 0 gives the empty cache of a first step.
    """
    shape = (cfg.n_layers, batch, cfg.n_heads, length, cfg.head_dim)
    device = torch.device(device) if device is not None else torch.device("cpu")
    if fill == "zeros" or length == 0:
        return torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device)
    g = torch.Generator(device=device).manual_seed(seed)           # drawn where it will live: no host-sized copy
    return (torch.randn(shape, generator=g, device=device, dtype=dtype),
            torch.randn(shape, generator=g, device=device, dtype=dtype))


@torch.inference_mode()
def generate(model: Decoder, ids: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding with the KV cache: one prefill, then n_new - 1 one-token steps. Returns (B, n_new) ids."""
    logits, past_k, past_v = model(ids)
    out = [logits[:, -1].argmax(-1, keepdim=True)]
    for _ in range(n_new - 1):
        logits, k, v = model(out[-1], past_k, past_v)
        past_k, past_v = torch.cat([past_k, k], dim=3), torch.cat([past_v, v], dim=3)
        out.append(logits[:, -1].argmax(-1, keepdim=True))
    return torch.cat(out, dim=1)


# ---------------------------------------------------------------- real GPT-2 weights (optional, online)
def load_hf_gpt2(model: Decoder, state_dict: dict[str, torch.Tensor]) -> Decoder:
    """Copy Hugging Face ``GPT2LMHeadModel`` weights into ``model`` (same shapes); returns it.

    Hugging Face stores GPT-2's Linear layers as ``Conv1D`` (weight in × out): they are transposed here.
    """
    sd = {k.removeprefix("transformer."): v for k, v in state_dict.items()}
    mine = {"wte.weight": sd["wte.weight"], "wpe.weight": sd["wpe.weight"],
            "ln_f.weight": sd["ln_f.weight"], "ln_f.bias": sd["ln_f.bias"]}
    names = {"ln_1": "ln1", "ln_2": "ln2", "attn.c_attn": "qkv", "attn.c_proj": "proj", "mlp.c_fc": "fc1",
             "mlp.c_proj": "fc2"}
    for i in range(model.cfg.n_layers):
        for theirs, ours in names.items():
            w, b = sd[f"h.{i}.{theirs}.weight"], sd[f"h.{i}.{theirs}.bias"]
            mine[f"blocks.{i}.{ours}.weight"] = w.t() if theirs.startswith(("attn", "mlp")) else w
            mine[f"blocks.{i}.{ours}.bias"] = b
    missing, unexpected = model.load_state_dict(mine, strict=False)
    missing = [m for m in missing if m != "head.weight"]          # tied to wte.weight
    if missing or unexpected:
        raise ValueError(f"GPT-2 weights do not fit: missing {missing}, unexpected {unexpected}")
    return model


# ---------------------------------------------------------------- ONNX export and ONNX Runtime
def _quiet():
    return quiet_libraries(("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir", ""))


class _Step(nn.Module):
    """The decode step with plain tensor inputs and outputs, for export."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids, past_k, past_v):
        return self.model(ids, past_k, past_v)


def export_decode_step(model: Decoder, path: str | Path, *, max_batch: int = 1024) -> Path:
    """Export one decode step (ids (B, 1), cached keys and values (layers, B, heads, S, head_dim)) to ONNX.

    Batch and cache length are dynamic. The output head gets a weight of its own in the file (GPT-2 ties it to
    the embedding), so that it is a MatMul on a constant weight that ONNX Runtime's quantizers find. Weights go
    to ``<path>.data`` beside the file when they pass protobuf's 2 GB limit. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    ids = torch.zeros(2, 1, dtype=torch.long)                 # a batch of 2: torch.export specializes sizes of 1
    past_k, past_v = empty_cache(cfg, 2, 3)
    batch, past = torch.export.Dim("batch", min=1, max=max_batch), torch.export.Dim("past", min=1, max=cfg.n_ctx - 1)
    cache = {1: batch, 3: past}
    step = _Step(model).eval()
    big = cfg.n_params * 4 > 1.8e9
    tied = model.head.weight is model.wte.weight
    if tied:
        model.head.weight = nn.Parameter(model.wte.weight.detach().clone())
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(step, (ids, past_k, past_v), str(path), dynamo=True, external_data=big,
                              input_names=["ids", "past_k", "past_v"], output_names=["logits", "k_new", "v_new"],
                              dynamic_shapes=({0: batch}, cache, cache))
    finally:
        if tied:
            model.head.weight = model.wte.weight
    return path


def onnx_bytes(path: str | Path) -> int:
    """Bytes on disk of an ONNX file and its external-data file, if any."""
    path = Path(path)
    extra = path.with_name(path.name + ".data")
    return path.stat().st_size + (extra.stat().st_size if extra.exists() else 0)


def int8_dynamic(onnx_in: str | Path, onnx_out: str | Path, *, per_channel: bool = True) -> Path:
    """ONNX Runtime's dynamic INT8: MatMul weights int8 (per output column), activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .quantize import needs_reduce_range

    with _quiet():
        quantize_dynamic(str(onnx_in), str(onnx_out), weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=["MatMul"], reduce_range=needs_reduce_range(),
                         extra_options={"MatMulConstBOnly": True})
    return Path(onnx_out)


def weight_4bit(onnx_in: str | Path, onnx_out: str | Path, *, block_size: int = 32, accuracy_level: int | None = None,
                symmetric: bool = True, bits: int = 4) -> Path:
    """ONNX Runtime's ``MatMulNBits``: 4-bit weights in blocks of ``block_size`` input rows, one scale per block.

    ``accuracy_level`` (ORT's option): None or 0 computes in fp32 after unpacking; 4 lets the kernel quantize
    the activations to int8 and multiply with integer instructions. ``bits=8`` stores 8-bit blocks instead.
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    with _quiet():
        model = onnx.load(str(onnx_in))
        cfg = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=symmetric,
                                           accuracy_level=accuracy_level, bits=bits)
        quant = MatMulNBitsQuantizer(model, algo_config=cfg)
        quant.process()
        quant.model.save_model_to_file(str(onnx_out), use_external_data_format=False)
    return Path(onnx_out)


def op_counts(path: str | Path) -> dict[str, int]:
    """How many nodes of each operator type an ONNX graph holds (e.g. MatMul, MatMulInteger, MatMulNBits)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


class OrtDecodeStep:
    """An ONNX Runtime session of an exported decode step, on the CPU. ``step(ids, past_k, past_v)`` → tensors."""

    def __init__(self, path: str | Path, *, threads: int | None = None, providers=None):
        from .deploy import ort_session

        self.path = Path(path)
        with _quiet():
            self.session = ort_session(path, threads=threads, providers=providers)

    def feeds(self, ids, past_k, past_v) -> dict[str, np.ndarray]:
        """The input dict of session.run, from tensors or arrays."""
        as_np = lambda t: np.ascontiguousarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t)
        return {"ids": as_np(ids).astype(np.int64, copy=False), "past_k": as_np(past_k).astype(np.float32, copy=False),
                "past_v": as_np(past_v).astype(np.float32, copy=False)}

    def __call__(self, ids, past_k, past_v):
        logits, k, v = self.session.run(None, self.feeds(ids, past_k, past_v))
        return torch.from_numpy(logits), torch.from_numpy(k), torch.from_numpy(v)

    def runner(self, ids, past_k, past_v) -> Callable[[], object]:
        """A zero-argument callable running the step on fixed inputs (converted once): for timing."""
        feeds = self.feeds(ids, past_k, past_v)
        return lambda: self.session.run(None, feeds)


# ---------------------------------------------------------------- a whole-sequence model in ONNX (perplexity)
class _Logits(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(ids)


def export_logits(model: nn.Module, seq_len: int, path: str | Path) -> Path:
    """Export ``model(ids) → logits`` for windows of ``seq_len`` tokens with a dynamic batch (for perplexity in ORT)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.zeros(2, seq_len, dtype=torch.long)
    with _quiet(), torch.no_grad():
        torch.onnx.export(_Logits(model).eval(), (ids,), str(path), dynamo=True, external_data=False,
                          input_names=["ids"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    return path


def ort_logits_fn(path: str | Path, *, threads: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ids → logits (torch tensors) running an exported ``export_logits`` model in ONNX Runtime."""
    from .deploy import ort_session

    with _quiet():
        session = ort_session(path, threads=threads)
    return lambda ids: torch.from_numpy(session.run(None, {"ids": ids.cpu().numpy().astype(np.int64)})[0])


def weights_key(model: nn.Module) -> dict:
    """What determines an exported file: the weights (a hash of every byte), the shape, the library versions."""
    import onnxruntime

    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    cfg = getattr(model, "cfg", None)
    return {"weights": h.hexdigest()[:16], "cfg": asdict(cfg) if cfg is not None else None,
            "torch": torch.__version__.split("+")[0], "onnxruntime": onnxruntime.__version__, "v": 1}


def cached_file(name: str, key: dict, make: Callable[[Path], object], *, folder: str | Path | None = None,
                suffix: str = ".onnx") -> tuple[Path, float | None]:
    """Make a file once (``make(path)``) and keep it under data/tinylm/onnx/; later calls find it.

    The name holds a hash of ``key`` (everything that determines the file), so a change makes it again and the
    file made for an earlier key of the same name is removed (exported decoders are hundreds of MB).
    Returns (path, seconds the making took, or None when the file was already there).
    """
    folder = Path(folder) if folder is not None else data_dir() / "tinylm" / "onnx"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = folder / f"{name}-{digest}{suffix}"
    if path.exists():
        return path, None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}-{digest}.tmp{suffix}"
    t0 = time.perf_counter()
    make(tmp)
    seconds = time.perf_counter() - t0
    tmp.replace(path)
    earlier = re.compile(rf"{re.escape(name)}-[0-9a-f]{{12}}{re.escape(suffix)}")
    for old in folder.iterdir():
        if old != path and earlier.fullmatch(old.name):
            old.unlink(missing_ok=True)
    return path, seconds


@contextlib.contextmanager
def workdir():
    """A temporary folder for exported models, removed afterwards (its path is never printed)."""
    with tempfile.TemporaryDirectory(prefix="accel16-") as tmp:
        yield Path(tmp)


# ---------------------------------------------------------------- scoring a language model window by window
def window_losses(logits_fn: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor, *, seq_len: int,
                  max_tokens: int | None = None, batch_size: int = 8) -> np.ndarray:
    """Mean next-token cross-entropy (nats per token) of each consecutive window of ``seq_len`` ids.

    exp(mean of these) is the perplexity (every window holds the same number of tokens), and two models scored on
    the same windows can be compared window by window, with an interval (``au.paired_difference``).
    """
    if max_tokens is not None:
        ids = ids[:max_tokens + 1]
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"need more than seq_len={seq_len} ids, got {len(ids)}")
    x = ids[:n * seq_len].view(n, seq_len)
    y = ids[1:n * seq_len + 1].view(n, seq_len)
    out = []
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            logits = torch.as_tensor(logits_fn(x[i:i + batch_size])).float().cpu()
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i:i + batch_size].reshape(-1),
                                   reduction="none").view(-1, seq_len).mean(dim=1)
            out.append(loss.numpy())
    return np.concatenate(out)


def perplexity(logits_fn: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor, *, seq_len: int,
               max_tokens: int | None = None, batch_size: int = 8) -> float:
    """exp(mean next-token cross-entropy) over consecutive windows of ``seq_len`` ids, for any ``logits_fn``.

    The same windows and the same sum as ``tinylm.perplexity``, so an ONNX Runtime session and the eager model
    are scored alike.
    """
    return float(np.exp(window_losses(logits_fn, ids, seq_len=seq_len, max_tokens=max_tokens,
                                      batch_size=batch_size).mean()))


# ---------------------------------------------------------------- GPU kernels for fewer bytes per weight
def swap_linears(module: nn.Module, make: Callable[[nn.Linear], nn.Module], *, skip: tuple[str, ...] = ()) -> nn.Module:
    """Replace every nn.Linear inside ``module`` (names in ``skip`` excepted) by ``make(linear)``, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear) and name not in skip:
            setattr(module, name, make(child))
        else:
            swap_linears(child, make, skip=skip)
    return module


class Int8WeightLinear(nn.Module):
    """INT8 weights, one scale per output row, converted inside forward: ``F.linear(x, q.to(x.dtype)) * scale``.

    Eager, this writes a float copy of the weight at every call (slower than the float layer). Under
    ``torch.compile`` on a GPU the conversion fuses into the matrix-vector kernel, so only the int8 bytes are read.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.register_buffer("q", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(linear.weight.dtype))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    def forward(self, x):
        y = F.linear(x, self.q.to(x.dtype)) * self.scale
        return y if self.bias is None else y + self.bias


def tinygemm_quantize(w: torch.Tensor, group: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """4-bit asymmetric groups as torch's tinygemm kernel wants them: q (N, K) int32 in 0..15 and
    scales_and_zeros (K / group, N, 2), with w ≈ (q - 8) · scale + zero for each group of ``group`` inputs."""
    n, k = w.shape
    if k % group:
        raise ValueError(f"in_features {k} is not a multiple of the group size {group}")
    g = w.float().reshape(-1, group)
    hi, lo = g.amax(dim=1, keepdim=True), g.amin(dim=1, keepdim=True)
    scale = (hi - lo).clamp(min=1e-6) / 15
    zero = lo + scale * 8
    q = g.sub(lo).div(scale).round().clamp(0, 15).to(torch.int32).reshape(n, k)
    sz = torch.cat([scale.view(n, -1, 1), zero.view(n, -1, 1)], dim=2).transpose(0, 1).contiguous()
    return q, sz


class Int4TinyGemmLinear(nn.Module):
    """4-bit weight-only Linear on torch's own tinygemm kernel: bf16 activations, 4-bit weights, bf16 out.

    CUDA (compute capability 8.0+): ``aten._weight_int4pack_mm``; CPU: ``aten._weight_int4pack_mm_for_cpu``.
    The output rows are padded to a multiple of 16 (the kernels' tiles), then cut back.
    """

    def __init__(self, linear: nn.Linear, group: int = 128, inner_k_tiles: int = 8):
        super().__init__()
        w = linear.weight.detach()
        self.out_features, self.in_features = w.shape
        self.group = group
        pad = -self.out_features % 16                   # 8 for the CUDA kernel's tile, 16 for the CPU one
        if pad:
            w = torch.cat([w, w.new_zeros(pad, self.in_features)])
        q, sz = tinygemm_quantize(w, group)
        if w.device.type == "cuda":
            packed = torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8),
                                                                inner_k_tiles)
        else:
            packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, inner_k_tiles)
        self.register_buffer("packed", packed)
        self.register_buffer("scales_and_zeros", sz.to(torch.bfloat16))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().to(torch.bfloat16),
                                                                  requires_grad=False)

    def forward(self, x):
        shape = x.shape
        x2 = x.reshape(-1, self.in_features).to(torch.bfloat16)
        if x2.device.type == "cuda":
            y = torch.ops.aten._weight_int4pack_mm(x2, self.packed, self.group, self.scales_and_zeros)
        else:
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(x2, self.packed, self.group, self.scales_and_zeros)
        y = y[:, :self.out_features]
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features).to(x.dtype)


class Fp8RowwiseLinear(nn.Module):
    """FP8 (e4m3) weights with one scale per output row; activations cast to FP8 per row at each call, then
    ``torch._scaled_mm`` (Hopper's FP8 tensor cores; rowwise scales need compute capability 9.0 on CUDA)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        self.out_features, self.in_features = w.shape
        pad = -self.out_features % 16                                                  # FP8 GEMMs want 16s
        if pad:
            w = torch.cat([w, w.new_zeros(pad, self.in_features)])
        self.fmax = torch.finfo(torch.float8_e4m3fn).max
        scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / self.fmax          # (N, 1)
        self.register_buffer("w8", (w / scale).to(torch.float8_e4m3fn))
        self.register_buffer("w_scale", scale.t().contiguous())                         # (1, N), fp32
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().to(torch.bfloat16),
                                                                  requires_grad=False)

    def forward(self, x):
        shape = x.shape
        x2 = x.reshape(-1, self.in_features).float()
        m = x2.shape[0]
        pad = -m % 16                                                                  # FP8 GEMMs want rows in 16s
        if pad:
            x2 = torch.cat([x2, x2.new_zeros(pad, self.in_features)])
        x_scale = x2.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / self.fmax
        y = torch._scaled_mm((x2 / x_scale).to(torch.float8_e4m3fn), self.w8.t(), scale_a=x_scale,
                             scale_b=self.w_scale, out_dtype=torch.bfloat16)[:m, :self.out_features]
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features).to(x.dtype)


def weight_bytes(module: nn.Module) -> int:
    """Bytes of every parameter and buffer (each tensor once): what a step reads if it touches every weight."""
    seen, total = set(), 0
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total
