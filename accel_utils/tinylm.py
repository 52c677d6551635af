"""A tiny byte-level language model on offline text (CPython's pydoc_data.topics), for notebook 15.

The corpus ships with every CPython install, so nothing is downloaded. The model is a small decoder-only
transformer whose two inference hooks the notebook teaches: the attention function (``model.set_attention``)
and a KV cache object passed to ``model(idx, cache=..., start_pos=...)``, which each attention layer calls as
``k, v = cache.update(layer_index, k_new, v_new)``.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
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


def load_or_fit(module: nn.Module, fit: Callable[[nn.Module], dict], *, name: str, key: dict,
                cache_dir=None) -> tuple[nn.Module, dict]:
    """Run ``fit(module)`` once and cache the weights under data/tinylm/; later calls load them instead.

    The file name holds a hash of ``key`` (everything that determines the result), so a change fits again.
    ``fit`` returns a JSON-able dict of what it did; returns (module in eval mode, that dict plus cached=True/False).
    """
    folder = Path(cache_dir) if cache_dir is not None else data_dir() / "tinylm"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = folder / f"{name}-{digest}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            module.load_state_dict(blob["state_dict"])
            return module.eval(), {**json.loads(blob["info"]), "cached": True}
        except Exception:  # a damaged or incompatible file: fit again
            pass
    info = fit(module)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
                "info": json.dumps(info)}, tmp)
    tmp.replace(path)
    return module.eval(), {**info, "cached": False}


def load_or_train(cfg: TinyLMConfig, train_ids: torch.Tensor, *, name: str = "tinylm", cache_dir=None,
                  device=None, **train_kwargs) -> tuple[TinyLM, TrainInfo]:
    """Train a TinyLM once and cache it under data/tinylm/; later calls load it (torch.load weights_only=True).

    The cache file name holds a hash of the config and training arguments, so a change retrains.
    Returns (model in eval mode, TrainInfo with the seconds the original training took and cached=True/False).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    torch.manual_seed(train_kwargs.get("seed", 0))
    model = TinyLM(cfg)
    model, info = load_or_fit(model, lambda m: asdict(train_lm(m, train_ids, device=device, **train_kwargs)),
                              name=name, key={"cfg": asdict(cfg), "train": train_kwargs, "v": 1}, cache_dir=cache_dir)
    return model.to(device).eval(), TrainInfo(**info)
