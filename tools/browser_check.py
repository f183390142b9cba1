"""Look at a chapter the way a learner does: JupyterLab in a real (headless) browser.

Not part of `make test` (it needs Debian's chromium and the `playwright` package, and takes a
minute per chapter); run it after changing what a chapter shows:

    apt-get install chromium && pip install playwright
    python tools/browser_check.py 07_playground.ipynb      # writes browser-check/*.png

It starts JupyterLab on a free port over a copy of notebooks/ (so that JupyterLab's autosave
cannot touch the committed notebooks), opens the chapter, runs every cell (the servers start
as usual and keep running afterwards: `make clean-servers`), clicks the playground's Run button
when there is one, and saves a screenshot of the page and of each widget app for a person to
look at. Checked this way on 2026-11-27: chapter 07's app (labels in full, unseeded by default,
a streamed answer after Run) and chapter 00's saved outputs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "browser-check"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(names: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    OUT.mkdir(exist_ok=True)
    port = free_port()
    copy = Path(tempfile.mkdtemp(prefix="browser-check-"))
    shutil.copytree(ROOT / "notebooks", copy / "notebooks")
    (copy / "helpers").symlink_to(ROOT / "helpers")  # what the setup cell imports
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True"],
        cwd=copy / "notebooks", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(6)
        with sync_playwright() as play:
            browser = play.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name in names:
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}?reset")  # no old tabs
                page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook",
                                       timeout=60_000)
                page.wait_for_timeout(3000)
                page.keyboard.press("Escape")
                page.click("text=Run", timeout=10_000)  # the Run menu
                page.click("text=Run All Cells", timeout=10_000)
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                       timeout=600_000, state="attached")
                page.wait_for_timeout(5000)
                for scroller in page.locator(".jp-WindowedPanel-outer").all():
                    scroller.evaluate("element => element.scrollTop = 0")
                widget = page.locator(".widget-vbox").first
                if widget.count():  # a widget app: scroll to it (the notebook renders lazily)
                    widget.scroll_into_view_if_needed()
                button = page.locator(".widget-button", has_text="Run")
                if button.count():
                    button.first.click()
                    page.wait_for_timeout(8000)
                stem = Path(name).stem
                page.screenshot(path=str(OUT / f"{stem}.png"))
                apps = page.locator(".jp-OutputArea-output > .widget-vbox").all()
                for i, app in enumerate(apps):
                    app.screenshot(path=str(OUT / f"{stem}-widget-{i}.png"))
                print(f"{name}: screenshots in {OUT}")
            browser.close()
    finally:
        lab.terminate()
        lab.wait(timeout=30)
        shutil.rmtree(copy, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["07_playground.ipynb"]))
