"""Look at a chapter the way a learner does: JupyterLab in a real (headless) browser.

Not part of `make test` (it needs Debian's chromium and the `playwright` package, and takes a
minute per chapter); run it after changing what a chapter shows:

    apt-get install chromium && pip install playwright
    python tools/browser_check.py 07_playground.ipynb      # writes browser-check/*.png

`make screenshots` runs it with ``--app-image``: the app as it looks after Run streamed an
answer, the picture chapter 07 shows under its app cell (a saved notebook cannot show a live
widget). The picture is embedded in that markdown cell as an attachment (:func:`embed`), so it
shows wherever the notebook is opened: GitHub, JupyterLab, Colab (which cannot reach a file
beside the notebook). Playwright's own browser download is not needed: it drives Debian's
chromium.

It starts JupyterLab on a free port over a copy of notebooks/ (so that JupyterLab's autosave
cannot touch the committed notebooks), opens the chapter, runs every cell (the servers start
as usual and keep running afterwards: `make clean-servers`), clicks the playground's Run button
when there is one, and saves a screenshot of the page and of each widget app for a person to
look at. Checked this way on 2026-11-27: chapter 07's app (labels in full, unseeded by default,
a streamed answer after Run) and chapter 00's saved outputs.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "browser-check"
# Headless chromium that talks to nothing but the local JupyterLab.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
APP_IMAGE_LIMIT = 150_000  # bytes; tests/test_app_screenshot.py checks the committed image


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def save_small_png(source: Path, target: Path, limit: int = APP_IMAGE_LIMIT) -> None:
    """Copy the screenshot ``source`` to ``target`` as a PNG under ``limit`` bytes if Pillow
    can make it so: optimized, then with a 256-colour palette, then smaller."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:  # keep it as it is
        shutil.copyfile(source, target)
        return
    image = Image.open(source).convert("RGB")

    def candidates():  # each smaller than the one before
        yield image
        smaller = image
        while smaller.width >= 400:
            yield smaller.quantize(colors=256)
            smaller = smaller.resize((smaller.width * 4 // 5, smaller.height * 4 // 5),
                                     Image.LANCZOS)

    for candidate in candidates():
        candidate.save(target, optimize=True)
        if target.stat().st_size <= limit:
            return


def embed(image: Path, notebook: Path) -> None:
    """Attach ``image`` to the markdown cell that shows it (its source names
    ``attachment:<image's name>``), keeping the notebook's layout (nbformat's, indent 1)."""
    text = notebook.read_text(encoding="utf-8")
    book = json.loads(text)
    link = f"attachment:{image.name}"
    (cell,) = [cell for cell in book["cells"]
               if cell["cell_type"] == "markdown" and link in "".join(cell["source"])]
    data = base64.b64encode(image.read_bytes()).decode("ascii")
    cell["attachments"] = {image.name: {"image/png": data}}
    notebook.write_text(json.dumps(book, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(names: list[str], app_image: Path | None = None) -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    OUT.mkdir(exist_ok=True)
    port = free_port()
    copy = Path(tempfile.mkdtemp(prefix="browser-check-"))
    shutil.copytree(ROOT / "notebooks", copy / "notebooks")
    (copy / "helpers").symlink_to(ROOT / "helpers")  # what the setup cell imports
    profile = Path(tempfile.mkdtemp(prefix="browser-check-profile-"))  # a fresh chromium
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True"],
        cwd=copy / "notebooks", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(6)
        with sync_playwright() as play:
            browser = play.chromium.launch_persistent_context(
                str(profile), executable_path=chromium, headless=True, args=FLAGS,
                viewport={"width": 1400, "height": 1000})
            page = browser.new_page()
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
                    # the app's status says "done" once the streamed answer is complete
                    app = page.locator(".jp-OutputArea-output > .widget-vbox", has=button)
                    app.locator(".widget-html-content", has_text="done").first.wait_for(
                        timeout=120_000)
                    page.wait_for_timeout(1000)
                stem = Path(name).stem
                page.screenshot(path=str(OUT / f"{stem}.png"))
                apps = page.locator(".jp-OutputArea-output > .widget-vbox").all()
                for i, vbox in enumerate(apps):
                    vbox.screenshot(path=str(OUT / f"{stem}-widget-{i}.png"))
                print(f"{name}: screenshots in {OUT}")
                if app_image is not None:
                    if not button.count():
                        raise SystemExit(f"{name}: no app with a Run button to photograph")
                    app.first.screenshot(path=str(OUT / f"{stem}-app.png"))
                    save_small_png(OUT / f"{stem}-app.png", app_image)
                    embed(app_image, ROOT / "notebooks" / name)
                    print(f"{name}: the app ({app_image.stat().st_size // 1000} kB) embedded "
                          f"under its app cell")
            browser.close()
    finally:
        lab.terminate()  # it shuts its kernels down
        lab.wait(timeout=30)
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["07_playground.ipynb"],
                        help="chapters to open, e.g. 07_playground.ipynb")
    parser.add_argument("--app-image", type=Path,
                        help="also save the app (after Run) as a small PNG here")
    args = parser.parse_args()
    sys.exit(main(args.names, args.app_image and args.app_image.resolve()))
