"""accel_utils.ddp_train and accel_utils.launch: DDP == one process, and failures that raise instead of hanging."""
from __future__ import annotations

import socket
import sys
import time

import pytest
import torch

from accel_utils import ddp_train, launch

TINY = ["--hidden", "32", "--global-batch", "16", "--steps", "4", "--lr", "0.1", "--log-every", "2"]


def test_ddp_world_size_2_equals_single_process(tmp_path):
    """Two gloo ranks with no_sync accumulation end with the weights of one process on the same global batches."""
    launch.torchrun("accel_utils.ddp_train", [*TINY, "--accum", "2", "--out", tmp_path / "ddp"], nproc=2,
                    timeout=150, echo=None)
    ddp_train.main([*TINY, "--accum", "2", "--single", "--virtual-world", "2", "--out", str(tmp_path / "single")])
    ddp = ddp_train.load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    ref = ddp_train.load_checkpoint(tmp_path / "single" / "checkpoint.pt")
    assert ddp["world_size"] == 2 and ref["world_size"] == 1
    assert ddp["model"].keys() == ref["model"].keys()
    for k in ref["model"]:
        torch.testing.assert_close(ddp["model"][k], ref["model"][k], rtol=1e-5, atol=1e-6)


def test_crashed_rank_raises_quickly_with_its_traceback(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(launch.LaunchError) as info:
        launch.torchrun("accel_utils.ddp_train", [*TINY, "--crash-rank", "1", "--crash-step", "1", "--out", tmp_path],
                        nproc=2, timeout=150, echo=None)
    err = info.value
    assert not isinstance(err, launch.LaunchTimeout)
    assert err.returncode not in (0, None)
    assert err.rank == 1
    assert "deliberate crash on rank 1" in err.traceback
    assert time.perf_counter() - t0 < 150


def test_port_in_use_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert launch.port_in_use(port)
        with pytest.raises(launch.PortInUseError, match=str(port)):
            launch.torchrun("accel_utils.ddp_train", ["--out", "unused"], port=port, timeout=5, echo=None)


def test_timeout_kills_the_job():
    t0 = time.perf_counter()
    with pytest.raises(launch.LaunchTimeout):
        launch.run_command([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
                           timeout=1.5, echo=None)
    assert time.perf_counter() - t0 < 10


def test_run_command_streams_lines():
    seen = []
    run = launch.run_command([sys.executable, "-c", "print('a'); print('b')"], timeout=30, echo=seen.append)
    assert seen == ["a", "b"] and run.lines == ["a", "b"] and run.returncode == 0


def test_root_cause_parsing():
    log = ["[rank0]: Traceback (most recent call last):", "[rank0]:   File \"x.py\", line 1", "[rank0]: RuntimeError: peer",
           "Root Cause (first observed failure):", "[0]:", "  time      : now", "  rank      : 1 (local_rank: 1)",
           "  exitcode  : 1 (pid: 5)", "  traceback : Traceback (most recent call last):",
           "    File \"y.py\", line 2, in main", "  ValueError: boom", "  ", "=" * 20]
    text, rank = launch._worker_traceback(log)
    assert rank == 1 and "ValueError: boom" in text and "peer" not in text


def test_commands():
    cmd = launch.torchrun_command("accel_utils.ddp_train", ["--out", "x"], nproc=2, port=12345)
    assert "--master_port=12345" in cmd and cmd[-4:] == ["-m", "accel_utils.ddp_train", "--out", "x"]
    text = launch.multinode_command("accel_utils.ddp_train", ["--out", "x"], nnodes=2, nproc=4, node_rank=1,
                                    rdzv_endpoint="10.0.0.1:29500")
    assert "--nnodes=2" in text and "--node_rank=1" in text and "--rdzv_endpoint=10.0.0.1:29500" in text


def test_reference_order_is_the_union_of_the_shards():
    data = torch.utils.data.TensorDataset(torch.arange(40).float()[:, None], torch.arange(40))
    ref = ddp_train._batches(data, world=2, rank=None, micro=4, seed=3)
    shards = [ddp_train._batches(data, world=2, rank=r, micro=4, seed=3) for r in range(2)]
    for _ in range(8):  # crosses an epoch boundary: set_epoch changes the shuffle
        x, _ = next(ref)
        parts = [next(s)[0] for s in shards]
        assert torch.equal(x, torch.cat(parts))
