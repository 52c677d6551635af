"""A tiny byte-level language model on offline text (CPython's pydoc_data.topics), for notebooks 15 and 16.

The corpus ships with every CPython install, so nothing is downloaded. The model is a small decoder-only
transformer whose two inference hooks the notebooks teach: the attention function (``model.set_attention``)
and a KV cache object passed to ``model(idx, cache=..., start_pos=...)``, which each attention layer calls as
``k, v = cache.update(layer_index, k_new, v_new)``.

Trained weights are cached under data/tinylm/ by a key that holds everything that decides them: the config,
the training arguments, a hash of the training data and a hash of the source code of the training function
(and of the model it trains), so a changed trainer trains again. A cached file that cannot be loaded, or that
was written for another key or another model shape, is named in a warning and fitted again.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .core.config import data_dir


# ---------------------------------------------------------------- data
def load_corpus() -> dict[str, str]:
    """The English documentation topics of this Python install: {topic name: text} (offline, ~0.5 MB)."""
    from pydoc_data.topics import topics

    return dict(sorted(topics.items()))


def split_corpus(topics: dict[str, str] | None = None, *, held_out_every: int = 10,
                 block_chars: int = 4096) -> tuple[str, str]:
    """Deterministic (train, held-out) texts: the topics (sorted by name) are joined and cut into blocks of
    block_chars characters; every held_out_every-th block is held out (about 1/held_out_every of the text)."""
    if held_out_every < 2:
        raise ValueError(f"held_out_every must be >= 2, got {held_out_every}")
    topics = load_corpus() if topics is None else dict(sorted(topics.items()))
    text = "\n\n".join(topics.values())
    blocks = [text[i:i + block_chars] for i in range(0, len(text), block_chars)]
    train = [b for i, b in enumerate(blocks) if i % held_out_every != held_out_every - 1]
    held = [b for i, b in enumerate(blocks) if i % held_out_every == held_out_every - 1]
    return "".join(train), "".join(held)


class ByteTokenizer:
    """UTF-8 bytes as tokens: 256 ids, nothing to train, every text round-trips."""

    vocab_size = 256

    def encode(self, text: str) -> torch.Tensor:
        """A 1-D int64 tensor of the UTF-8 bytes of text."""
        return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)

    def decode(self, ids) -> str:
        """Text from ids (a tensor or list); invalid UTF-8 (a cut multi-byte char) shows as �."""
        if isinstance(ids, torch.Tensor):
            ids = ids.flatten().tolist()
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


# ---------------------------------------------------------------- model
@dataclass(frozen=True)
class TinyLMConfig:
    """Shape of a TinyLM: vocabulary, width, depth, heads, longest sequence (learned positions)."""

    vocab_size: int = 256
    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 4
    max_len: int = 320
    mlp_ratio: int = 4

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, is_causal: bool = False,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention with PyTorch's fused kernel; q (B,H,T,D), k/v (B,H,S,D); mask (T,S) bool, True = may attend."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal and mask is None)


def causal_mask(t: int, s: int, device=None) -> torch.Tensor:
    """(t, s) bool mask for t new queries at the end of s keys: query i may see keys 0 .. s - t + i."""
    return torch.ones(t, s, dtype=torch.bool, device=device).tril(diagonal=s - t)


class Attention(nn.Module):
    """Multi-head causal self-attention with a fused QKV projection and the two hooks (attention fn, KV cache)."""

    def __init__(self, cfg: TinyLMConfig, layer_index: int):
        super().__init__()
        self.n_heads, self.layer_index = cfg.n_heads, layer_index
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_fn: Callable = sdpa_attention

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:  # the KV cache hook: store this step's keys/values, get all of them back
            k, v = cache.update(self.layer_index, k, v)
        s = k.shape[2]
        if t == 1:  # one new token: it may see every key
            y = self.attn_fn(q, k, v)
        elif s == t:  # no past: the plain causal mask
            y = self.attn_fn(q, k, v, is_causal=True)
        else:  # several new tokens after a past (verification in speculative decoding)
            y = self.attn_fn(q, k, v, mask=causal_mask(t, s, x.device))
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: TinyLMConfig, layer_index: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg, layer_index)
        self.fc1 = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.fc2 = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    """A decoder-only transformer over bytes. ``model(idx, cache=None, start_pos=0)`` → logits (B, T, vocab)."""

    def __init__(self, cfg: TinyLMConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2 style: scale the residual projections by depth
            if name.endswith(("proj.weight", "fc2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def set_attention(self, fn: Callable) -> TinyLM:
        """Use fn(q, k, v, *, is_causal=False, mask=None) in every layer (e.g. a naive attention); returns self."""
        for block in self.blocks:
            block.attn.attn_fn = fn
        return self

    def forward(self, idx: torch.Tensor, cache=None, start_pos: int = 0) -> torch.Tensor:
        """Logits for token ids idx (B, T) placed at positions start_pos .. start_pos + T - 1."""
        t = idx.shape[1]
        if start_pos + t > self.cfg.max_len:
            raise ValueError(f"positions up to {start_pos + t} exceed max_len {self.cfg.max_len}; "
                             "use a shorter prompt or generate fewer tokens")
        pos = torch.arange(start_pos, start_pos + t, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)
        for block in self.blocks:
            x = block(x, cache)
        return self.head(self.ln_f(x))


# ---------------------------------------------------------------- training and evaluation
def random_batch(ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator):
    """Random windows of a 1-D id tensor: inputs (B, T) and next-token targets (B, T)."""
    starts = torch.randint(0, len(ids) - seq_len - 1, (batch_size,), generator=generator)
    x = torch.stack([ids[s:s + seq_len] for s in starts.tolist()])
    y = torch.stack([ids[s + 1:s + seq_len + 1] for s in starts.tolist()])
    return x, y


@dataclass
class TrainInfo:
    """What training did: steps, seconds, the loss curve (every log_every steps), and whether it was cached."""

    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    cached: bool = False
    device: str = "cpu"


def train_lm(model: TinyLM, train_ids: torch.Tensor, *, steps: int, batch_size: int = 16, seq_len: int | None = None,
             lr: float = 3e-3, seed: int = 0, device=None, autocast_dtype: torch.dtype | None = None,
             log_every: int = 10, max_seconds: float | None = None) -> TrainInfo:
    """Train with AdamW, warm-up and cosine decay on random windows; returns a TrainInfo.

    Training stops after ``steps`` steps or ``max_seconds`` seconds, whichever comes first; the learning-rate
    schedule follows whichever of the two is further along, so a time budget still ends with a low rate.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    seq_len = seq_len or model.cfg.max_len
    model.to(device).train()
    gen = torch.Generator().manual_seed(seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))
    warmup = max(1, min(steps // 20, 30))
    losses, running = [], []
    t0 = time.perf_counter()
    done = 0
    for step in range(steps):
        progress = step / steps
        if max_seconds is not None:
            elapsed = time.perf_counter() - t0
            if elapsed >= max_seconds:
                break
            progress = max(progress, elapsed / max_seconds)
        rate = min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr * rate
        x, y = random_batch(train_ids, batch_size, seq_len, gen)
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running.append(loss.item())
        done = step + 1
        if done % log_every == 0:
            losses.append(sum(running) / len(running))
            running = []
    if running:
        losses.append(sum(running) / len(running))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    model.eval()
    return TrainInfo(steps=done, seconds=time.perf_counter() - t0, losses=losses, device=str(device))


@torch.no_grad()
def perplexity(model: nn.Module, ids: torch.Tensor, *, seq_len: int | None = None, max_tokens: int | None = None,
               batch_size: int = 8) -> float:
    """exp(mean next-token cross-entropy) over consecutive non-overlapping windows of ids (deterministic)."""
    cfg = getattr(model, "cfg", None)
    seq_len = seq_len or (cfg.max_len if cfg else 256)
    if max_tokens is not None:
        ids = ids[:max_tokens + 1]
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"need more than seq_len={seq_len} ids, got {len(ids)}")
    device = next(model.parameters()).device
    x = ids[:n * seq_len].view(n, seq_len)
    y = ids[1:n * seq_len + 1].view(n, seq_len)
    total, count = 0.0, 0
    for i in range(0, n, batch_size):
        logits = model(x[i:i + batch_size].to(device)).float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i:i + batch_size].to(device).reshape(-1),
                                 reduction="sum").item()
        count += y[i:i + batch_size].numel()
    return math.exp(total / count)


def state_hash(model: nn.Module) -> str:
    """A short hash of a model's weights, to name what is derived from them (a draft distilled from a target)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


def code_hash(*objs) -> str:
    """A short hash of the source code of functions and classes (their bytecode where no source is found).

    Keys a cache by the code that produced it: editing a trainer (even a constant in it) changes the hash.
    """
    h = hashlib.sha256()
    for obj in objs:
        if isinstance(obj, functools.partial):  # a function with arguments bound: its code and those arguments
            h.update(code_hash(obj.func).encode() + repr((obj.args, sorted(obj.keywords.items()))).encode())
            continue
        target = inspect.unwrap(obj) if callable(obj) else obj
        try:
            text = inspect.getsource(target)
        except (OSError, TypeError):  # no source file (a lambda typed at a REPL, a builtin): hash its bytecode
            code = getattr(target, "__code__", None)
            if code is None:
                raise TypeError(f"cannot hash the code of {obj!r}: no source and no bytecode") from None
            text = _code_text(code)
        h.update(getattr(target, "__qualname__", type(target).__name__).encode())
        h.update(text.encode())
    return h.hexdigest()[:12]


def _code_text(code) -> str:
    """A stable text of a code object: its bytecode, names and constants (nested code objects included)."""
    parts = [code.co_code.hex(), repr(code.co_names)]
    for const in code.co_consts:
        parts.append(_code_text(const) if inspect.iscode(const) else repr(const))
    return "|".join(parts)


def data_hash(ids: torch.Tensor) -> str:
    """A short hash of a tensor's dtype, shape and values (the training data a cached model saw)."""
    t = ids.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


def cache_path(name: str, key: dict, *, cache_dir=None) -> Path:
    """Where ``load_or_fit`` keeps the weights fitted under ``key`` (the key's hash is in the file name)."""
    folder = Path(cache_dir) if cache_dir is not None else data_dir() / "tinylm"
    return folder / f"{name}-{hashlib.sha256(_canonical(key).encode()).hexdigest()[:12]}.pt"


def _canonical(key: dict) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _load_cached(path: Path, module: nn.Module, key_text: str) -> dict:
    """Load a cached file into module, or raise ValueError/RuntimeError saying what is wrong with it.

    Nothing is copied into the module unless every tensor matches its name, shape and dtype, so a failed load
    leaves the module as it was (fitting again starts from its own initial weights).
    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or not {"state_dict", "info", "key"} <= set(blob):
        raise ValueError("not a tinylm cache file (expected the entries state_dict, info and key)")
    if blob["key"] != key_text:
        raise ValueError("it was written for another key")
    own = module.state_dict()
    saved = blob["state_dict"]
    if set(saved) != set(own):
        missing, extra = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
        raise ValueError(f"its tensors do not match the model (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, t in own.items():
        if saved[name].shape != t.shape or saved[name].dtype != t.dtype:
            raise ValueError(f"tensor {name!r} is {tuple(saved[name].shape)} {saved[name].dtype}, "
                             f"the model has {tuple(t.shape)} {t.dtype}")
    info = json.loads(blob["info"])
    module.load_state_dict(saved)
    return info


def load_or_fit(module: nn.Module, fit: Callable[[nn.Module], dict], *, name: str, key: dict,
                cache_dir=None, code: Iterable[Callable] = ()) -> tuple[nn.Module, dict]:
    """Run ``fit(module)`` once and cache the weights under data/tinylm/; later calls load them instead.

    The file name holds a hash of ``key`` (everything that determines the result: settings, a hash of the data)
    together with the source code of ``fit`` and of every function or class in ``code`` (what ``fit`` calls),
    so a change to any of them fits again. A cached file that cannot be loaded (damaged, written for another
    key, tensors of another shape) is named in a RuntimeWarning and fitted again from the module's own initial
    weights, then overwritten. ``fit`` returns a JSON-able dict of what it did; returns (module in eval mode,
    that dict plus cached=True/False).
    """
    full_key = {"key": key, "code": code_hash(fit, *code)}
    key_text = _canonical(full_key)
    path = cache_path(name, full_key, cache_dir=cache_dir)
    if path.exists():
        try:
            info = _load_cached(path, module, key_text)
            return module.eval(), {**info, "cached": True}
        except Exception as e:  # noqa: BLE001 - any failure is reported below, with the file's name
            warnings.warn(f"the cached weights {path} cannot be used ({type(e).__name__}: {e}); "
                          "fitting again and overwriting that file", RuntimeWarning, stacklevel=2)
    info = fit(module)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")  # unique: runs may overlap
    try:
        torch.save({"state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
                    "info": json.dumps(info), "key": key_text}, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return module.eval(), {**info, "cached": False}


def load_or_train(cfg: TinyLMConfig, train_ids: torch.Tensor, *, name: str = "tinylm", cache_dir=None,
                  device=None, **train_kwargs) -> tuple[TinyLM, TrainInfo]:
    """Train a TinyLM once and cache it under data/tinylm/; later calls load it (torch.load weights_only=True).

    The cache key holds the config, the training arguments, a hash of ``train_ids`` and a hash of the source of
    what training runs (``train_lm``, ``random_batch``, the model's classes), so a change to any of them
    retrains; the device is not in the key (the info says where it trained). A damaged or
    incompatible cached file is named in a warning and trained again. Returns (model in eval mode, TrainInfo with
    the seconds the original training took and cached=True/False).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    torch.manual_seed(train_kwargs.get("seed", 0))
    model = TinyLM(cfg)

    def fit(m: TinyLM) -> dict:
        return asdict(train_lm(m, train_ids, device=device, **train_kwargs))

    key = {"cfg": asdict(cfg), "train": train_kwargs, "data": data_hash(train_ids)}
    code = (train_lm, random_batch, TrainInfo, TinyLM, Block, Attention, sdpa_attention, causal_mask)
    model, info = load_or_fit(model, fit, name=name, key=key, cache_dir=cache_dir, code=code)
    return model.to(device).eval(), TrainInfo(**info)
