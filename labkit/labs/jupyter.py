"""JupyterLab on the learner's workspace, pointed at the lab (`labkit lab`).

The server runs in the workspace with the lab's variables (DOCKER_HOST, LABKIT_*) in its
environment; kernels and terminals inherit them, so `!docker` in a cell and `docker` in a
JupyterLab terminal reach the lab's engine. Its default URL opens one notebook
(00-start-here unless told otherwise), so the URL it prints, token included, opens it.
Ctrl-C (or SIGTERM to labkit) stops JupyterLab and its kernels at once, without
JupyterLab's "Shutdown this Jupyter server (y/[n])?"; the lab itself keeps running.
JupyterLab's own defaults for the course (`SETTING_DEFAULTS`) come from an overrides.json
in the lab home; what a learner sets in Settings still wins.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from ..errors import LabkitError

START_NOTEBOOK = "00-start-here.ipynb"
STOP_WAIT = 30  # seconds JupyterLab gets to shut its kernels down after Ctrl-C, before it is killed
#: No "Would you like to get notified about official Jupyter news?" pop-up over a learner's first
#: notebook, and no update check: both reach for the internet, which a classroom may not have.
SETTING_DEFAULTS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
#: The server keeps each open lesson's tracker itself (labkit.ui.tracking): a lesson ticks off as the
#: learner works, in a terminal too, with no cell run. Its kernels know it by `TRACK_VARIABLE`, and
#: show the server's tracker rather than run one of their own.
TRACKERS = "--ServerApp.jpserver_extensions=labkit.ui.tracking=True"
TRACK_VARIABLE = "LABKIT_TRACK"


def find_jupyter() -> str:
    """The `jupyter` of this environment (the venv's), else one on PATH."""
    here = os.path.dirname(sys.executable)
    jupyter = shutil.which("jupyter", path=here + os.pathsep + os.environ.get("PATH", ""))
    if not jupyter:
        raise LabkitError("JupyterLab is not installed in this environment.", "run `make lab`, which installs it.")
    return jupyter


def start_path(notebook: str = START_NOTEBOOK) -> str:
    """The URL path that opens `notebook` (a name inside the workspace) in JupyterLab."""
    return "/lab/tree/" + quote(notebook.replace(os.sep, "/"))


def settings_path(home: Path) -> Path:
    """Where `settings_dir` makes the lab home's JupyterLab app settings folder."""
    return home / "jupyterlab-settings"


def settings_dir(home: Path) -> Path:
    """A JupyterLab app settings folder in the lab home whose overrides.json holds `SETTING_DEFAULTS`."""
    folder = settings_path(home)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.json").write_text(json.dumps(SETTING_DEFAULTS, indent=2) + "\n")
    return folder


def command(
    jupyter: str,
    workspace: Path,
    port: int | None = None,
    ip: str | None = None,
    no_browser: bool = False,
    open_notebook: str = START_NOTEBOOK,
    as_root: bool = False,
    settings: Path | None = None,
) -> list[str]:
    """The `jupyter lab` command line; `port`/`ip` None leave JupyterLab's own defaults;
    `settings`: a folder from `settings_dir`."""
    argv = [
        jupyter,
        "lab",
        f"--ServerApp.root_dir={workspace}",
        f"--LabApp.default_url={start_path(open_notebook)}",
        "--ServerApp.answer_yes=True",  # a Ctrl-C sent to JupyterLab itself stops it at once, no "(y/[n])?"
        TRACKERS,
    ]
    if settings is not None:
        argv.append(f"--LabApp.app_settings_dir={settings}")
    # Terminals run the user's shell with JupyterLab's environment, as a shell started from the one
    # `labkit lab` runs in: not a login shell, whose profile could reset PATH (and so lose `labkit`).
    shell = os.environ.get("SHELL") or "/bin/sh"
    argv.append(f"--ServerApp.terminado_settings=shell_command={shlex.quote(shell)}")
    if port is not None:
        argv.append(f"--port={port}")
    if ip is not None:
        argv.append(f"--ip={ip}")
    if no_browser:
        argv.append("--no-browser")
    if as_root:
        argv.append("--allow-root")
    return argv


def environment(
    lab_variables: dict[str, str], workspace: Path, base: dict[str, str] | None = None, bin_dir: str | None = None
) -> dict[str, str]:
    """The server's environment (and so every kernel's and terminal's): the lab's variables, the
    workspace, and this environment's programs (`labkit`, `jupyter`) first on PATH for terminals.
    For a server started with `TRACKERS`, which keeps the lessons' trackers."""
    env = dict(os.environ if base is None else base)
    env.update(lab_variables)
    env["LABKIT_WORKSPACE"] = str(workspace)
    env[TRACK_VARIABLE] = "server"
    bin_dir = bin_dir or os.path.dirname(sys.executable)
    path = env.get("PATH", "").split(os.pathsep) if env.get("PATH") else []
    if bin_dir not in path:
        env["PATH"] = os.pathsep.join([bin_dir, *path])
    return env


def run(argv: list[str], env: dict[str, str], workspace: Path) -> int:
    """Run JupyterLab in the workspace (where its terminals start) until it exits, or until Ctrl-C or
    SIGTERM stops it: then it shuts its kernels and terminals down before labkit returns.

    JupyterLab runs in a process group of its own, so a Ctrl-C at the terminal reaches labkit only
    (not JupyterLab, nor its kernels, half way through); labkit then asks JupyterLab to stop with
    SIGTERM, which JupyterLab handles the same way with or without a terminal.
    """
    process = subprocess.Popen(argv, env=env, cwd=workspace, process_group=0)
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: process.send_signal(signal.SIGTERM))
    try:
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_WAIT)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):  # no answer, or another Ctrl-C: insist
            process.kill()
            process.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
