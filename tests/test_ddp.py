"""Notebook 07's DDP script (taken from its %%writefile cell) and accel_utils.launch: DDP == one process, loud failures."""
from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest
import torch

from accel_utils import launch

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "solutions" / "07_distributed_training.ipynb"
MAGIC = "%%writefile train_ddp.py"
TINY = ["--hidden", "32", "--global-batch", "16", "--steps", "4"]


def notebook_script() -> str:
    """The source of train_ddp.py as the notebook's %%writefile cell writes it."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    found = [s for s in sources if s.startswith(MAGIC)]
    assert len(found) == 1, f"expected one cell starting with {MAGIC!r} in {NOTEBOOK.name}, found {len(found)}"
    return found[0].split("\n", 1)[1] + "\n"


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "train_ddp.py"
    path.write_text(notebook_script())
    return path


def run(script: Path, out: Path, nproc: int, *args, timeout: float = 240) -> dict:
    launch.torchrun(str(script), [*TINY, *args, "--out", out], nproc=nproc, threads_per_proc=1, timeout=timeout,
                    echo=None)
    return torch.load(out, weights_only=True)


def test_the_script_is_short_and_complete():
    src = notebook_script()
    compile(src, "train_ddp.py", "exec")
    for piece in ("init_process_group", "DistributedSampler", "set_epoch", "DDP(", "no_sync", "autocast",
                  "rank == 0", "torch.save"):
        assert piece in src, f"the notebook's script lost {piece!r}"
    assert len(src.splitlines()) <= 110, "the script the learner reads should stay short"


@pytest.mark.slow
def test_ddp_world_size_2_equals_one_process(script, tmp_path):
    """Two gloo ranks, with no_sync accumulation, end with the weights of one process on the same global batches."""
    one = run(script, tmp_path / "one.pt", 1, "--time-steps", "2")
    ddp = run(script, tmp_path / "ddp.pt", 2, "--accum", "2", "--time-steps", "2")
    assert one["world"] == 1 and ddp["world"] == 2
    for state in ("first_step", "final"):
        assert ddp[state].keys() == one[state].keys()
        for k in one[state]:
            torch.testing.assert_close(ddp[state][k], one[state][k], rtol=1e-5, atol=1e-6)
    moved = max((one["first_step"][k] - one["init"][k]).abs().max().item() for k in one["init"])
    assert moved > 1e-4, "one step must move the weights, or the equality above proves nothing"
    for kind in ("sync", "no_sync", "all_reduce"):
        assert len(ddp["times"][kind]) == 2 and all(t > 0 for t in ddp["times"][kind])
    assert len(ddp["losses"]) == 4


@pytest.mark.slow
def test_crashed_rank_raises_quickly_with_its_traceback(script, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(launch.LaunchError) as info:
        run(script, tmp_path / "crash.pt", 2, "--crash-rank", "1")
    err = info.value
    assert not isinstance(err, launch.LaunchTimeout)
    assert err.returncode not in (0, None)
    assert err.rank == 1
    assert "deliberate crash on rank 1" in err.traceback
    assert time.perf_counter() - t0 < 240
    assert not (tmp_path / "crash.pt").exists()


def test_a_missing_script_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_ddp.py"):
        launch.torchrun(str(tmp_path / "train_ddp.py"), ["--out", tmp_path / "x.pt"], timeout=5, echo=None)


def test_port_in_use_is_a_clear_error(script, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert launch.port_in_use(port)
        with pytest.raises(launch.PortInUseError, match=str(port)):
            launch.torchrun(str(script), ["--out", tmp_path / "x.pt"], port=port, timeout=5, echo=None)


def test_timeout_kills_the_job():
    t0 = time.perf_counter()
    with pytest.raises(launch.LaunchTimeout):
        launch.run_command([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
                           timeout=1.5, echo=None)
    assert time.perf_counter() - t0 < 10


def test_a_failed_command_raises_with_its_output():
    with pytest.raises(launch.LaunchError) as info:
        launch.run_command([sys.executable, "-c", "print('before'); raise SystemExit(3)"], timeout=30, echo=None)
    assert info.value.returncode == 3 and "before" in info.value.lines


def test_run_command_streams_lines():
    seen = []
    run_ = launch.run_command([sys.executable, "-c", "print('a'); print('b')"], timeout=30, echo=seen.append)
    assert seen == ["a", "b"] and run_.lines == ["a", "b"] and run_.returncode == 0


def test_run_command_filters_what_it_echoes():
    seen = []
    run_ = launch.run_command([sys.executable, "-c", "print('step 1'); print('noise')"], timeout=30,
                              echo=seen.append, filter=lambda line: line.startswith("step"))
    assert seen == ["step 1"] and run_.lines == ["step 1", "noise"]


def test_root_cause_parsing():
    log = ["[rank0]: Traceback (most recent call last):", "[rank0]:   File \"x.py\", line 1", "[rank0]: RuntimeError: peer",
           "Root Cause (first observed failure):", "[0]:", "  time      : now", "  rank      : 1 (local_rank: 1)",
           "  exitcode  : 1 (pid: 5)", "  traceback : Traceback (most recent call last):",
           "    File \"y.py\", line 2, in main", "  ValueError: boom", "  ", "=" * 20]
    text, rank = launch._worker_traceback(log)
    assert rank == 1 and "ValueError: boom" in text and "peer" not in text


def test_commands_run_a_script_as_a_file_and_a_module_with_dash_m():
    cmd = launch.torchrun_command("train_ddp.py", ["--out", "x"], nproc=2, port=12345)
    assert "--master_port=12345" in cmd and cmd[-3:] == ["train_ddp.py", "--out", "x"] and "-m" not in cmd[-4:]
    cmd = launch.torchrun_command("some.module", ["--out", "x"], nproc=2, port=12345)
    assert cmd[-4:] == ["-m", "some.module", "--out", "x"]
    text = launch.multinode_command("train_ddp.py", ["--out", "x"], nnodes=2, nproc=4, node_rank=1,
                                    rdzv_endpoint="10.0.0.1:29500")
    assert "--nnodes=2" in text and "--node_rank=1" in text and "--rdzv_endpoint=10.0.0.1:29500" in text
    assert text.endswith("train_ddp.py --out x")


def test_exercise_3_answer_follows_what_the_learner_measured():
    from accel_utils.teaching.checks import check_choice

    assert check_choice("07.3", "b", ddp_faster=False).passed
    assert check_choice("07.3", "e", ddp_faster=True).passed
    assert check_choice("07.3", "b", ddp_faster=True).passed is False
    assert check_choice("07.3", "a", ddp_faster=False).passed is False
    assert check_choice("07.3", None).passed is None
