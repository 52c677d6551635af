"""A DDP training script, launched by torchrun: ``torchrun --nproc_per_node=2 -m accel_utils.ddp_train --out runs/ddp``.

What it shows, each piece in a few lines:

- the process group from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT):
  NCCL when every local rank has its own GPU, gloo otherwise (CPU);
- the same initial weights on every rank (one seed), and a per-rank seed for everything random after that;
- ``DistributedSampler`` with ``set_epoch`` so each rank sees its own shard and the shuffle changes every epoch;
- ``DistributedDataParallel`` (or FSDP2's ``fully_shard`` with ``--fsdp``), gradient accumulation with
  ``no_sync``, optional autocast;
- rank-0-only logging and checkpointing (``torch.save``; load it with ``load_checkpoint``, weights_only=True);
- ``--single``: one process that trains on the same global batches in the same order, the reference the
  DDP result must equal;
- timings: the step time, the step time without gradient synchronisation (``no_sync``), and one all-reduce
  of every gradient, from which the notebook derives throughput and the share of time spent communicating.

The summary goes to ``<out>/summary.json``, the weights to ``<out>/checkpoint.pt``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from .core.allocator import keep_freed_memory
from .data import load_dataset
from .models import MLP, SmallCNN


def parse_args(argv=None) -> argparse.Namespace:
    """The command-line options (see ``python -m accel_utils.ddp_train --help``)."""
    p = argparse.ArgumentParser(prog="python -m accel_utils.ddp_train", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for summary.json and checkpoint.pt")
    p.add_argument("--model", default="mlp", choices=("mlp", "cnn"))
    p.add_argument("--hidden", default="256,128", help="MLP hidden sizes, comma separated")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--global-batch", type=int, default=64, help="samples per optimizer step, over all ranks")
    p.add_argument("--accum", type=int, default=1, help="micro-batches per optimizer step (no_sync on all but the last)")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps to train")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0, help="initial weights (and, unless --data-seed, the shuffle)")
    p.add_argument("--data-seed", type=int, default=None, help="seed of the DistributedSampler's shuffle")
    p.add_argument("--amp", default="none", choices=("none", "bf16", "fp16"), help="autocast dtype")
    p.add_argument("--fsdp", action="store_true", help="shard parameters with FSDP2 fully_shard instead of DDP")
    p.add_argument("--single", action="store_true", help="one process, same global batches and order (the reference)")
    p.add_argument("--virtual-world", type=int, default=2, help="with --single: the world size whose data order to follow")
    p.add_argument("--timing-steps", type=int, default=0, help="extra steps timed with and without gradient sync")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: one GPU per process when there are enough GPUs, else CPU")
    p.add_argument("--always-sync", action="store_true", help="accumulate without no_sync (all-reduce every micro-batch)")
    p.add_argument("--crash-rank", type=int, default=-1, help="this rank raises an error (to show failure handling)")
    p.add_argument("--crash-step", type=int, default=2)
    p.add_argument("--log-every", type=int, default=5)
    p.add_argument("--no-checkpoint", action="store_true")
    return p.parse_args(None if argv is None else [str(a) for a in argv])


def build_model(args) -> nn.Module:
    """The model to train: an MLP (no BatchNorm, no dropout: bit-for-bit comparable) or the SmallCNN."""
    if args.model == "mlp":
        hidden = tuple(int(h) for h in args.hidden.split(",") if h)
        return MLP(784, hidden, 10)
    return SmallCNN(1, 10, (16, 32))


def load_train_set(name: str) -> TensorDataset:
    """The training images as one in-memory TensorDataset (normalised once), so loading costs nothing."""
    splits = load_dataset(name)
    x, y = splits.train.tensors()
    return TensorDataset(x, y)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """A checkpoint written by this script; weights_only=True refuses anything but tensors and plain data."""
    return torch.load(path, map_location=map_location, weights_only=True)


class Logger:
    """print on rank 0 only (every rank prefixes its lines when asked to speak)."""

    def __init__(self, rank: int):
        self.rank = rank

    def __call__(self, *msg, all_ranks: bool = False):
        if all_ranks or self.rank == 0:
            print(f"[rank {self.rank}]", *msg, flush=True)


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _shard_batches(dataset, world: int, rank: int, micro: int, seed: int, epoch: int):
    """The micro-batches rank `rank` of `world` sees in `epoch`: DistributedSampler + set_epoch."""
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)  # without it every epoch repeats the same shuffle
    return DataLoader(dataset, batch_size=micro, sampler=sampler, drop_last=True)


def _batches(dataset, *, world: int, rank: int | None, micro: int, seed: int):
    """Endless micro-batches for one rank, epoch after epoch; rank=None concatenates every rank's (the reference)."""
    epoch = 0
    while True:
        if rank is None:
            loaders = [_shard_batches(dataset, world, r, micro, seed, epoch) for r in range(world)]
            for parts in zip(*loaders):
                yield torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        else:
            yield from _shard_batches(dataset, world, rank, micro, seed, epoch)
        epoch += 1


def _full_state_dict(model: nn.Module, fsdp: bool) -> dict:
    """Plain tensors on CPU; with FSDP every rank gathers the shards (a collective: all ranks call it)."""
    state = model.state_dict()
    if fsdp:
        state = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v) for k, v in state.items()}
    return {k.removeprefix("module."): v.detach().cpu().clone() for k, v in state.items()}


def main(argv=None) -> dict:
    """Train, time, checkpoint; return (and on rank 0 write) the summary."""
    args = parse_args(argv)
    keep_freed_memory()  # as in the notebooks: timings do not depend on malloc returning pages to the OS
    out = Path(args.out)
    distributed = not args.single
    if distributed:
        rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        enough_gpus = torch.cuda.is_available() and torch.cuda.device_count() >= local_world
        use_cuda = args.device == "cuda" or (args.device == "auto" and enough_gpus)
        backend = "nccl" if use_cuda else "gloo"  # NCCL needs one GPU per process; gloo runs anywhere
        device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=60))
    else:
        rank, world, local_rank, backend = 0, 1, 0, "none"
        use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        device = torch.device("cuda" if use_cuda else "cpu")
    log = Logger(rank)
    log(f"world size {world}, backend {backend}, device {device}, {torch.get_num_threads()} thread(s) per process")

    data_world = args.virtual_world if args.single else world
    if args.global_batch % (data_world * args.accum):
        raise ValueError(f"--global-batch {args.global_batch} must be divisible by world size × accum "
                         f"= {data_world} × {args.accum}")
    micro = args.global_batch // (data_world * args.accum)  # samples per rank per micro-batch

    torch.manual_seed(args.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(args).to(device)
    torch.manual_seed(args.seed + rank)  # from here on, randomness (dropout, augmentation) differs per rank
    n_params = sum(p.numel() for p in model.parameters())
    if distributed and args.fsdp:
        from torch.distributed.fsdp import fully_shard

        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                fully_shard(layer)
        fully_shard(model)
        local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in model.parameters())
        log(f"FSDP: this rank holds {local:,} of {n_params:,} parameters", all_ranks=True)
        wrapped = model
    elif distributed:
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    else:
        wrapped = model
    optimizer = torch.optim.SGD(wrapped.parameters(), lr=args.lr, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=(args.amp == "fp16"))
    loss_fn = nn.CrossEntropyLoss()

    dataset = load_train_set(args.dataset)
    batches = _batches(dataset, world=data_world, rank=None if args.single else rank, micro=micro,
                       seed=args.seed if args.data_seed is None else args.data_seed)
    if args.single:  # the reference trains on each global batch at once (its accum micro-batches concatenated)
        accum = 1
        batches = _concat(batches, args.accum)
    else:
        accum = args.accum

    def no_sync():
        if args.fsdp:  # FSDP2: hold the reduce-scatter until the last micro-batch
            return _fsdp_no_sync(wrapped)
        return wrapped.no_sync() if distributed else contextlib.nullcontext()

    def train_step(sync: bool = True) -> float:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for i in range(accum):
            x, y = next(batches)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if args.model == "mlp":
                x = x.flatten(1)
            last = i == accum - 1
            skip_sync = not sync or (not last and not args.always_sync)
            with (no_sync() if skip_sync else contextlib.nullcontext()):
                with _autocast(device, args.amp):
                    loss = loss_fn(wrapped(x), y) / accum
                scaler.scale(loss).backward()
            total += float(loss.detach())
        scaler.step(optimizer)
        scaler.update()
        return total

    if args.crash_rank == rank and args.crash_step == 0:
        raise RuntimeError(f"deliberate crash on rank {rank} before training (--crash-rank {rank})")
    losses, step_times = [], []
    for step in range(1, args.steps + 1):
        _sync(device)
        t0 = time.perf_counter()
        loss = train_step()
        _sync(device)
        step_times.append(time.perf_counter() - t0)
        losses.append(loss)
        if args.crash_rank == rank and step == args.crash_step:
            raise RuntimeError(f"deliberate crash on rank {rank} at step {step} (--crash-rank {rank})")
        if step % args.log_every == 0 or step == args.steps:
            log(f"step {step:4d}/{args.steps}  loss {loss:.4f} (this rank's shard)  {step_times[-1] * 1e3:.1f} ms/step")

    if distributed:  # each rank logged its own shard's loss; the global loss is their mean (one collective)
        t = torch.tensor(losses, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        losses = (t / world).tolist()
    state = _full_state_dict(wrapped, args.fsdp and distributed)
    if rank == 0 and not args.no_checkpoint:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "checkpoint.pt.tmp"
        torch.save({"model": state, "step": args.steps, "world_size": world, "args": vars(args)}, tmp)
        os.replace(tmp, out / "checkpoint.pt")  # a crash mid-save never leaves half a checkpoint
        log(f"checkpoint written: {out / 'checkpoint.pt'}")

    timing = _time_sync_and_comm(args, train_step, device, distributed, wrapped) if args.timing_steps else {}
    summary = {
        "world_size": world, "backend": backend, "device": str(device), "threads": torch.get_num_threads(),
        "fsdp": bool(args.fsdp and distributed), "single": args.single, "model": args.model, "params": n_params,
        "global_batch": args.global_batch, "micro_batch": micro, "accum": args.accum, "amp": args.amp,
        "steps": args.steps, "losses": losses, "step_times": step_times, **timing,
    }
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        log(f"summary written: {out / 'summary.json'}")
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def _concat(batches, k: int):
    """Join k consecutive (x, y) batches into one."""
    while True:
        parts = [next(batches) for _ in range(k)]
        yield torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@contextlib.contextmanager
def _fsdp_no_sync(model):
    """FSDP2's equivalent of DDP.no_sync: skip gradient reduction for this backward."""
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def _time_sync_and_comm(args, train_step, device, distributed, wrapped) -> dict:
    """Step time with sync, step time without (no_sync: the same compute, no communication), one all-reduce."""
    n = args.timing_steps

    def timed(sync: bool) -> list[float]:
        times = []
        for _ in range(n):
            if distributed:
                dist.barrier()  # start together, so one rank's lag is not charged to the other's communication
            _sync(device)
            t0 = time.perf_counter()
            train_step(sync=sync)
            _sync(device)
            times.append(time.perf_counter() - t0)
        return times

    with_sync, without_sync = timed(True), timed(False)
    allreduce = []
    if distributed:
        flat = torch.zeros(sum(p.numel() for p in wrapped.parameters()), device=device)
        for _ in range(n):
            dist.barrier()
            _sync(device)
            t0 = time.perf_counter()
            dist.all_reduce(flat)
            _sync(device)
            allreduce.append(time.perf_counter() - t0)
    med = statistics.median
    return {"timed_step": with_sync, "timed_step_nosync": without_sync, "allreduce": allreduce,
            "median_step": med(with_sync), "median_step_nosync": med(without_sync),
            "median_allreduce": med(allreduce) if allreduce else 0.0}


if __name__ == "__main__":
    from torch.distributed.elastic.multiprocessing.errors import record

    record(main)()  # on failure: the traceback is printed and written where torchrun reports it; exit code 1
    # Success: every file is written and the process group destroyed. Skip the interpreter's teardown, where gloo's
    # C++ worker threads that are still alive can abort the process ("terminate called without an active
    # exception", SIGABRT) after a run that succeeded, which torchrun would then report as a failed rank.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
