"""Pruning: unstructured magnitude pruning helpers, 2:4 (semi-structured) masks grouped along the input
channels, BatchNorm recalibration, sparse storage of a pruned state_dict, and channel pruning that physically
rebuilds smaller Conv2d / BatchNorm2d / Linear layers.

Channel pruning works on *sequential-style* CNNs such as ``au.SmallCNN``: the Conv2d, BatchNorm2d and
Linear layers are registered in the order the forward pass uses them, each Conv2d (groups=1) feeds the
next Conv2d (or, after global pooling to 1×1 and flatten, the next Linear), and an optional BatchNorm2d
directly after a Conv2d normalises its outputs. Residual connections, depthwise convs and concatenations
are not handled (a ``ValueError`` names the layer that breaks the chain).

Example::

    from accel_utils import pruning
    small = pruning.channel_prune(model, 0.5)            # a new, smaller model; model is unchanged
    pruning.global_magnitude_prune(model, 0.8)           # masks via torch.nn.utils.prune
    pruning.recalibrate_batchnorm(model, train_loader)   # re-estimate BatchNorm statistics after pruning
    pruning.make_permanent(model)                        # fold masks into the weights
    mask = pruning.semi_structured_mask(linear.weight)   # 2 of every 4 consecutive inputs kept
    packed = pruning.compress_state_dict(model.state_dict(), fmt="bitmask")
    print(pruning.stored_size_bytes(packed))             # bytes on disk of the sparse-stored weights
"""
from __future__ import annotations

import copy
import io
import zlib
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

PRUNABLE = (nn.Conv2d, nn.Linear)
FORMATS = ("bitmask", "csr", "coo")


# ----------------------------------------------------------------------------- unstructured pruning


def prunable_parameters(model: nn.Module, layer_types: tuple = PRUNABLE) -> list[tuple[nn.Module, str]]:
    """(module, "weight") for every layer of the given types: the argument torch's pruning functions take."""
    params = [(m, "weight") for m in model.modules() if isinstance(m, layer_types)]
    if not params:
        raise ValueError(f"no layer of type {', '.join(t.__name__ for t in layer_types)} in the model")
    return params


def global_magnitude_prune(model: nn.Module, amount: float, *, layer_types: tuple = PRUNABLE,
                           permanent: bool = False) -> nn.Module:
    """Zero the ``amount`` fraction of smallest-|w| weights over all layers together (in place); return model.

    Uses ``torch.nn.utils.prune.global_unstructured`` (masks: ``weight = weight_orig * weight_mask``).
    Pruning an already pruned model prunes further (masks combine). ``permanent=True`` folds the masks in.
    """
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be a fraction in [0, 1], got {amount}")
    prune.global_unstructured(prunable_parameters(model, layer_types), pruning_method=prune.L1Unstructured,
                              amount=float(amount))
    return make_permanent(model) if permanent else model


def layerwise_magnitude_prune(model: nn.Module, amount: float | Mapping[str, float], *,
                              layer_types: tuple = PRUNABLE, permanent: bool = False) -> nn.Module:
    """Zero the ``amount`` fraction of smallest-|w| weights in each layer separately (in place); return model.

    ``amount`` is one fraction for every layer, or a dict {module name: fraction} (layers not named are kept).
    """
    for name, module in model.named_modules():
        if not isinstance(module, layer_types):
            continue
        a = amount.get(name) if isinstance(amount, Mapping) else amount
        if a:
            if not 0.0 <= a <= 1.0:
                raise ValueError(f"amount for {name!r} must be a fraction in [0, 1], got {a}")
            prune.l1_unstructured(module, "weight", amount=float(a))
    return make_permanent(model) if permanent else model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its weight (``prune.remove``), in place: a plain model with zeros."""
    for module in model.modules():
        for name in [k[:-len("_orig")] for k, _ in list(module.named_parameters(recurse=False))
                     if k.endswith("_orig")]:
            prune.remove(module, name)
    return model


def layer_sparsity(model: nn.Module, layer_types: tuple = PRUNABLE) -> dict[str, float]:
    """{layer name: fraction of exactly-zero weights} for each Conv2d / Linear layer (masks included)."""
    return {name: float((m.weight == 0).float().mean()) for name, m in model.named_modules()
            if isinstance(m, layer_types)}


def _input_last(weight: torch.Tensor) -> torch.Tensor:
    """The weight with its input dimension last: (out, in) as is, a conv's (out, in, kh, kw) as (out, kh, kw, in)."""
    if weight.ndim < 2:
        raise ValueError(f"a weight with an input dimension is needed (2-D or more), got shape {tuple(weight.shape)}")
    return weight.movedim(1, -1) if weight.ndim > 2 else weight


def semi_structured_mask(weight: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:
    """Boolean mask keeping the ``n`` largest-|w| of every ``m`` consecutive input weights (2:4 sparsity).

    Groups run along the input dimension, as NVIDIA's sparse tensor cores need: for a Linear weight (out, in),
    ``m`` consecutive entries of each row; for a conv weight (out, in, kh, kw), ``m`` consecutive *input
    channels* at each kernel position (the reduction order of a channels-last convolution), never a mix of
    kernel positions. The number of inputs (channels) must be a multiple of ``m``.
    """
    if not 0 < n <= m:
        raise ValueError(f"n:m sparsity needs 0 < n <= m, got {n}:{m}")
    w = _input_last(weight.detach())
    if w.shape[-1] % m:
        raise ValueError(f"{w.shape[-1]} inputs per output is not a multiple of {m}")
    groups = w.abs().reshape(*w.shape[:-1], -1, m)
    keep = groups.topk(n, dim=-1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True).reshape(w.shape)
    return (mask.movedim(-1, 1) if weight.ndim > 2 else mask).contiguous()


def is_semi_structured(weight: torch.Tensor, n: int = 2, m: int = 4) -> bool:
    """True when every group of ``m`` consecutive input weights (as ``semi_structured_mask`` groups them) has at
    most ``n`` non-zeros: the pattern sparse tensor cores can run."""
    w = _input_last(weight.detach())
    if w.shape[-1] % m:
        return False
    return bool((w.reshape(*w.shape[:-1], -1, m) != 0).sum(-1).le(n).all())


def semi_structured_prune(model: nn.Module, *, n: int = 2, m: int = 4, layer_types: tuple = PRUNABLE) -> list[str]:
    """Apply an n:m mask (``prune.custom_from_mask``) to every layer whose input count is a multiple of ``m``.

    Returns the names of the layers pruned; the others (e.g. a first conv reading 1 or 3 channels) stay dense.
    """
    done = []
    for name, module in model.named_modules():
        if isinstance(module, layer_types) and module.weight.shape[1] % m == 0:
            prune.custom_from_mask(module, "weight", semi_structured_mask(module.weight, n, m))
            done.append(name)
    return done


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, loader, *, num_batches: int = 20, device=None) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance on ``num_batches`` batches (no weight update).

    Pruning changes what each conv outputs, so the BatchNorm statistics saved during training no longer fit;
    re-estimating them is cheap and often recovers much of the accuracy lost to pruning. In place; returns model.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    device = torch.device(device) if device is not None else next(model.parameters()).device
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches seen
    was_training = model.training
    model.train()
    try:
        for i, batch in enumerate(loader):
            if i >= num_batches:
                break
            model((batch[0] if isinstance(batch, (tuple, list)) else batch).to(device))
    finally:
        for bn, m in zip(bns, momenta):
            bn.momentum = m
        model.train(was_training)
    return model


# ----------------------------------------------------------------------------- sparse storage


def _pack(t: torch.Tensor, fmt: str) -> dict:
    """One dense tensor as a sparse record (see compress_state_dict)."""
    if fmt == "bitmask":
        mask = (t != 0).flatten()
        bits = torch.from_numpy(np.packbits(mask.cpu().numpy()))
        return {"fmt": fmt, "shape": tuple(t.shape), "bits": bits, "values": t.flatten()[mask].clone()}
    if fmt == "csr":
        m2 = t.reshape(t.shape[0], -1) if t.ndim > 1 else t.reshape(1, -1)
        rows, cols = (m2 != 0).nonzero(as_tuple=True)  # row-major order, as CSR stores them
        crow = torch.zeros(m2.shape[0] + 1, dtype=torch.int32)
        crow[1:] = torch.bincount(rows, minlength=m2.shape[0]).cumsum(0)
        return {"fmt": fmt, "shape": tuple(t.shape), "crow": crow, "col": cols.to(torch.int32),
                "values": m2[rows, cols].clone(), "shape2": tuple(m2.shape)}
    if fmt == "coo":
        return {"fmt": fmt, "tensor": t.to_sparse().coalesce()}
    raise ValueError(f"unknown sparse format {fmt!r}; known: {', '.join(FORMATS)}")


def _unpack(rec: dict) -> torch.Tensor:
    """The dense tensor back from a sparse record."""
    fmt = rec["fmt"]
    if fmt == "bitmask":
        shape = rec["shape"]
        numel = int(np.prod(shape)) if shape else 1
        mask = torch.from_numpy(np.unpackbits(rec["bits"].numpy(), count=numel).astype(bool))
        out = torch.zeros(numel, dtype=rec["values"].dtype)
        out[mask] = rec["values"]
        return out.reshape(shape)
    if fmt == "csr":
        n_rows, n_cols = rec["shape2"]
        rows = torch.repeat_interleave(torch.arange(n_rows), rec["crow"].long().diff())
        out = torch.zeros(n_rows, n_cols, dtype=rec["values"].dtype)
        out[rows, rec["col"].long()] = rec["values"]
        return out.reshape(rec["shape"])
    if fmt == "coo":
        return rec["tensor"].to_dense()
    raise ValueError(f"unknown sparse format {fmt!r}; known: {', '.join(FORMATS)}")


def compress_state_dict(state: Mapping[str, torch.Tensor], *, fmt: str = "bitmask",
                        min_sparsity: float = 0.5) -> dict:
    """A state_dict with each floating tensor of sparsity ≥ min_sparsity stored sparsely; save it with torch.save.

    fmt: ``"bitmask"`` (1 bit per weight + the non-zero values), ``"csr"`` (compressed sparse rows on a
    2-D view: int32 row pointers, an int32 column index and the value of each non-zero) or ``"coo"`` (torch's sparse COO: int64 index per dimension per value).
    Pruning masks (``*_mask``) and ``*_orig`` tensors should be folded in first (``make_permanent``).
    Restore with ``decompress_state_dict``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown sparse format {fmt!r}; known: {', '.join(FORMATS)}")
    out = {}
    for k, t in state.items():
        t = t.detach().cpu()
        if t.is_floating_point() and t.numel() > 0 and float((t == 0).float().mean()) >= min_sparsity:
            out[k] = _pack(t, fmt)
        else:
            out[k] = t
    return out


def decompress_state_dict(packed: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The dense state_dict back from ``compress_state_dict`` (loadable with ``load_state_dict``)."""
    return {k: _unpack(v) if isinstance(v, dict) else v for k, v in packed.items()}


def stored_size_bytes(obj, *, compress: bool = False, level: int = 6) -> int:
    """Bytes of ``torch.save(obj)`` (a model is saved as its state_dict); with ``compress``, after zlib (like .gz)."""
    state = obj.state_dict() if isinstance(obj, nn.Module) else obj
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    return len(zlib.compress(data, level)) if compress else len(data)


# ----------------------------------------------------------------------------- structured (channel) pruning


def channel_importance(conv: nn.Conv2d, criterion: str = "l1", bn: nn.BatchNorm2d | None = None) -> torch.Tensor:
    """One score per output channel: ``"l1"`` / ``"l2"`` norm of its filter, or ``"bn"`` = |BatchNorm γ|."""
    w = conv.weight.detach().flatten(1)
    if criterion == "l1":
        return w.abs().sum(1)
    if criterion == "l2":
        return w.pow(2).sum(1).sqrt()
    if criterion == "bn":
        if bn is None:
            raise ValueError("criterion 'bn' needs the BatchNorm2d that follows the conv")
        return bn.weight.detach().abs()
    raise ValueError(f"unknown criterion {criterion!r}; known: l1, l2, bn")


def _conv_subset(conv: nn.Conv2d, keep_out: torch.Tensor | None, keep_in: torch.Tensor | None) -> nn.Conv2d:
    """A new Conv2d with only the kept output / input channels, weights copied."""
    w = conv.weight.detach()
    if keep_out is not None:
        w = w[keep_out]
    if keep_in is not None:
        w = w[:, keep_in]
    new = nn.Conv2d(w.shape[1], w.shape[0], conv.kernel_size, conv.stride, conv.padding, conv.dilation, 1,
                    conv.bias is not None, conv.padding_mode, device=w.device, dtype=w.dtype)
    new.weight.data.copy_(w)
    if conv.bias is not None:
        new.bias.data.copy_(conv.bias.detach()[keep_out] if keep_out is not None else conv.bias.detach())
    new.train(conv.training)
    return new


def _bn_subset(bn: nn.BatchNorm2d, keep: torch.Tensor) -> nn.BatchNorm2d:
    """A new BatchNorm2d over the kept channels: affine parameters and running statistics copied."""
    ref = bn.weight if bn.affine else bn.running_mean
    new = nn.BatchNorm2d(len(keep), bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                         device=ref.device if ref is not None else None, dtype=ref.dtype if ref is not None else None)
    if bn.affine:
        new.weight.data.copy_(bn.weight.detach()[keep])
        new.bias.data.copy_(bn.bias.detach()[keep])
    if bn.track_running_stats:
        new.running_mean.copy_(bn.running_mean[keep])
        new.running_var.copy_(bn.running_var[keep])
        new.num_batches_tracked.copy_(bn.num_batches_tracked)
    new.train(bn.training)
    return new


def _linear_subset(linear: nn.Linear, keep_in: torch.Tensor) -> nn.Linear:
    """A new Linear reading only the kept input features."""
    w = linear.weight.detach()[:, keep_in]
    new = nn.Linear(w.shape[1], w.shape[0], linear.bias is not None, device=w.device, dtype=w.dtype)
    new.weight.data.copy_(w)
    if linear.bias is not None:
        new.bias.data.copy_(linear.bias.detach())
    new.train(linear.training)
    return new


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Replace the submodule at dotted path ``name``."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _n_keep(channels: int, amount: float, round_to: int, min_channels: int) -> int:
    """How many of ``channels`` to keep when removing the ``amount`` fraction."""
    keep = int(round(channels * (1.0 - amount)))
    if round_to > 1:
        keep = int(round(keep / round_to)) * round_to
    return int(min(channels, max(min_channels, keep)))


def channel_plan(model: nn.Module) -> list[dict]:
    """The chain channel pruning follows: one entry per Conv2d with its BatchNorm and consumer layer names."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    plan = []
    for i, (name, m) in enumerate(layers):
        if not isinstance(m, nn.Conv2d):
            continue
        if m.groups != 1:
            raise ValueError(f"{name}: grouped/depthwise conv (groups={m.groups}) is not supported")
        j, bn = i + 1, None
        if j < len(layers) and isinstance(layers[j][1], nn.BatchNorm2d):
            bn, j = layers[j][0], j + 1
            if layers[j - 1][1].num_features != m.out_channels:
                raise ValueError(f"{bn} has {layers[j - 1][1].num_features} features, {name} gives {m.out_channels}")
        nxt = layers[j] if j < len(layers) else None
        if nxt is None:
            consumer = None
        elif isinstance(nxt[1], nn.Conv2d) and nxt[1].in_channels == m.out_channels:
            consumer = nxt[0]
        elif isinstance(nxt[1], nn.Linear) and nxt[1].in_features == m.out_channels:
            consumer = nxt[0]
        else:
            raise ValueError(f"{name} ({m.out_channels} outputs) is not followed by a layer that reads exactly "
                             f"those channels (next: {nxt[0]} {nxt[1]}); only sequential-style CNNs "
                             "(like au.SmallCNN) can be channel-pruned here")
        plan.append({"conv": name, "bn": bn, "consumer": consumer})
    if not plan:
        raise ValueError("channel_plan() found no Conv2d layer to prune")
    return plan


def channel_prune(model: nn.Module, amount: float | Mapping[str, float], *, criterion: str = "l1",
                  round_to: int = 1, min_channels: int = 1, skip: Iterable[str] = (),
                  inplace: bool = False) -> nn.Module:
    """Remove the ``amount`` fraction of output channels of each Conv2d and rebuild smaller layers.

    Channels are ranked per conv by ``channel_importance`` (``criterion`` l1 / l2 / bn); the lowest go.
    The conv loses those filters, its BatchNorm2d those features, and the next Conv2d / Linear those
    input channels, so the model really gets smaller and faster. ``amount`` is one fraction or a dict
    {conv name: fraction}; convs named in ``skip`` (or with amount 0) keep all channels; a conv whose
    outputs nothing reads (the last layer) is never pruned. ``round_to=8`` keeps channel counts a
    multiple of 8 (friendlier to vector units and tensor cores). Returns a new model unless ``inplace``.
    Example: ``small = channel_prune(au.SmallCNN(), 0.5)``.
    """
    model = model if inplace else copy.deepcopy(model)
    skip = set(skip)
    plan = channel_plan(model)
    keep_in: dict[str, torch.Tensor] = {}  # layer name -> indices of its input channels that survive
    for step in plan:
        name = step["conv"]
        conv = model.get_submodule(name)
        a = amount.get(name, 0.0) if isinstance(amount, Mapping) else amount
        if not 0.0 <= a < 1.0:
            raise ValueError(f"amount for {name!r} must be a fraction in [0, 1), got {a}")
        if name in keep_in:  # its inputs were pruned: drop them first, then rank what is left
            conv = _conv_subset(conv, None, keep_in[name])
            _set_module(model, name, conv)
        keep_out = None
        if step["consumer"] is not None and name not in skip and a > 0:
            bn = model.get_submodule(step["bn"]) if step["bn"] else None
            scores = channel_importance(conv, criterion, bn)
            k = _n_keep(conv.out_channels, a, round_to, min_channels)
            if k < conv.out_channels:
                keep_out = scores.topk(k).indices.sort().values
        if keep_out is not None:
            _set_module(model, name, _conv_subset(conv, keep_out, None))
        if keep_out is not None:
            if step["bn"]:
                _set_module(model, step["bn"], _bn_subset(model.get_submodule(step["bn"]), keep_out))
            consumer = model.get_submodule(step["consumer"])
            if isinstance(consumer, nn.Linear):
                _set_module(model, step["consumer"], _linear_subset(consumer, keep_out))
            else:
                keep_in[step["consumer"]] = keep_out
    return model


def channel_counts(model: nn.Module) -> dict[str, int]:
    """{conv name: output channels}: to see what channel pruning left."""
    return {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
