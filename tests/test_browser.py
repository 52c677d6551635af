"""The course in a real browser, as a learner meets it: JupyterLab on the learner's notebooks/ (what `make lab`
opens), the learner's version of a notebook (exercises unsolved) run in headless Chromium, its explore slider moved.

Uses Debian's chromium (installed with apt-get when missing and we are root) driven by the playwright Python
client with executable_path set — no browser download. Without a browser the test is skipped with the reason,
except where ACCEL_REQUIRE_BROWSER=1 (CI's .ci/run sets it): there a missing browser fails the build.
The notebook's first au.explore slider is moved one step with the keyboard; the plot its callback draws must be
replaced by a different one. The screenshot goes to build/browser/<notebook>.png.
Another notebook: ACCEL_BROWSER_NOTEBOOK=03_batch_size.ipynb.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOK = os.environ.get("ACCEL_BROWSER_NOTEBOOK", "00_start_here.ipynb")  # must contain an au.explore slider
SCREENSHOTS = ROOT / "build" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_SERVER = 90   # seconds for JupyterLab to answer
TIMEOUT_RUN = 300     # seconds for every cell of the notebook to run (smoke mode)
TIMEOUT_UPDATE = 90   # seconds for the slider's output to change
LAB_SETTINGS = {  # no autosave (the committed notebook stays as it is), every cell in the DOM, no news fetch
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def _no_browser(reason: str):
    """Skip with the reason on a developer's machine; fail where a browser is required (CI)."""
    if os.environ.get("ACCEL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser test is required here (ACCEL_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    """The chromium executable, installed with apt-get if missing and possible; else no browser, with the reason."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        _no_browser(f"no browser: {CHROMIUM} is missing and it cannot be installed here (needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            _no_browser(f"no browser: `{' '.join(cmd)}` timed out")
        if run.returncode != 0:
            _no_browser(f"no browser: `{' '.join(cmd)}` failed: {(run.stderr or run.stdout).strip()[-300:]}")
    if not Path(CHROMIUM).exists():
        _no_browser(f"no browser: apt-get installed chromium but {CHROMIUM} is missing")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET", timeout: float = 5):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"},
                                 data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
        return json.loads(body) if body else None


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free localhost port, smoke mode, isolated settings; always shut down."""
    for name, value in LAB_SETTINGS.items():
        path = tmp_path / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "ACCEL_DEVICE")}
    env.update(ACCEL_MODE="smoke", ACCEL_RESULTS_DIR=str(tmp_path / "results"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={NOTEBOOK_DIR}",
                             "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
                             "--ServerApp.terminals_enabled=False", f"--FileCheckpoints.root_dir={tmp_path / 'checkpoints'}"]
                            + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
                            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_SERVER
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{(tmp_path / 'lab.log').read_text()[-2000:]}")
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in {TIMEOUT_SERVER} s:\n{(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        try:  # stop kernels, then the server; kill the whole process group if it lingers
            for k in _api(base, token, "/api/kernels"):
                _api(base, token, f"/api/kernels/{k['id']}", method="DELETE", timeout=15)
            _api(base, token, "/api/shutdown", method="POST")
        except Exception:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)
        log.close()


# JavaScript run in the page through the exposed JupyterLab application object.
JS_CLEAR = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  for (const cell of panel.content.model.cells) if (cell.type === 'code') { cell.outputs.clear(); cell.executionCount = null; }
}"""
JS_STATE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.model ? Array.from(panel.content.model.cells) : [];
  const code = cells.filter(c => c.type === 'code').map(c => c.toJSON()).filter(c => String(c.source).trim());
  return {status: kernel ? kernel.status : 'no kernel', ran: code.filter(c => c.execution_count).length,
          code: code.length, busy: document.querySelectorAll('.jp-InputArea-prompt').length ?
            Array.from(document.querySelectorAll('.jp-InputArea-prompt')).some(p => p.textContent.includes('*')) : true,
          errors: code.flatMap(c => (c.outputs || []).filter(o => o.output_type === 'error')
                                   .map(o => o.ename + ': ' + o.evalue))};
}"""


def _wait(page, predicate, timeout: float, what: str, poll: float = 0.5):
    """Poll predicate() until truthy, or fail after timeout seconds saying what was awaited."""
    deadline, value = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(poll * 1000)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last state: {value!r})")


@pytest.mark.slow
def test_explore_widget_in_chromium(request):
    nb_path = NOTEBOOK_DIR / NOTEBOOK
    assert nb_path.exists(), f"{nb_path} does not exist"
    assert json.loads(nb_path.read_text())["metadata"]["accel_course"]["version"] == "student"
    executable = _chromium()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        _no_browser(f"no browser driver: the playwright Python client is not installed ({e})")
    base, token = request.getfixturevalue("lab")  # the server starts only once a browser is there
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{nb_path.stem}.png"
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        except PlaywrightError as e:
            _no_browser(f"no browser: chromium at {executable} did not start: {str(e).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=60_000)
            _wait(page, lambda: page.evaluate(JS_STATE), 90, "the notebook to open")
            _wait(page, lambda: (page.evaluate(JS_STATE) or {}).get("status") == "idle", 90, "the kernel to be idle")
            page.evaluate(JS_CLEAR)  # the stored outputs and counts go: what follows is this run's
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            state = _wait(page, lambda: (lambda s: s if s and s["ran"] == s["code"] and not s["busy"]
                                         and s["status"] == "idle" else False)(page.evaluate(JS_STATE)),
                          TIMEOUT_RUN, "every cell to run")
            assert not state["errors"], f"cells failed in the browser: {state['errors']}"

            interact = page.locator(".widget-interact").filter(has=page.locator(".widget-slider")).first
            interact.wait_for(state="visible", timeout=30_000)  # the explore widget rendered
            slider = interact.locator(".widget-slider").first
            readout = slider.locator(".widget-readout").first
            plot = interact.locator(".widget-output img").first
            interact.scroll_into_view_if_needed()
            before_value = readout.inner_text().strip()
            before = _wait(page, lambda: plot.get_attribute("src") if plot.count() else "", 60, "the explore plot")
            handle = slider.locator(".noUi-handle, .ui-slider-handle").first
            handle.focus()
            page.keyboard.press("ArrowRight")  # one step: one re-run of the callback
            after_value = _wait(page, lambda: (lambda v: v if v != before_value else "")(readout.inner_text().strip()),
                                10, "the slider's readout to move")
            after = _wait(page, lambda: (lambda src: src if src and src != before else "")(
                              plot.get_attribute("src") if plot.count() else ""),
                          TIMEOUT_UPDATE, f"the explore plot to be redrawn for {after_value}")
            text = interact.locator(".widget-output").first.inner_text()
            assert "Traceback" not in text and "Error" not in text, text
            _wait(page, lambda: (page.evaluate(JS_STATE) or {}).get("status") == "idle", 60, "the kernel to be idle again")
            interact.scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
            print(f"\nslider {before_value} → {after_value}: plot redrawn ({len(before)} → {len(after)} bytes of PNG)"
                  f"\nscreenshot: {shot}")
        finally:
            browser.close()
    assert shot.exists() and shot.stat().st_size > 10_000


def test_no_browser_skips_for_a_developer_and_fails_where_required(monkeypatch):
    """Without chromium and the rights to install it: a visible skip locally, a failure under ACCEL_REQUIRE_BROWSER."""
    me = sys.modules[__name__]
    monkeypatch.setattr(me, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    monkeypatch.delenv("ACCEL_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no browser: /nonexistent/chromium is missing"):
        me._chromium()
    monkeypatch.setenv("ACCEL_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="required here"):
        me._chromium()
