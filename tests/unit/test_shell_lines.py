"""A lab kernel's `!` lines run through pipes (labkit/ui/_shell.py), in a real IPython kernel."""

from __future__ import annotations

import time

import pytest
from jupyter_client.manager import start_new_kernel

SWITCH = "from labkit.ui._shell import run_through_pipes\nrun_through_pipes(get_ipython())"


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc, code: str, timeout: float = 60) -> tuple[str, dict]:
    """(everything the cell printed, its execute_reply content)."""
    printed: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            printed.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    return "".join(printed), reply["content"]


def test_before_the_switch_lines_run_in_a_terminal_and_after_it_through_pipes(kernel):
    _, kc = kernel
    printed, _ = run(kc, "!test -t 1 && echo terminal || echo pipe")
    assert printed.strip() == "terminal"
    run(kc, SWITCH)
    printed, _ = run(kc, "!test -t 1 && echo terminal || echo pipe")
    assert printed.strip() == "pipe"


def test_output_and_errors_interleave_and_python_values_expand(kernel):
    _, kc = kernel
    run(kc, SWITCH)
    printed, _ = run(kc, "name = 'world'\n!echo hello {name}; echo oops >&2; echo é")
    assert printed.splitlines() == ["hello world", "oops", "é"]


def test_the_exit_status_is_kept_and_a_command_gets_no_input(kernel):
    _, kc = kernel
    run(kc, SWITCH)
    printed, reply = run(kc, "!read line || exit 3\nprint('status', _exit_code)")
    assert reply["status"] == "ok"
    assert "status 3" in printed


def test_background_commands_are_refused_as_ipython_does(kernel):
    _, kc = kernel
    run(kc, SWITCH)
    printed, reply = run(kc, "!sleep 30 &")
    assert reply["status"] == "error" and "Background processes not supported" in printed


def test_the_interrupt_button_stops_the_command_and_the_kernel_lives_on(kernel):
    km, kc = kernel
    run(kc, SWITCH)
    msg_id = kc.execute("!echo started; sleep 60; echo never")
    # Wait until the command runs, then interrupt as JupyterLab's button does.
    deadline = time.monotonic() + 30
    seen = ""
    while "started" not in seen and time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["msg_type"] == "stream":
            seen += msg["content"]["text"]
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=30)  # ends long before the sleep would
    assert reply["parent_header"]["msg_id"] == msg_id
    printed, _ = run(kc, "print('alive', _exit_code)")
    assert "alive" in printed and "never" not in seen
