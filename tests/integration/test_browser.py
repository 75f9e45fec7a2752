"""The lab as a learner meets it: `labkit lab`, JupyterLab, in a real browser.

`labkit lab` runs as a learner starts it (its own workspace, a free port), against the
session's lab; Playwright drives Debian's chromium (headless, /usr/bin/chromium, which
`make test` installs) through JupyterLab's own menus, buttons and terminal. Each step is
screenshotted under the test's temporary folder; a failed test lists the screenshots.

LABKIT_README_SCREENSHOTS=docs (scripts/screenshot.sh) also saves the README's pictures there:
the passing check cell of 00-start-here (check-pass.png) and the tracker ticked off by a terminal's
pull (tracker.png).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import LABKIT

CHROMIUM = Path("/usr/bin/chromium")
BASE_IMAGES = ("busybox", "debian:bookworm-slim", "nginx")
URL = re.compile(r"(http://127\.0\.0\.1:(\d+))(/lab/tree/\S+)\?token=(\w+)")
#: JupyterLab settings for the tests: terminals that keep their text in the page (xterm's
#: screen-reader rows), not only on a canvas. (No "get Jupyter news?" pop-up: `labkit lab` says so.)
SETTINGS = {
    "@jupyterlab/terminal-extension/plugin.jupyterlab-settings": '{"screenReaderMode": true}',
}
SLOW = 120_000  # ms: a kernel start, a docker pull, a check on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `labkit lab`: its process, its URL and token, its workspace and its log."""

    process: subprocess.Popen
    base: str
    start_path: str
    token: str
    workspace: Path
    log: Path
    runtime: Path

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={self.token}"

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, as at a terminal: SIGINT to labkit's whole process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"`labkit lab` did not stop within {timeout} s of Ctrl-C; its log: {self.log}")

    def kernels(self) -> list[int]:
        """Pids of the kernels this server started (their connection files live in its runtime folder)."""
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(self.runtime) in (entry / "cmdline").read_text():
                    pids.append(int(entry.name))
            except OSError:
                continue
        return [pid for pid in pids if pid != self.process.pid]


def start_labkit_lab(lab, folder: Path, *args: str, page_config: dict | None = None) -> Server:
    """`labkit lab --no-browser` on a free port, with JupyterLab's own files kept under `folder`;
    `page_config` is JupyterLab's (e.g. to disable an extension)."""
    folder.mkdir(parents=True, exist_ok=True)
    settings, runtime, log = folder / "jupyter-settings", folder / "jupyter-runtime", folder / "labkit-lab.log"
    for name, text in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(text)
    if page_config:
        (folder / "jupyter-config" / "labconfig").mkdir(parents=True)
        (folder / "jupyter-config" / "labconfig" / "page_config.json").write_text(json.dumps(page_config))
    env = {
        **lab.env,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(folder / "jupyter-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_CONFIG_DIR": str(folder / "jupyter-config"),
    }
    workspace = folder / "workspace"
    argv = [
        *LABKIT,
        "lab",
        "--no-browser",
        "--port",
        str(free_port()),
        "--ip",
        "127.0.0.1",
        "--workspace",
        str(workspace),
        *args,
    ]
    with open(log, "w") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Ctrl-C reaches it as at a terminal, even when the tests run in the background (a shell's
            # `&` starts them with SIGINT ignored, which every process below would inherit).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if match := URL.search(log.read_text()):
            return Server(process, match[1], match[3], match[4], workspace, log, runtime)
        if process.poll() is not None:
            break
        time.sleep(0.3)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    raise AssertionError(f"`labkit lab` printed no URL with a token (exit {process.returncode}):\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(lab, tmp_path_factory):
    server = start_labkit_lab(lab, tmp_path_factory.mktemp("labkit-lab"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium).", pytrace=False)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=SLOW)  # expect() waits 5 s by default: too short for a kernel here
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


class Shots:
    """Screenshots of a test's steps, numbered, under its temporary folder."""

    def __init__(self, page, folder: Path, taken: list) -> None:
        self.page, self.folder, self.taken = page, folder, taken
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str, element=None) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{step}.png"
        (element or self.page).screenshot(path=str(path))
        self.taken.append(path)
        return path


@pytest.fixture
def page(chromium, request, tmp_path):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    request.node.screenshots = []
    page.shots = Shots(page, tmp_path / "screenshots", request.node.screenshots)
    yield page
    from playwright.sync_api import Error

    try:
        page.shots("at-the-end")  # what the page showed when the test ended (or failed)
    except Error:  # the page may be gone; the earlier screenshots still tell the story
        pass
    context.close()


# ---------------------------------------------------------------- JupyterLab, as a learner uses it


def open_notebook(page, server: Server, name: str | None = None):
    """Open a notebook (the server's start page when None) in a fresh JupyterLab layout (`reset`:
    no tabs restored from an earlier test) and wait for its kernel to be idle."""
    from playwright.sync_api import expect

    page.goto(server.url(f"/lab/tree/{name}" if name else server.start_path) + "&reset")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for()
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle")


def menu(page, *labels: str) -> None:
    """Click through JupyterLab's menu bar: menu(page, "Run", "Run All Cells")."""
    page.locator(".lm-MenuBar-itemLabel").get_by_text(labels[0], exact=True).click()
    for label in labels[1:]:
        page.locator(".lm-Menu-itemLabel").get_by_text(label, exact=True).click()


def code_cell(page, text: str):
    """The first code cell that holds `text` now, found again by its place even after it is edited."""
    cell = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").filter(has_text=text).first
    index = cell.get_attribute("data-windowed-list-index")
    return page.locator(f'.jp-NotebookPanel:visible .jp-CodeCell[data-windowed-list-index="{index}"]')


def run_cell(page, cell) -> None:
    """Select the cell (in command mode), Shift+Enter, and wait until it has run (its prompt numbered)."""
    from playwright.sync_api import expect

    cell.locator(".jp-InputArea-prompt").click()
    expect(cell).to_have_class(re.compile(r"\bjp-mod-selected\b"))
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[\d+\]"))


def output(cell):
    return cell.locator(".jp-OutputArea-output")


# ---------------------------------------------------------------- the tests


def test_start_here_run_all_passes_its_check(server, page, lab):
    from playwright.sync_api import expect

    lab.docker("rmi", "busybox", check=False)  # not there yet, as on a learner's first day
    open_notebook(page, server)  # the URL `labkit lab` printed opens 00-start-here
    assert server.start_path == "/lab/tree/00-start-here.ipynb"
    page.shots("opened")

    exercise = code_cell(page, "# Your turn")  # the learner copy: the solution is not there
    exercise.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.type("!docker pull busybox")
    page.keyboard.press("Escape")
    page.shots("exercise-typed", exercise)

    menu(page, "Run", "Run All Cells")
    check = code_cell(page, 'lab.check("start.pull")')
    result = output(check).locator(".jupyter-widgets .labkit-result")  # drawn by the widget front end
    expect(result).to_contain_text("PASSED")
    expect(result).to_contain_text("start.pull")
    check.scroll_into_view_if_needed()
    page.shots("check-passed")
    expect(output(check).get_by_role("button", name="Show next hint")).to_have_count(0)  # passed: no hint button

    expect(output(code_cell(page, "lab.ready()"))).to_contain_text("The lab is ready")
    expect(output(exercise)).to_contain_text("busybox")  # the kernel's `!docker` reached the lab's engine
    expect(output(code_cell(page, "lab.progress()")).locator(".labkit-progress")).to_contain_text("Start here")
    page.shots("all-cells-ran")
    expect(page.get_by_text("notified about official Jupyter news")).to_have_count(0)  # `labkit lab`'s defaults

    if folder := os.environ.get("LABKIT_README_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        check.scroll_into_view_if_needed()
        page.mouse.move(0, 0)  # no hover highlight on the cell
        check.screenshot(path=str(Path(folder) / "check-pass.png"))


def test_a_released_lesson_fails_with_feedback_and_gives_hints(server, page, lab):
    from playwright.sync_api import expect

    lab.labkit("reset", "--lesson", "commit", "--workspace", str(server.workspace))
    open_notebook(page, server, "05-commit.ipynb")
    tags = [
        cell.get("metadata", {}).get("tags", [])
        for cell in json.loads((server.workspace / "05-commit.ipynb").read_text())["cells"]
    ]
    assert ["solution"] not in tags and ["exercise"] in tags  # the learner copy, solutions removed
    run_cell(page, code_cell(page, "from labkit import lab"))
    check = code_cell(page, 'lab.check("commit.custom")')
    run_cell(page, check)  # without doing the exercise

    shown = output(check)
    expect(shown.locator(".labkit-result")).to_contain_text("NOT YET")
    expect(shown).to_contain_text("custom-box")  # the feedback says what is missing
    page.shots("check-failed", check)

    shown.get_by_role("button", name="Show next hint").click()
    expect(shown).to_contain_text("Hint 1 of 2:")
    page.shots("first-hint", check)
    shown.get_by_role("button", name="Show next hint").click()
    expect(shown).to_contain_text("Hint 2 of 2:")
    shown.get_by_role("button", name="Show next hint").click()
    expect(shown).to_contain_text("No more hints")
    expect(shown.get_by_role("button", name="Show next hint")).to_be_disabled()
    page.shots("no-more-hints", check)


def test_a_layer_picture_renders_in_a_lesson(server, page, lab):
    from playwright.sync_api import expect

    lab.docker("pull", "-q", "nginx")
    lab.docker("rm", "-f", "web1", check=False)
    lab.docker("run", "-d", "--name", "web1", "nginx")
    try:
        open_notebook(page, server, "02-image-vs-container.ipynb")
        run_cell(page, code_cell(page, "from labkit import lab"))
        cell = code_cell(page, 'lab.show_layers("nginx", container="web1")')
        run_cell(page, cell)
        picture = output(cell).locator(".labkit-layers svg")
        expect(picture).to_be_visible()
        expect(picture).to_contain_text("container web1: read-write layer")
        expect(picture).to_contain_text("nginx")
        expect(output(cell)).to_contain_text("base at the bottom")  # the caption under the picture
        page.shots("layer-picture", cell)
    finally:
        lab.docker("rm", "-f", "web1", check=False)


def test_without_the_widget_front_end_a_result_is_still_readable(lab, page, tmp_path):
    from playwright.sync_api import expect

    no_widgets = {"disabledExtensions": {"@jupyter-widgets/jupyterlab-manager": True}}
    server = start_labkit_lab(lab, tmp_path / "lab", page_config=no_widgets)
    try:
        lab.labkit("reset", "--lesson", "commit", "--workspace", str(server.workspace))
        open_notebook(page, server, "05-commit.ipynb")
        run_cell(page, code_cell(page, "from labkit import lab"))
        check = code_cell(page, 'lab.check("commit.custom")')
        run_cell(page, check)
        shown = output(check)
        expect(shown.locator(".labkit-result")).to_contain_text("NOT YET")  # the result's HTML form
        expect(shown).to_contain_text("There is no container named custom-box")
        page.shots("no-widget-front-end", check)
        assert shown.locator(".jupyter-widgets").count() == 0
        text = shown.inner_text()
        assert "VBox(" not in text and "Widget(" not in text and "Error displaying widget" not in text, text
    finally:
        assert server.stop() == 0


def test_a_jupyterlab_terminal_reaches_the_labs_engine(server, page, lab):
    from playwright.sync_api import expect

    for image in BASE_IMAGES:
        lab.docker("pull", "-q", image)  # from the lab's mirror
    open_notebook(page, server)
    menu(page, "File", "New", "Terminal")
    terminal = page.locator(".jp-Terminal:visible")
    text = terminal.locator(".xterm-accessibility-tree")
    expect(text).to_contain_text(re.compile(r"\S"))  # the shell's prompt: it is ready for input
    terminal.locator(".xterm").click()
    page.keyboard.type(
        'echo "engine=$DOCKER_HOST"; pwd; labkit status >/dev/null; echo "labkit-status=$?"; docker images\n'
    )
    expect(text).to_contain_text(f"engine={lab.host}")
    expect(text).to_contain_text(str(server.workspace))  # terminals start in the workspace
    expect(text).to_contain_text("labkit-status=0")  # `labkit` is on the terminal's PATH, and sees the lab up
    for image in BASE_IMAGES:
        expect(text).to_contain_text(re.compile(image.replace(":", r"\s+")))  # REPOSITORY  TAG
    page.shots("terminal")


def test_the_tracker_ticks_off_a_pull_typed_in_a_terminal_with_no_cell_run(server, page, lab):
    """The lesson's tracker is live as the notebook opens (the server keeps it: labkit.ui.tracking),
    and `docker pull busybox` typed in a JupyterLab terminal turns start.pull passed within 2 s of
    the command's end, no cell run."""
    from playwright.sync_api import expect

    lab.docker("rmi", "busybox", check=False)
    lab.labkit("reset", "--lesson", "start", "--workspace", str(server.workspace))
    open_notebook(page, server)  # 00-start-here
    tracker = output(code_cell(page, 'lab.track("start")')).locator(".labkit-live")
    expect(tracker).to_have_attribute("data-live", "live")  # the stored output's script reached the server
    row = '.labkit-live [data-exercise="start.pull"]'
    before = re.compile("not yet|passed earlier")  # an earlier test's pass stays on record
    expect(tracker.locator('[data-exercise="start.pull"]')).to_have_attribute("data-state", before)
    page.shots("tracker-not-yet", tracker)
    page.evaluate(  # the page's clock when the row turns passed, even while the terminal is in front
        """row => new MutationObserver((_, observer) => {
               const now = document.querySelector(row);
               if (now && now.dataset.state === "passed") { window.labkitPassedAt = Date.now(); observer.disconnect(); }
           }).observe(document.querySelector(".labkit-live"), {subtree: true, childList: true, attributes: true})""",
        row,
    )
    assert page.locator(".jp-CodeCell .jp-InputArea-prompt").filter(has_text=re.compile(r"\d")).count() == 0

    menu(page, "File", "New", "Terminal")
    terminal = page.locator(".jp-Terminal:visible")
    text = terminal.locator(".xterm-accessibility-tree")
    expect(text).to_contain_text(re.compile(r"\S"))
    terminal.locator(".xterm").click()
    page.keyboard.type('docker pull busybox && echo "pulled-at=$(date +%s%3N)"\n')
    expect(text).to_contain_text(re.compile(r"pulled-at=\d+"))
    ended = int(re.search(r"pulled-at=(\d+)", text.inner_text())[1])
    page.shots("pulled-in-a-terminal")
    page.wait_for_function("() => window.labkitPassedAt !== undefined", timeout=10_000)
    waited = (page.evaluate("window.labkitPassedAt") - ended) / 1000
    assert waited <= 2.0, f"start.pull turned passed {waited:.2f} s after the pull ended (at most 2 s)"

    page.locator(".lm-TabBar-tab").filter(has_text="00-start-here.ipynb").click()
    tracker = output(code_cell(page, 'lab.track("start")')).locator(".labkit-live")
    expect(tracker).to_contain_text("1 of 1 done")
    expect(tracker.locator('[data-exercise="start.pull"]')).to_have_attribute("data-state", "passed")
    assert (
        page.locator(".jp-CodeCell .jp-InputArea-prompt").filter(has_text=re.compile(r"\d")).count() == 0
    )  # no cell ran
    page.mouse.move(0, 0)
    page.shots("tracker-passed", tracker)
    if folder := os.environ.get("LABKIT_README_SCREENSHOTS"):  # the tabs (the terminal's too) down to the tracker
        Path(folder).mkdir(parents=True, exist_ok=True)
        area, shown = page.locator("#jp-main-dock-panel").bounding_box(), tracker.bounding_box()
        height = shown["y"] + shown["height"] + 16 - area["y"]
        page.screenshot(path=str(Path(folder) / "tracker.png"), clip={**area, "height": height})


def test_ctrl_c_stops_jupyterlab_and_its_kernels_and_the_lab_stays_up(lab, tmp_path):
    folder = tmp_path / "lab"
    edited = folder / "workspace" / "04-layers.ipynb"
    edited.parent.mkdir(parents=True)
    edited.write_text("the learner's own notebook")
    server = start_labkit_lab(lab, folder, "--fresh", "layers")
    try:
        log = server.log.read_text()
        assert server.start_path == "/lab/tree/04-layers.ipynb"  # --fresh opens the lesson started over
        saved = sorted(edited.parent.glob("04-layers.*.ipynb"))
        assert len(saved) == 1 and saved[0].read_text() == "the learner's own notebook"
        assert f"moved aside to {saved[0]}" in " ".join(log.split())
        assert "# Your turn" in edited.read_text()

        import requests

        started = requests.post(
            f"{server.base}/api/kernels", headers={"Authorization": f"token {server.token}"}, timeout=30
        )
        assert started.status_code == 201, started.text
        deadline = time.monotonic() + 60
        while not server.kernels() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert server.kernels(), "the kernel did not start"
    finally:
        code = server.stop()
    log = server.log.read_text()
    assert code == 0, log
    assert "JupyterLab stopped. The lab is still up" in log and "Shutdown this Jupyter server" not in log
    assert server.kernels() == []
    assert lab.labkit("status", check=False).returncode == 0  # the engine and registries keep running
