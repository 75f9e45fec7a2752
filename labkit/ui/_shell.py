"""How a lab notebook's `!` lines run: through pipes, as in a script, not in a terminal.

IPython runs each `!` line in a pseudo-terminal (pexpect). There docker prints for a
terminal: BuildKit's redrawn progress and `docker pull`'s bars reach the cell as escape
codes and repeated frames, and every line waits a further fixed pause after its command
has ended (ptyprocess's `delayafterclose`). Through pipes, docker prints what a script or a
CI log shows (`#6 [2/4] RUN …`, `#6 CACHED`), and a command that wants a terminal
(`docker run -it`, `docker login` without `--password-stdin`) says so at once instead of
waiting for input a cell cannot give: those belong in a JupyterLab terminal.

`lab.ready()` (every notebook's first cell) switches its kernel over; `!` lines keep
IPython's behaviour otherwise: `{python}` expansion, `_exit_code`, Ctrl-C (the interrupt
button) stopping the command, no background (`&`) commands.
"""

from __future__ import annotations

import codecs
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import types
from typing import TextIO

#: Seconds a command gets to end after Ctrl-C (SIGINT to its process group) before it is killed.
INTERRUPT_GRACE = 3.0


def run_through_pipes(shell) -> None:
    """Make `shell` (IPython's) run `!` lines through pipes. Idempotent."""
    if getattr(shell, "_labkit_pipes", False):
        return
    shell.system = types.MethodType(_system, shell)
    shell._labkit_pipes = True


def _system(shell, cmd: str) -> None:
    """IPython's `system` (what a `!` line calls), through pipes."""
    if cmd.rstrip().endswith("&"):
        # As IPython: a background command would keep the cell's output open.
        raise OSError("Background processes not supported.")
    cmd = shell.var_expand(cmd, depth=1)  # the caller's frame, as IPython's own system_piped
    exit_code = run(cmd)
    shell.user_ns["_exit_code"] = exit_code
    if getattr(shell, "system_raise_on_error", False) and exit_code != 0:
        raise subprocess.CalledProcessError(exit_code, cmd)


def _shell_program() -> str:
    return shutil.which(os.environ.get("SHELL") or "sh") or "/bin/sh"


def run(cmd: str, out: TextIO | None = None) -> int:
    """Run `cmd` in the shell with no input, writing its output and errors, interleaved as they
    come, to `out` (sys.stdout). The exit status, or minus the signal that ended it."""
    out = out or sys.stdout
    process = subprocess.Popen(
        [_shell_program(), "-c", cmd],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    deadline = None
    with process, selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            try:
                if deadline is not None and time.monotonic() > deadline:
                    _signal(process, signal.SIGKILL)
                    break
                if not selector.select(timeout=None if deadline is None else 0.1):
                    continue
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                out.write(decoder.decode(chunk))
                out.flush()
            except KeyboardInterrupt:
                # The interrupt button: stop the command's whole process group, as Ctrl-C in a terminal.
                _signal(process, signal.SIGINT)
                print("^C", file=sys.stderr)
                deadline = time.monotonic() + INTERRUPT_GRACE
        out.write(decoder.decode(b"", final=True))
        out.flush()
        return process.wait()


def _signal(process: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except (ProcessLookupError, PermissionError):
        pass
