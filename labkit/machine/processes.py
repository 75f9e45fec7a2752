"""Processes and ports: start a daemon detached, find it again by pid, stop it.

Only processes whose command line names the expected program are ever signalled, so
a pid reused by something else after a reboot is never touched.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Can a server listen on 127.0.0.1:`port`? Asked as the registry asks (Go listens with
    SO_REUSEADDR), so the lab's own old connections still in TIME-WAIT do not make it taken:
    only a program that listens there, or holds it bound, does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def all_arguments() -> list[str]:
    """Every argument of every running process (one list: to ask whether any process names a path)."""
    found: list[str] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found += cmdline(int(entry))
    return found


def gone(pid: int) -> bool:
    """`pid` has ended: no such process, or one that ended and awaits its parent (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def is_running(pid: int | None, program: str, marker: str = "") -> bool:
    """True when `pid` is alive and its command line is `program` (and holds `marker`)."""
    if not pid:
        return False
    argv = cmdline(pid)
    if not argv or os.path.basename(argv[0]) != program or gone(pid):
        return False
    return not marker or any(marker in arg for arg in argv)


def spawn(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a long-running daemon in its own session, its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} labkit starts: {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )


def wait_ready(
    ready: Callable[[], bool],
    proc: subprocess.Popen | None,
    timeout: float,
    interval: float = 0.05,
) -> str | None:
    """Poll `ready` until it answers True. Returns None on success, else why it failed."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return None
        if proc is not None and proc.poll() is not None:
            return f"it exited with status {proc.returncode}"
        if time.monotonic() > deadline:
            return f"it did not answer within {timeout:.0f} s"
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def stop(
    pid: int, program: str, marker: str = "", timeout: float = 30.0, finished: Callable[[], bool] | None = None
) -> bool:
    """SIGTERM the process if it is ours, SIGKILL after `timeout`, or as soon as `finished` says all
    it had to do on its way out is done (what is left is waiting). True if it was running."""
    if not is_running(pid, program, marker):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if not _wait_gone(pid, timeout, finished):
        _kill(pid)
        _wait_gone(pid, 10.0)
    return True


def _wait_gone(pid: int, timeout: float, finished: Callable[[], bool] | None = None) -> bool:
    """Wait until the process has exited and let go of its files and ports."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not os.path.exists(f"/proc/{pid}") or gone(pid):
            return True
        if finished is not None and finished():
            finished = None
            _kill(pid)
        time.sleep(0.02)
    return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect our own exited child, if it is one (a no-op for other processes)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def with_environment(name: str, value: str) -> list[int]:
    """The pids of the processes whose environment holds `name=value` exactly (this one excluded)."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environment = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if wanted in environment.split(b"\0") and not gone(int(entry)):
            found.append(int(entry))
    return found


def kill(pids: Sequence[int]) -> None:
    """SIGKILL each of `pids` (already gone is fine) and reap our own."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    for pid in pids:
        _wait_gone(pid, 5.0)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
