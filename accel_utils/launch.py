"""Launch ``torchrun`` from a notebook: a free port, logs streamed line by line, a timeout, clear errors.

A distributed job that fails must fail loudly and quickly: a crashed rank, a port already in use or a
job that never finishes becomes a Python exception carrying the exit code and the worker's traceback,
never a notebook cell that hangs.

Example::

    from accel_utils import launch
    run = launch.torchrun("train_ddp.py", ["--steps", "20", "--out", "result.pt"], nproc=2, timeout=120)
    print(run.seconds, run.returncode)

The target is a script (``train_ddp.py``, run as a file) or a module (``package.module``, run with ``-m``).
"""
from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LaunchError", "LaunchTimeout", "PortInUseError", "Run", "free_port", "port_in_use",
           "torchrun_command", "multinode_command", "torchrun", "run_command"]


class LaunchError(RuntimeError):
    """A launched job failed: its exit code, the worker's traceback (if one was printed) and the last log lines."""

    def __init__(self, message: str, *, returncode: int | None = None, traceback: str = "",
                 tail: Sequence[str] = (), command: Sequence[str] = (), rank: int | None = None,
                 lines: Sequence[str] = ()):
        self.returncode, self.traceback, self.tail, self.command = returncode, traceback, list(tail), list(command)
        self.rank, self.lines = rank, list(lines)
        parts = [message]
        if traceback:
            parts.append("worker traceback:\n" + traceback)
        elif tail:
            parts.append("last log lines:\n" + "\n".join(self.tail))
        super().__init__("\n".join(parts))


class LaunchTimeout(LaunchError):
    """The job ran longer than its timeout and was killed (its whole process group)."""


class PortInUseError(LaunchError):
    """The rendezvous port asked for is already taken by another process."""


@dataclass
class Run:
    """A finished job: its command, exit code, every log line and the wall-clock seconds."""

    command: list[str]
    returncode: int
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def log(self) -> str:
        """All log lines as one string."""
        return "\n".join(self.lines)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it), for the rendezvous of a local job."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on (host, port), or the port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if s.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _target(script_or_module: str) -> list[str]:
    """How torchrun is told what to run: a path ending in .py as a file, anything else as a module (-m)."""
    target = str(script_or_module)
    return [target] if target.endswith(".py") else ["-m", target]


def torchrun_command(module: str, args: Sequence[str] = (), *, nproc: int = 2, port: int | None = None,
                     host: str = "127.0.0.1", nnodes: int = 1, node_rank: int = 0,
                     rdzv_endpoint: str | None = None, rdzv_id: str = "accel-course",
                     python: str | None = None, monitor_interval: float = 0.5) -> list[str]:
    """The torchrun command line (as a list) that runs ``module`` (a .py script or a module name) on nproc workers.

    One node: a static rendezvous on host:port (``--master_addr/--master_port``). Several nodes
    (``nnodes > 1``): the c10d rendezvous at ``rdzv_endpoint`` ("host:port" of node 0) that every node joins.
    """
    cmd = [python or sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           f"--nnodes={nnodes}", "--max_restarts=0", f"--monitor_interval={monitor_interval}"]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd += [f"--node_rank={node_rank}", f"--master_addr={host}", f"--master_port={port or free_port(host)}"]
    else:
        if not rdzv_endpoint:
            raise ValueError("a multi-node job needs rdzv_endpoint='host:port' of the first node")
        cmd += ["--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}", f"--rdzv_id={rdzv_id}",
                f"--node_rank={node_rank}"]
    return cmd + _target(module) + [*map(str, args)]


def multinode_command(module: str, args: Sequence[str] = (), *, nnodes: int, nproc: int, node_rank: int | str,
                      rdzv_endpoint: str, rdzv_id: str = "accel-course") -> str:
    """The exact shell command to type on one node of an nnodes-node job (same on every node but node_rank)."""
    parts = ["torchrun", f"--nnodes={nnodes}", f"--nproc_per_node={nproc}", f"--node_rank={node_rank}",
             "--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}", f"--rdzv_id={rdzv_id}",
             *_target(module), *map(str, args)]
    return " ".join(shlex.quote(p) if not str(p).startswith("$") else str(p) for p in parts)


_TRACEBACK_START = re.compile(r"Traceback \(most recent call last\):")
_RANK_PREFIX = re.compile(r"^\[(?:default)?(?:rank)?\d+\]:\s?")


def _root_cause(lines: Sequence[str]) -> tuple[str, int | None]:
    """torchrun's 'Root Cause (first observed failure)' report: (rank line + traceback, failed rank) or ('', None)."""
    start = next((i for i, line in enumerate(lines) if "Root Cause" in line), None)
    if start is None:
        return "", None
    rank, head, block, inside = None, [], [], False
    for line in lines[start + 1:]:
        if line.startswith("====") and (block or head):
            break
        stripped = line.strip()
        if stripped.startswith("rank") and ":" in stripped:
            m = re.search(r":\s*(\d+)", stripped)
            rank = int(m.group(1)) if m else None
            head.append(stripped)
        elif stripped.startswith("exitcode"):
            head.append(stripped)
        elif stripped.startswith("traceback"):
            inside = True
            first = stripped.split(":", 1)[1].strip()
            if first and not first.startswith("Pending") and not first.startswith("To enable"):
                block.append(first)
        elif inside and line.strip():
            block.append(line[2:] if line.startswith("  ") else line)
    if not block:
        return "", rank
    return "\n".join([" · ".join(head)] + block), rank


def _first_traceback(lines: Sequence[str]) -> str:
    """The first Python traceback printed in the log (one rank's), from 'Traceback' to its exception line."""
    for i, line in enumerate(lines):
        if _TRACEBACK_START.search(line):
            prefix = line[:len(line) - len(_RANK_PREFIX.sub("", line))]
            block = [line]
            for nxt in lines[i + 1:i + 300]:
                if prefix and not nxt.startswith(prefix):
                    continue  # another rank's line interleaved
                block.append(nxt)
                body = _RANK_PREFIX.sub("", nxt)
                if body and not body.startswith((" ", "\t")) and not _TRACEBACK_START.search(body):
                    break  # the exception line ends the traceback
            return "\n".join(block)
    return ""


def _worker_traceback(lines: Sequence[str]) -> tuple[str, int | None]:
    """The failed worker's traceback and rank: torchrun's root cause if reported, else the first traceback."""
    text, rank = _root_cause(lines)
    return (text, rank) if text else (_first_traceback(lines), rank)


def _package_root() -> str:
    """The folder that holds accel_utils, so workers import the same package as the notebook."""
    return str(Path(__file__).resolve().parent.parent)


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM the job's whole process group, then SIGKILL what is left after grace seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_command(cmd: Sequence[str], *, timeout: float = 300, env: dict | None = None,
                echo: Callable[[str], None] | None = print, filter: Callable[[str], bool] | None = None,
                cwd: str | None = None) -> Run:
    """Run cmd in its own process group, streaming each output line to echo; raise LaunchError on failure.

    On timeout the whole process group is killed and LaunchTimeout is raised. A non-zero exit code raises
    LaunchError with the first worker traceback found in the log. ``filter(line)`` chooses the lines echoed
    (all lines are kept in ``Run.lines`` and in the error).
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), full_env.get("PYTHONPATH", "")) if p)
    full_env["PYTHONUNBUFFERED"] = "1"  # lines arrive as they are printed, not when a buffer fills
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env=full_env, cwd=cwd, start_new_session=True, errors="replace")
    lines: list[str] = []
    q: queue.Queue = queue.Queue()

    def reader():
        for line in proc.stdout:
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=reader, daemon=True).start()
    deadline = t0 + timeout
    finished = False
    try:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                line = q.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                finished = True
                break
            lines.append(line)
            if echo is not None and (filter is None or filter(line)):
                echo(line)
        if finished:
            try:
                proc.wait(timeout=max(deadline - time.perf_counter(), 1.0))
            except subprocess.TimeoutExpired:
                finished = False
    except BaseException:  # KeyboardInterrupt in the notebook: stop the job too
        _kill_group(proc)
        raise
    seconds = time.perf_counter() - t0
    if not finished:
        _kill_group(proc)
        text, rank = _worker_traceback(lines)
        raise LaunchTimeout(f"the job did not finish within {timeout:g} s and was killed (process group {proc.pid}); "
                            "a rank may be waiting for a peer that never arrives",
                            returncode=proc.returncode, traceback=text, tail=lines[-15:],
                            command=list(cmd), rank=rank, lines=lines)
    _kill_group(proc, grace=0.5)  # nothing should be left; make sure no orphan keeps a port
    if proc.returncode != 0:
        text, rank = _worker_traceback(lines)
        who = f"rank {rank} failed; " if rank is not None else ""
        raise LaunchError(f"{who}the job exited with code {proc.returncode} after {seconds:.1f} s: "
                          f"{shlex.join(map(str, cmd))}", returncode=proc.returncode,
                          traceback=text, tail=lines[-15:], command=list(cmd), rank=rank, lines=lines)
    return Run(command=list(cmd), returncode=proc.returncode, lines=lines, seconds=seconds)


def torchrun(module: str, args: Sequence[str] = (), *, nproc: int = 2, port: int | None = None,
             timeout: float = 300, threads_per_proc: int | None = None, env: dict | None = None,
             echo: Callable[[str], None] | None = print, filter: Callable[[str], bool] | None = None,
             host: str = "127.0.0.1") -> Run:
    """Run ``torchrun --nproc_per_node=nproc module args`` on this machine and wait for it (bounded by timeout).

    ``module`` is a script (``train_ddp.py``, which must exist) or a module name run with ``-m``.

    A free port is chosen unless ``port`` is given; a port already in use raises PortInUseError before
    anything starts. ``threads_per_proc`` sets OMP_NUM_THREADS for every worker (torchrun's default is 1).
    Returns a Run; raises LaunchError (exit code + worker traceback) or LaunchTimeout.
    """
    if str(module).endswith(".py") and not Path(module).is_file():
        raise FileNotFoundError(f"no script {module!r} in {Path.cwd()}: write it first (the %%writefile cell), "
                                "or give its path")
    if port is not None and port_in_use(port, host):
        raise PortInUseError(f"port {port} on {host} is already in use by another process; "
                             "pass port=None to let the launcher pick a free one", command=[])
    env = dict(env or {})
    if threads_per_proc is not None:
        env["OMP_NUM_THREADS"] = str(threads_per_proc)
    for attempt in range(2):
        cmd = torchrun_command(module, args, nproc=nproc, port=port or free_port(host), host=host)
        try:
            return run_command(cmd, timeout=timeout, env=env, echo=echo, filter=filter)
        except LaunchError as e:  # a free port taken by someone else between choosing and binding: one retry
            if port is not None or attempt or "address already in use" not in "\n".join(e.lines).lower():
                raise
    raise AssertionError("unreachable")
