"""keep_freed_memory: glibc told to keep freed memory where it is the allocator (and it does keep it), a preloaded
caching allocator left alone; the demo of notebook 00 runs in fresh processes and pairs their rounds."""
import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

import accel_utils as au
from accel_utils import allocator_demo
from accel_utils.core import allocator

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
KEPT_STATE = "glibc malloc, freed memory kept for reuse"



def test_keep_freed_memory_says_what_it_did(monkeypatch):
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    state = au.keep_freed_memory()
    assert state == allocator.allocator_state() == au.probe().allocator
    if GLIBC:  # mallopt exists in glibc: telling it to keep freed memory must succeed, not fall back to "untuned"
        assert state == KEPT_STATE
    assert f"malloc   {state}" in au.probe().summary()


@pytest.mark.slow
@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_kept_memory_stays_in_the_process_after_a_large_free():
    """The behaviour itself: a freed 256 MB tensor goes back to the OS by default, and stays when memory is kept."""
    code = """
        import json, sys, psutil, torch
        from accel_utils.core.allocator import keep_freed_memory
        if sys.argv[-1] == "keep":
            keep_freed_memory()
        rss = lambda: psutil.Process().memory_info().rss
        before = rss()
        x = torch.ones(64 * 2 ** 20)          # 256 MB, every page touched
        del x
        print(json.dumps({"kept_mb": (rss() - before) / 2 ** 20}))
    """
    def kept_mb(mode):
        run = subprocess.run([sys.executable, "-c", textwrap.dedent(code), mode], capture_output=True, text=True,
                             timeout=300, env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout.strip().splitlines()[-1])["kept_mb"]

    assert kept_mb("default") < 64      # glibc's default: a block this large is mmapped and unmapped on free
    assert kept_mb("keep") > 192        # kept: the freed block stays in the process for the next allocation


def test_a_preloaded_caching_allocator_is_left_alone(monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4")
    assert au.keep_freed_memory() == "tcmalloc (LD_PRELOAD): keeps freed memory"


@pytest.mark.slow
def test_the_timing_script_prints_its_allocator_and_times():
    run = subprocess.run([sys.executable, "-m", "accel_utils.allocator_demo", "--keep"], capture_output=True, text=True,
                         env={**os.environ, "ACCEL_MODE": "smoke"}, timeout=300)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(out["times"]) >= 1 and all(t > 0 for t in out["times"])
    if GLIBC and "LD_PRELOAD" not in os.environ:
        assert out["allocator"] == KEPT_STATE


@pytest.mark.slow
def test_compare_allocators_pairs_two_fresh_processes_round_by_round(monkeypatch):
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    ms, states = allocator_demo.compare_allocators(3, block_time=0.005)
    assert list(ms) == [allocator_demo.DEFAULT, allocator_demo.KEPT]
    a, b = ms[allocator_demo.DEFAULT], ms[allocator_demo.KEPT]
    assert len(a.times) == len(b.times) == 3 and all(t > 0 for t in a.times + b.times)
    assert a.session == b.session is not None            # one session: compare pairs them, record accepts them
    speedup = au.compare(a, b)
    assert speedup.paired and len(speedup.values) == 3
    assert speedup.values == pytest.approx([x / y for x, y in zip(a.times, b.times)])
    assert states[allocator_demo.DEFAULT] == "default"
    if GLIBC:
        assert states[allocator_demo.KEPT] == KEPT_STATE


def test_a_worker_that_dies_is_reported(monkeypatch):
    monkeypatch.setattr(sys, "executable", sys.executable + "-missing")
    with pytest.raises((RuntimeError, OSError)):
        allocator_demo.compare_allocators(1, block_time=0.005)


@pytest.mark.slow
def test_the_worker_protocol_answers_one_block_per_line():
    import io

    out = io.StringIO()
    allocator_demo.serve(0.001, stdin=io.StringIO("time\ntime\n"), stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["number"] >= 1 and lines[0]["allocator"]
    assert len(lines) == 3 and all(line["seconds"] > 0 for line in lines[1:])


def test_compare_allocators_needs_a_round():
    with pytest.raises(ValueError):
        allocator_demo.compare_allocators(0)
