"""Chapter 1 as a person sees it: JupyterLab on localhost, driven by a real headless Chromium
(Debian's `chromium`, through playwright, which cannot download browsers here). The test opens
the chapter, chooses Run → Run All Cells, waits for the kernel, and then wants, visible in the
output area, the graph that `viz.draw` renders and the player that `viz.animate` renders,
playing; and no traceback anywhere. It leaves a screenshot in the test's temporary directory,
and in docs/course_chapter1.png when RABBITSIM_UPDATE_SCREENSHOT=1.

JupyterLab serves a temporary copy of notebooks/ with autosave off, so the chapter on disk
is never touched (no outputs, no checkpoints). Run as root, the test first runs the idempotent
`.ci/browser.sh` (chromium and two fonts from Debian); otherwise chromium must be there, or the
test fails and says what to run. On a failure, the page as it was is saved beside the log
(the test's temporary directory) as failure.png."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # the test says what to install
    sync_playwright = None  # type: ignore[assignment]

from .chapters import NOTEBOOKS, ROOT, kernel_env

CHAPTER = "01_hello_world.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
INSTALL = ROOT / ".ci" / "browser.sh"
SCREENSHOT = ROOT / "docs" / "course_chapter1.png"
VIEWPORT = {"width": 1400, "height": 1000}
TOKEN = "rabbitsim-browser-test"
START_SECONDS = 60  # JupyterLab answering
RUN_SECONDS = 60  # Run All Cells, until the kernel is idle again

#: JupyterLab's settings for the run: never write the notebook; no news or update toasts over
#: the screenshot; every cell in the DOM (the default windowing detaches cells out of view).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

#: What the page shows, read in one go. A picture from viz.draw is an <svg> (HTML output) or an
#: <img> (PNG) outside a player; a player from viz.animate is a `div.rsviz` with its controls,
#: and `data-live` once its script has started (see rabbitsim/viz/_html.py). An error output and
#: a traceback printed on stderr both render as stderr text.
FACTS_JS = r"""
() => {
  const all = (root, selector) => [...root.querySelectorAll(selector)];
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return [Math.round(r.width), Math.round(r.height)];
  };
  const shown = (e) => {
    const [w, h] = box(e), s = getComputedStyle(e);
    return w > 20 && h > 20 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const outputs = all(notebook, '.jp-OutputArea-output');
  const pictures = outputs.flatMap((o) => all(o, '.rsviz-stage > svg, img'))
    .filter((e) => !e.closest('.rsviz'))
    .map((e) => ({tag: e.tagName, size: box(e), shown: shown(e)}));
  const players = outputs.flatMap((o) => all(o, 'div.rsviz')).map((e) => ({
    id: e.id, live: e.getAttribute('data-live') === '1', size: box(e), shown: shown(e),
    graph: !!e.querySelector('.rsviz-stage svg .rsviz-moving'),
    buttons: all(e, '.rsviz-controls button').length,
    clock: (e.querySelector('.rsviz-clock') || {}).textContent || ''}));
  const errors = all(notebook, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    .map((e) => e.innerText).filter((t) => /Traceback|^\w*(Error|Exception)\b/m.test(t));
  const prompts = all(notebook, '.jp-CodeCell .jp-InputArea-prompt').map((e) => e.innerText.trim());
  const indicator = notebook.querySelector('.jp-Notebook-ExecutionIndicator');
  return {pictures, players, errors, prompts, status: indicator ? indicator.dataset.status : ''};
}
"""

#: The kernel has started and is idle, as the status bar says ("Python 3 (ipykernel) | Idle", or
#: "| 空闲" in JupyterLab's Chinese).
KERNEL_IDLE_JS = r"""
() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
  .some((e) => / \| (Idle|空闲)$/.test(e.textContent))
"""

#: Some code cell is queued ([*]) or has run ([1]).
STARTED_JS = r"""
() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
  .some((e) => /\[(\*|\d+)\]/.test(e.textContent))
"""

#: Put the player on the middle one of its frames with the most tokens on their way, and scroll
#: its cell to the top of the notebook: the moment worth a screenshot.
SHOWCASE_JS = """
(id) => {
  const root = document.getElementById(id), slider = root.querySelector('.rsviz-slider');
  const counts = [];
  for (let i = 0; i <= parseInt(slider.max, 10); i++) {
    slider.value = i;
    slider.dispatchEvent(new Event('input'));
    counts.push(root.querySelectorAll('.rsviz-moving circle').length);
  }
  const most = Math.max(...counts), busiest = counts.flatMap((n, i) => (n === most ? [i] : []));
  slider.value = busiest[Math.floor(busiest.length / 2)];
  slider.dispatchEvent(new Event('input'));
  root.closest('.jp-Cell').scrollIntoView({block: 'start'});
  return root.querySelector('.rsviz-clock').textContent;
}
"""


def require_chromium() -> Path:
    """Debian's chromium: as root, `.ci/browser.sh` makes sure of it (and of the fonts the
    chapters need; a second or less when all is there); otherwise it must be there already."""
    if os.geteuid() == 0:
        done = subprocess.run(
            ["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"`bash .ci/browser.sh` failed ({done.returncode}): {done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail(f"no {CHROMIUM}: run `sudo bash .ci/browser.sh` (Debian's chromium package)")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A copy of the course for JupyterLab to serve: notebooks/ copied, docs/ linked for the
    pictures the chapters show."""
    root = tmp_path / "course"
    shutil.copytree(NOTEBOOKS, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "docs").symlink_to(ROOT / "docs")
    return root


@pytest.fixture
def lab_settings() -> dict[str, dict[str, Any]]:
    """JupyterLab's settings for the run (a test of the Chinese edition adds its locale)."""
    return LAB_SETTINGS


@pytest.fixture
def jupyterlab(tmp_path: Path, course: Path, lab_settings: dict[str, dict[str, Any]]) -> Iterator[str]:
    """JupyterLab from this venv on a free port, serving `course`, with its own settings,
    config, runtime and workspace folders; yields its base URL. Stopped with its kernels."""
    settings = tmp_path / "lab-settings"
    for plugin, values in lab_settings.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    for folder in ("config", "runtime", "workspaces"):
        (tmp_path / folder).mkdir()
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={course}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    env = kernel_env(None)  # kernels inherit it: the simulator
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = (tmp_path / "jupyterlab.log").open("wb")
    server = subprocess.Popen(
        argv, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(f"{base}/api/contents/notebooks?token={TOKEN}&content=0"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not come up within {START_SECONDS} s:\n{_tail(tmp_path)}")
            time.sleep(0.3)
        yield base
    finally:
        stop_jupyterlab(server, base)
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _tail(tmp_path: Path) -> str:
    return (tmp_path / "jupyterlab.log").read_text(errors="replace")[-3000:]


def stop_jupyterlab(server: subprocess.Popen[bytes], base: str, token: str = TOKEN) -> None:
    """Ask a JupyterLab started in a session of its own to shut down (it shuts its kernels down
    first, which run in sessions of their own); then its process group, terminated, and killed
    if need be."""
    if server.poll() is None:
        request = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        try:
            urllib.request.urlopen(request, timeout=10).close()
            server.wait(20)
        except (urllib.error.URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
            pass
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if server.poll() is not None:
            break
        try:
            os.killpg(server.pid, signum)
            server.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def test_chapter_1_runs_all_cells_in_jupyterlab_and_shows_graph_and_animation(
    jupyterlab: str, course: Path, tmp_path: Path
) -> None:
    chromium = require_chromium()
    if sync_playwright is None:
        pytest.fail("playwright is missing: `.venv/bin/pip install -e '.[test]'` (no `playwright install`)")
    chapter = NOTEBOOKS / CHAPTER
    assert chapter.is_file(), f"no {chapter.relative_to(ROOT)}"
    committed, had_checkpoints = chapter.read_bytes(), (NOTEBOOKS / ".ipynb_checkpoints").exists()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
        script_errors: list[str] = []
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        try:
            facts = run_all_cells(page, f"{jupyterlab}/lab/tree/notebooks/{CHAPTER}?token={TOKEN}")
            player = check(facts)
            plays(page, player)
            screenshot = picture(page, player, tmp_path / "course_chapter1.png")
            assert not script_errors, "errors in the page's scripts:\n" + "\n".join(script_errors)
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()
    if os.environ.get("RABBITSIM_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, SCREENSHOT)
    assert chapter.read_bytes() == committed, "the browser run changed the chapter on disk"
    assert (NOTEBOOKS / ".ipynb_checkpoints").exists() == had_checkpoints, "the browser run left checkpoints"


def run_all_cells(page: Any, url: str, run_menu: str = "Run") -> dict[str, Any]:
    """Open the chapter, wait for its kernel, Run → Run All Cells (the menu's label in the
    interface's language), wait until nothing is queued."""
    page.goto(url)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=START_SECONDS * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=START_SECONDS * 1000)
    deadline = time.monotonic() + RUN_SECONDS
    for attempt in range(2):  # a click while the page is still settling can go unheard: once more
        page.locator(".lm-MenuBar-itemLabel", has_text=run_menu).first.click()
        page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            page.wait_for_function(STARTED_JS, timeout=10_000)
            break
        except PlaywrightTimeout:
            assert attempt == 0, "Run → Run All Cells did not start the cells"
    while True:
        facts: dict[str, Any] = page.evaluate(FACTS_JS)
        prompts = facts["prompts"]
        if not any("*" in prompt for prompt in prompts) and facts["status"] == "idle":
            return facts
        assert time.monotonic() < deadline, f"Run All Cells did not finish within {RUN_SECONDS} s: {prompts}"
        time.sleep(0.25)


def check(facts: dict[str, Any]) -> str:
    """Every cell ran without a traceback; a graph picture and a live player are visible.
    Returns the first player's element id."""
    assert not facts["errors"], "tracebacks in the outputs:\n\n" + "\n\n".join(facts["errors"])
    not_run = [index for index, prompt in enumerate(facts["prompts"]) if not prompt.strip("[]:").isdigit()]
    assert not not_run, f"code cells {not_run} did not run: prompts {facts['prompts']}"
    pictures = [picture for picture in facts["pictures"] if picture["shown"]]
    assert pictures, f"no graph picture (viz.draw) is visible in the outputs: {facts['pictures']}"
    players = [player for player in facts["players"] if player["shown"]]
    assert players, f"no animation player (viz.animate) is visible in the outputs: {facts['players']}"
    for player in players:
        assert player["graph"] and player["buttons"] == 5, f"a player without its graph or controls: {player}"
        assert player["live"], f"the player's script did not start (is the output trusted?): {player}"
    return str(players[0]["id"])


def plays(page: Any, ident: str) -> None:
    """Press play: the clock must move on from frame 1."""
    root = page.locator(f"#{ident}")
    clock = root.locator(".rsviz-clock")
    assert clock.inner_text().startswith("frame 1 /"), clock.inner_text()
    root.locator("button[data-act=play]").click()
    page.wait_for_function(
        f"() => !document.querySelector('#{ident} .rsviz-clock').textContent.startsWith('frame 1 /')",
        timeout=10_000,
    )
    root.locator("button[data-act=play]").click()  # pause


def picture(page: Any, ident: str, path: Path) -> Path:
    """The player in view on a busy frame, as a PNG."""
    page.evaluate(SHOWCASE_JS, ident)
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    return path


ZH_CHAPTER = f"zh/{CHAPTER}"
ZH_SCREENSHOT = ROOT / "docs" / "course_chapter1_zh.png"
#: what the Chinese edition's launch gives JupyterLab (`rabbitsim course --lang zh`)
ZH_SETTINGS = {**LAB_SETTINGS, "@jupyterlab/translation-extension/plugin": {"locale": "zh_CN"}}
#: the page's texts that say which language it is in: the menu bar, the chapter's headings, the
#: exercises' verdicts
TEXTS_JS = r"""
() => ({
  menus: [...document.querySelectorAll('.lm-MenuBar-itemLabel')].map((e) => e.textContent),
  headings: [...document.querySelectorAll('.jp-MarkdownOutput h1, .jp-MarkdownOutput h2')]
    .map((e) => e.textContent),
  verdicts: [...document.querySelectorAll('.jp-OutputArea-output')].map((e) => e.innerText)
    .filter((t) => /^[✔✘]/.test(t.trim())),
})
"""


@pytest.mark.parametrize("lab_settings", [ZH_SETTINGS])
def test_a_chinese_chapter_runs_in_jupyterlab_in_chinese(
    jupyterlab: str, course: Path, tmp_path: Path, lab_settings: dict[str, dict[str, Any]]
) -> None:
    """The Chinese edition's chapter 1 as a Chinese learner sees it: JupyterLab's menus in
    Chinese (its language pack), the chapter's prose and the exercises' verdicts in Chinese,
    drawn with a CJK font (not boxes), the graph and the player as in English. The screenshot
    goes to docs/course_chapter1_zh.png with RABBITSIM_UPDATE_SCREENSHOT=1."""
    from tests.course.zh import is_chinese

    chromium = require_chromium()
    if sync_playwright is None:
        pytest.fail("playwright is missing: `.venv/bin/pip install -e '.[test]'` (no `playwright install`)")
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
    assert fonts.stdout.strip(), "no font with Chinese glyphs (fc-list :lang=zh): run .ci/browser.sh"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT, locale="zh-CN")  # type: ignore[arg-type]
        try:
            facts = run_all_cells(page, f"{jupyterlab}/lab/tree/notebooks/{ZH_CHAPTER}?token={TOKEN}", "运行")
            player = check(facts)
            texts = page.evaluate(TEXTS_JS)
            screenshot = picture(page, player, tmp_path / "course_chapter1_zh.png")
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()
    assert {"文件", "编辑", "运行"} <= set(texts["menus"]), f"JupyterLab's menus: {texts['menus']}"
    assert texts["headings"] and all(is_chinese(h) for h in texts["headings"][:3]), texts["headings"]
    assert texts["verdicts"], "no exercise verdict (✔/✘) is shown"
    english = [verdict for verdict in texts["verdicts"] if not is_chinese(verdict)]
    assert not english, f"verdicts in English: {english}"
    if os.environ.get("RABBITSIM_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, ZH_SCREENSHOT)


#: Every in-page link of the open notebook's markdown (`[…](#heading)`), as its href says it.
IN_PAGE_LINKS_JS = r"""
() => [...document.querySelectorAll(
  '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown a:not(.jp-InternalAnchorLink)')]
  .map((a) => a.getAttribute('href')).filter((href) => href && href.startsWith('#'))
"""

#: After a click: the heading (or `<a id>` anchor) the link names, and whether it is now in view
#: in the notebook. JupyterLab 4 keeps a heading's id in `data-jupyter-id` and scrolls to it
#: itself, but compares it with the link's percent-encoded href: a link to a Chinese heading
#: goes nowhere, so the Chinese edition links to an ASCII `<a id>` above the heading.
LANDED_JS = r"""
(href) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
    || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const id = decodeURIComponent(href.slice(1));
  const marked = '.jp-RenderedMarkdown [data-jupyter-id], .jp-RenderedMarkdown [id]';
  const target = [...document.querySelectorAll(marked)]
    .find((e) => e.dataset.jupyterId === id || e.id === id);
  if (!target) return {found: false};
  const view = panel.getBoundingClientRect(), box = target.getBoundingClientRect();
  const inView = box.top >= view.top - 2 && box.bottom <= view.bottom + 2;
  return {found: true, text: target.textContent, inView};
}
"""


@pytest.mark.parametrize("edition", ["", "zh/"], ids=["en", "zh"])
def test_chapter_0s_in_page_links_lead_to_their_heading(
    jupyterlab: str, course: Path, tmp_path: Path, edition: str
) -> None:
    """Chapter 0 points to its notes table further down with an in-page link; clicked in
    JupyterLab, what it names comes into view, in both editions."""
    chromium = require_chromium()
    if sync_playwright is None:
        pytest.fail("playwright is missing: `.venv/bin/pip install -e '.[test]'` (no `playwright install`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
        try:
            page.goto(f"{jupyterlab}/lab/tree/notebooks/{edition}00_start_here.ipynb?token={TOKEN}")
            page.wait_for_selector(
                ".jp-NotebookPanel .jp-RenderedMarkdown a", state="attached", timeout=START_SECONDS * 1000
            )
            links = page.evaluate(IN_PAGE_LINKS_JS)
            assert links, "chapter 0 has no in-page link"
            for href in links:
                link = f'.jp-RenderedMarkdown a[href="{href}"]:not(.jp-InternalAnchorLink)'
                page.locator(link).first.click()
                time.sleep(0.5)
                landed = page.evaluate(LANDED_JS, href)
                assert landed["found"], f"no heading or anchor has the id {href!r}"
                assert landed["inView"], f"{href!r}: the heading {landed['text']!r} is not in view"
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()
