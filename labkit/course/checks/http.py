"""HTTP: a container answers with the expected page."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from .._context import LabContext
from .._results import CheckResult
from .containers import running
from .images import present


def fetch(url: str, wait: float = 15.0) -> tuple[int | None, str]:
    """GET `url`, retrying while the server starts; (status, body) or (None, why). The first retries
    come quickly (a container's server just started is up soon), later ones every 0.2 s."""
    deadline, why, pause = time.monotonic() + wait, "", 0.01
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError as e:
            why = str(getattr(e, "reason", e))
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
    return None, why


#: What to do when the page served is not the expected one (`serves(different=…)` says it otherwise).
COPY_THE_PAGE = "Copy your index.html to /usr/share/nginx/html/ in the Dockerfile."


def _compare(where: str, status: int | None, body: str, expected: str, different: str = COPY_THE_PAGE) -> CheckResult:
    want = f"HTTP 200 with {len(expected.strip())} characters of your page"
    if status is None:
        return CheckResult.fail(
            f"{where} did not answer HTTP ({body}): is nginx running in it, on port 80?", "no answer", want
        )
    if status != 200:
        return CheckResult.fail(
            f"{where} answered HTTP {status}: is your index.html in /usr/share/nginx/html?", f"HTTP {status}", want
        )
    if body.strip() != expected.strip():
        first = body.strip().splitlines()[0][:80] if body.strip() else "(empty)"
        return CheckResult.fail(
            f"{where} serves a different page: its first line is {first!r}. {different}",
            f"a {len(body.strip())}-character page",
            want,
        )
    return CheckResult.ok(f"{where} serves your page.", "HTTP 200, your page", want)


def serves(
    ctx: LabContext,
    ref: str,
    expected: str,
    port: str = "80/tcp",
    path: str = "/",
    how: str = "",
    different: str = COPY_THE_PAGE,
) -> CheckResult:
    """Run `ref` (in a labelled container, removed afterwards), GET `path`, and compare the body;
    `different` is what to do when it serves another page."""
    missing = present(ctx, ref, how)
    if not missing.passed:
        return missing
    container, host_port = ctx.engine.containers.start_published(ref, port)
    try:
        status, body = fetch(f"http://127.0.0.1:{host_port}{path}")
    finally:
        ctx.engine.containers.remove(container)
    return _compare(f"A container of {ref}", status, body, expected, different)


def container_answers(ctx: LabContext, name: str, expected: str, port: str = "80/tcp", path: str = "/") -> CheckResult:
    """The running container `name` answers on its published `port` with `expected`."""
    up = running(ctx, name)  # a missing or stopped container publishes nothing: say that instead
    if not up.passed:
        return up
    box = ctx.engine.containers.get(name)
    bindings = ((box or {}).get("NetworkSettings") or {}).get("Ports") or {}
    published = [b for b in bindings.get(port) or [] if b.get("HostPort")]
    if not published:
        return CheckResult.fail(
            f"{name} does not publish {port}: run it with `-p 8080:80`.", "no published port", f"{port} published"
        )
    status, body = fetch(f"http://127.0.0.1:{published[0]['HostPort']}{path}")
    return _compare(name, status, body, expected)
