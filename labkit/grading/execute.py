"""Execute: the submission's cells in order, with time and output limits, in a kernel that has what a
learner's kernel has; every failed cell recorded from the kernel's own reply; after each checkpoint
cell, its exercises verified (`verify`).
"""

from __future__ import annotations

import ast
import json
import os
import re
import time
from queue import Empty

import nbformat
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell

from ..course import LabContext
from ..errors import LabkitError
from ..labs import FreshLab
from . import labs
from .job import Job, Submission
from .validate import checks_in, is_exercise
from .verify import verify_into

OUTPUT_CAP = 200_000  # characters of output kept per cell
STUCK_PROBE_SECONDS = 10


CUT = f"\n[output cut at {OUTPUT_CAP} characters by the grader]\n"


class PromptKernelClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as the kernel has answered `kernel_info` on the shell
    channel and said idle for it on IOPub: both channels work. jupyter_client's own `wait_for_ready`
    then also waits for 0.2 s of silence on IOPub, a fixed pause per submission; nbclient matches
    every message to its own request, so nothing is left to drain."""

    async def _ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (60.0 if timeout is None else timeout)
        asked: set[str] = set()
        while True:
            asked.add(self.kernel_info())
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                while (
                    True
                ):  # IOPub: the status messages of our requests (none within 0.2 s: not connected yet, ask again)
                    try:
                        msg = await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        break
                    if (
                        msg["msg_type"] == "status"
                        and msg["content"].get("execution_state") == "idle"
                        and msg["parent_header"].get("msg_id") in asked
                    ):
                        self._handle_kernel_info_reply(reply)
                        return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    wait_for_ready = _ready


class CappedClient(NotebookClient):
    """nbclient with a cap on each cell's output (a cell printing forever must not fill memory), that
    keeps the kernel's reply to each cell: whether it failed, whatever the notebook did to its display."""

    def __init__(self, nb: nbformat.NotebookNode, configure_kernel=None, **kwargs) -> None:
        super().__init__(nb, **kwargs)
        self.reply: dict = {}
        self.on_cell_executed = self._keep_reply
        self._configure_kernel = configure_kernel

    def create_kernel_manager(self):
        """nbclient's kernel manager, then made to start the kernel where the lab says (a sandbox's)."""
        km = super().create_kernel_manager()
        km.client_factory = PromptKernelClient
        if self._configure_kernel is not None:
            self._configure_kernel(km)
        return km

    def _keep_reply(self, cell, cell_index: int, execute_reply: dict) -> None:
        self.reply = execute_reply["content"]

    def run(self, cell, index: int) -> dict:
        """Run one cell; the content of the kernel's execute_reply ({} when none came: an empty cell)."""
        self.reply = {}
        self.execute_cell(cell, index)
        return self.reply

    def output(self, outs, msg, display_id, cell_index):
        if outs and outs[-1].get("text") == CUT:
            return None  # already cut: drop the rest
        added = super().output(outs, msg, display_id, cell_index)
        size = sum(len(json.dumps(o)) for o in outs)
        if size > OUTPUT_CAP:
            last = outs[-1]
            if isinstance(last.get("text"), str):
                last["text"] = last["text"][: max(0, len(last["text"]) - (size - OUTPUT_CAP))]
            outs.append(nbformat.v4.new_output("stream", name="stdout", text=CUT))
        return added


def run_notebook(job: Job) -> None:
    """Stage "run the notebook": its cells in a kernel like a learner's (`execute`), then what it left
    running stopped and the limits its sandbox ran into noted."""
    sub, lab = job.sub, job.lab
    execute(sub, lab, lab.kernel_env(dict(os.environ)), job.limits.cell_timeout, job.limits.notebook_timeout)
    labs.stop_leftovers(sub, lab)
    labs.note_limits(sub, lab)


def execute(sub: Submission, lab: FreshLab, env: dict[str, str], cell_timeout: int, notebook_timeout: int) -> None:
    """Run the submission's cells in order; after each checkpoint cell, verify its exercises."""
    nb = sub.notebook
    ctx = LabContext(lab.paths, lab.state, lab.workspace, lab.docker_config)
    client = CappedClient(
        nb,
        timeout=cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "Timeout",
            "evalue": f"the cell ran past {cell_timeout} s and was interrupted",
            "traceback": [],
        },
        resources={"metadata": {"path": str(lab.workspace)}},
        record_timing=True,
        shutdown_kernel="immediate",  # killed with its process group: the lab goes after it, nothing to save
        configure_kernel=lambda km: lab.configure_kernel(km, env),
    )
    deadline = time.monotonic() + notebook_timeout
    try:
        with client.setup_kernel(env=env):
            healthy(client)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if time.monotonic() > deadline:
                    sub.events.append(f"stopped at cell {index}: the notebook ran past {notebook_timeout} s")
                    sub.limits_hit.append(f"ran past its time limit of {notebook_timeout} s")
                    break
                client.timeout = int(max(1, min(cell_timeout, deadline - time.monotonic())))
                started = time.monotonic()
                reply = client.run(cell, index)
                timed_out = time.monotonic() - started >= client.timeout
                _note_cell(sub, cell, index, reply, timed_out, client.timeout)
                if timed_out and not _responds(client):
                    run_sync(client.km.restart_kernel)(now=True)  # nbclient's kernel manager is async
                    run_sync(client.kc.wait_for_ready)(timeout=60)
                    sub.events.append(
                        f"cell {index} ignored the interrupt: its kernel was restarted (its variables are gone)"
                    )
                cell_seconds = time.monotonic() - started
                for exercise, answer in checks_in(cell):
                    if is_exercise(exercise):
                        verify_into(sub, ctx, exercise, _answer(client, answer), cell=index, cell_seconds=cell_seconds)
    except DeadKernelError:
        sub.events.append("the kernel died (the notebook killed or exhausted it): later cells were not run")
    finally:
        ctx.close()


#: Run in the kernel before the submission's first cell, leaving nothing behind: can it import labkit,
#: has it the lab's variables, do its engine and its registry answer? It prints one JSON line.
HEALTH = """\
def __labkit_health():
    import json, os, socket, urllib.error, urllib.request
    try:
        import labkit  # noqa: F401
    except Exception as e:
        return f"the kernel cannot import labkit ({type(e).__name__}: {e})"
    missing = [v for v in ("DOCKER_HOST", "LABKIT_REGISTRY", "LABKIT_HOME") if not os.environ.get(v)]
    if missing:
        return f"the kernel lacks the lab's variables {', '.join(missing)}"
    host = os.environ["DOCKER_HOST"]
    try:
        with socket.socket(socket.AF_UNIX if host.startswith("unix://") else socket.AF_INET) as engine:
            engine.settimeout(10)
            address = host.removeprefix("unix://").removeprefix("tcp://")
            name, _, port = address.rpartition(":")
            engine.connect(address if host.startswith("unix://") else (name, int(port)))
            engine.sendall(b"GET /_ping HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n")
            if b" 200 " not in engine.recv(64):
                return f"its Docker engine at {host} does not answer /_ping"
    except OSError as e:
        return f"its Docker engine at {host} cannot be reached ({type(e).__name__}: {e})"
    registry = os.environ["LABKIT_REGISTRY"]
    try:
        urllib.request.urlopen(f"http://{registry}/v2/", timeout=10)
    except urllib.error.HTTPError as e:
        if e.code != 401:
            return f"its registry at {registry} answers {e.code}"
    except OSError as e:
        return f"its registry at {registry} cannot be reached ({e})"
    return ""
print(__import__("json").dumps({"problem": __labkit_health()}))
del __labkit_health
"""


def healthy(client: NotebookClient) -> None:
    """Prove the kernel fit to grade in before the submission's first cell: a kernel that cannot
    import labkit (a grader run from another environment), lacks the lab's variables, or whose engine
    or registry does not answer would make a worked submission look partly wrong. Raises a
    LabkitError (the submission is then "infrastructure", graded again with --only-failed)."""
    probe = run_aside(client, HEALTH)
    said = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in probe.outputs if o.get("output_type") == "error"]
    try:
        problem = json.loads(said.strip().splitlines()[-1])["problem"] if said.strip() else ""
    except (ValueError, KeyError, IndexError, TypeError):
        problem = f"its health check printed {said[:200]!r}"
    if errors or (not said.strip()):
        problem = problem or f"its health check failed ({'; '.join(errors) or 'it printed nothing'})"
    if problem:
        raise LabkitError(
            f"The grading lab is not fit to grade in: {problem}.",
            "fix the grading machine (run `labkit grade` from the environment labkit is installed in), "
            "then grade again with --only-failed.",
        )


def run_aside(client: NotebookClient, source: str):
    """Run `source` in the submission's kernel as a cell of the grader's own (out of the kernel's
    history); the cell, with its outputs. nbclient writes every executed cell back into the notebook at
    the index it was given: the probe gets a place of its own past the end, taken away again, so no
    cell of the submission is replaced (its first cell, or a check cell, was before)."""
    probe = new_code_cell(source)
    cells = client.nb.cells
    cells.append(probe)
    try:
        client.execute_cell(probe, len(cells) - 1, store_history=False)
    finally:
        if cells and cells[-1] is probe:
            cells.pop()
    return probe


def _responds(client: NotebookClient) -> bool:
    """After an interrupted cell: does the kernel answer a trivial cell, or is it still stuck?"""
    saved, client.timeout = client.timeout, STUCK_PROBE_SECONDS
    started = time.monotonic()
    try:
        run_aside(client, "1")
    finally:
        client.timeout = saved
    return time.monotonic() - started < STUCK_PROBE_SECONDS


def _note_cell(sub: Submission, cell, index: int, reply: dict, timed_out: bool, timeout: int) -> None:
    interactive = re.search(r"docker\s+(container\s+)?(run|exec|attach)\b[^\n]*\s-(it|ti|i)\b", cell.source)
    if timed_out:
        why = (
            ": it opens an interactive container (`docker … -it`), which waits for a keyboard no graded notebook has"
            if interactive
            else ""
        )
        sub.events.append(f"cell {index} ran past {timeout} s and was interrupted{why}")
    elif interactive:  # through `!` without a terminal, docker refuses at once ("the input device is not a TTY")
        sub.events.append(
            f"cell {index} opens an interactive container (`docker … -it`), "
            "which needs a keyboard no graded notebook has"
        )
    if reply.get("status") == "error" and not (timed_out and reply.get("ename") in ("Timeout", "KeyboardInterrupt")):
        _note_error(sub, cell, index, reply)
    if re.search(r"\bprune\b|rmi\s+-f\s+\$\(docker images", cell.source):
        sub.events.append(f"cell {index} removed images wholesale (only this submission's own engine was touched)")


def _note_error(sub: Submission, cell, index: int, reply: dict) -> None:
    """A cell that failed, as the kernel's reply says (the notebook may have hidden its traceback)."""
    name = reply.get("ename")
    if name == "StdinNotImplementedError":
        sub.events.append(f"cell {index} asked for input(), which a graded notebook cannot give")
        return
    said = f"cell {index} raised {name}: {str(reply.get('evalue', ''))[:120]}"
    sub.events.append(said)
    if not any(output.get("output_type") == "error" for output in cell.outputs):
        cell.outputs.append(
            nbformat.v4.new_output(
                "stream", name="stderr", text=f"── labkit grade: {said} (its traceback was not shown) ──\n"
            )
        )


def _answer(client: NotebookClient, expression: str | None):
    """The value of a check's answer= expression, read from the kernel as JSON (None if it has none)."""
    if not expression:
        return None
    probe = run_aside(client, f"__import__('json').dumps({expression})")
    for output in probe.outputs:
        text = output.get("data", {}).get("text/plain")
        if text:
            try:
                return json.loads(ast.literal_eval(text))
            except (ValueError, SyntaxError):
                return None
    return None
