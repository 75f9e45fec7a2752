"""Ports, and finding and stopping a process only when it is the expected program."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.machine import processes


def test_free_port_is_free():
    port = processes.free_port()
    assert 1024 <= port <= 65535
    assert processes.port_is_free(port)


def test_listening_port_is_not_free():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not processes.port_is_free(port)
    assert processes.port_is_free(port)


def test_a_port_whose_old_connections_wait_in_time_wait_is_free():
    """The lab's own registry closed its connections first (as a server does at `labkit down`): they
    wait in TIME-WAIT for a minute, and the port is still the lab's to listen on again."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: it is the one left in TIME-WAIT
        client.recv(1)
        client.close()
    deadline = time.monotonic() + 5
    while "TIME-WAIT" not in _socket_states(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "TIME-WAIT" in _socket_states(port)
    assert processes.port_is_free(port)


def test_a_port_bound_but_not_listened_on_is_not_free():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        assert not processes.port_is_free(s.getsockname()[1])


def _socket_states(port: int) -> str:
    """The states of the TCP sockets on 127.0.0.1:`port` (from /proc/net/tcp)."""
    names = {"01": "ESTABLISHED", "06": "TIME-WAIT", "08": "CLOSE-WAIT", "0A": "LISTEN"}
    states = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if local == f"0100007F:{port:04X}":
            states.append(names.get(state, state))
    return " ".join(states)


def _own_program() -> str:
    argv0 = Path("/proc/self/cmdline").read_bytes().split(b"\0")[0].decode()
    return os.path.basename(argv0)


def test_is_running_matches_program_and_marker():
    me = os.getpid()
    program = _own_program()
    assert processes.is_running(me, program)
    assert not processes.is_running(me, program + "-not")
    assert not processes.is_running(me, program, marker="no-such-marker-on-this-command-line-3f9c")
    assert not processes.is_running(None, program)
    assert not processes.is_running(0, program)


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        # Popen returns while execve may still be setting up the new command line.
        deadline = time.monotonic() + 5
        while not processes.cmdline(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_is_running_on_a_child(sleeper):
    assert processes.cmdline(sleeper.pid) == ["sleep", "30"]
    assert processes.is_running(sleeper.pid, "sleep", "30")
    assert not processes.is_running(sleeper.pid, "sleep", "31")


def test_stop_leaves_another_program_alone(sleeper):
    assert processes.stop(sleeper.pid, "not-sleep", timeout=2) is False
    assert sleeper.poll() is None
    assert processes.is_running(sleeper.pid, "sleep")


def test_stop_ends_the_matching_program(sleeper):
    assert processes.stop(sleeper.pid, "sleep", "30", timeout=10) is True
    assert not processes.is_running(sleeper.pid, "sleep")
    # stop() may return while the kernel is still finishing the exit: allow it a moment.
    sleeper.wait(timeout=5)
    assert not Path(f"/proc/{sleeper.pid}").exists()


def test_log_tail(tmp_path):
    log = tmp_path / "daemon.log"
    log.write_text("".join(f"line {i}\n" for i in range(1, 31)))
    assert processes.log_tail(log, 3) == "line 28\nline 29\nline 30"
    assert processes.log_tail(log, 100).splitlines()[0] == "line 1"
    assert processes.log_tail(tmp_path / "missing.log") == ""


def test_log_tail_of_a_big_log(tmp_path):
    log = tmp_path / "big.log"
    log.write_text("".join(f"{i:06d} " + "x" * 90 + "\n" for i in range(2000)))
    assert processes.log_tail(log, 2).splitlines() == [f"001998 {'x' * 90}", f"001999 {'x' * 90}"]


def test_processes_are_found_by_an_exact_environment_entry_and_killed(tmp_path):
    marker = str(tmp_path / "home")
    env = {**os.environ, "LABKIT_HOME": marker}
    ours = subprocess.Popen(["sleep", "60"], env=env)
    near = subprocess.Popen(["sleep", "60"], env={**os.environ, "LABKIT_HOME": marker + "-other"})
    try:
        found = processes.with_environment("LABKIT_HOME", marker)
        assert found == [ours.pid]
        processes.kill(found)
        assert not os.path.exists(f"/proc/{ours.pid}")  # killed and reaped
        assert near.poll() is None  # a different value is left alone
        assert processes.with_environment("LABKIT_HOME", marker) == []
    finally:
        near.kill()
        near.wait()


DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"


def _deaf_process() -> subprocess.Popen:
    """A process that ignores SIGTERM (as dockerd waiting out its containerd does, for a second)."""
    proc = subprocess.Popen([sys.executable, "-c", DEAF], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"  # its handler is set
    return proc


def test_stop_kills_a_process_once_it_is_finished():
    proc = _deaf_process()
    asked = []
    try:
        # Not finished at first; then finished: it is killed then, long before its timeout.
        assert (
            processes.stop(
                proc.pid,
                os.path.basename(sys.executable),
                "SIG_IGN",
                timeout=60,
                finished=lambda: asked.append(1) or len(asked) > 2,
            )
            is True
        )
        assert not os.path.exists(f"/proc/{proc.pid}")  # gone (and reaped), though it ignores SIGTERM: killed
        assert len(asked) == 3  # asked until it said yes, never after
    finally:
        proc.kill()
        proc.wait()


def test_stop_kills_a_process_never_finished_after_the_timeout():
    proc = _deaf_process()
    try:
        assert (
            processes.stop(proc.pid, os.path.basename(sys.executable), "SIG_IGN", timeout=0.3, finished=lambda: False)
            is True
        )
        assert not os.path.exists(f"/proc/{proc.pid}")
    finally:
        proc.kill()
        proc.wait()
