"""keep_freed_memory: glibc tuned where it is the allocator, a preloaded caching allocator left alone; the A/B script."""
import json
import subprocess
import sys

import accel_utils as au
from accel_utils.core import allocator


def test_keep_freed_memory_says_what_it_did(monkeypatch):
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    state = au.keep_freed_memory()
    assert state == allocator.allocator_state() == au.probe().allocator
    if sys.platform.startswith("linux"):
        assert state in ("glibc malloc, freed memory kept for reuse", "the C library's malloc, untuned (no mallopt)")
    assert f"malloc   {state}" in au.probe().summary()


def test_a_preloaded_caching_allocator_is_left_alone(monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4")
    assert au.keep_freed_memory() == "tcmalloc (LD_PRELOAD): keeps freed memory"


def test_the_timing_script_prints_its_allocator_and_times():
    run = subprocess.run([sys.executable, "-m", "accel_utils.allocator_demo", "--keep"], capture_output=True, text=True,
                         env={**__import__("os").environ, "ACCEL_MODE": "smoke"}, timeout=300)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["allocator"] and len(out["times"]) >= 1 and all(t > 0 for t in out["times"])
