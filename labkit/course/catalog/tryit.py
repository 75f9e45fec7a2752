"""06-try-it: pull, run, install inside, find the container, commit, run the new image."""

from .._context import LabContext, last_reset
from .._results import CheckResult, first_failure
from ..checks import containers, images
from ._base import Exercise, Resources

BASE = "debian:bookworm-slim"
CURL = "/usr/bin/curl"


def curl_containers(ctx: LabContext) -> list[dict]:
    """The learner's containers of debian:bookworm-slim with curl installed in them, newest first."""
    return [box for box in containers.find(ctx, BASE) if CURL in containers.changed_paths(ctx, box["Id"])]


def _install(ctx: LabContext, answer=None) -> CheckResult:
    candidates = containers.find(ctx, BASE)
    if not candidates:
        return CheckResult.fail(
            f"You have no container of {BASE} yet: run one and install curl in it.",
            "no containers",
            f"a stopped container of {BASE} with curl",
        )
    with_curl = curl_containers(ctx)
    for box in with_curl:
        name = box["Name"].lstrip("/")
        state = box.get("State") or {}
        if state.get("Running"):
            return CheckResult.fail(
                f"{name} has curl but is still running: `exit` its shell (or let its command finish).",
                "running",
                "exited with code 0",
            )
        if state.get("ExitCode") == 0:
            return CheckResult.ok(
                f"{name} ({box['Id'][:12]}) installed curl and exited cleanly: `docker ps -a` shows it.",
                f"{name}: exited 0, {CURL} added",
                f"a stopped container of {BASE} with curl",
            )
    if with_curl:
        box = with_curl[0]
        code = (box.get("State") or {}).get("ExitCode")
        return CheckResult.fail(
            f"{box['Name'].lstrip('/')} has curl, but exited with code {code}: the last command in it failed. "
            "Install curl in a new container and end it cleanly (`exit 0`).",
            f"exit code {code}, {CURL} added",
            "exited with code 0",
        )
    failed = [b for b in candidates if (b.get("State") or {}).get("ExitCode") not in (0, None)]
    if failed and not with_curl:
        box = failed[0]
        return CheckResult.fail(
            (
                f"{box['Name'].lstrip('/')} exited with code {box['State']['ExitCode']} and has no curl: run "
                "`apt-get update` before `apt-get install -y curl`."
            ),
            f"exit code {box['State']['ExitCode']}",
            f"{CURL} in its diff",
        )
    return CheckResult.fail(
        (
            f"None of your {len(candidates)} container(s) of {BASE} has {CURL}: install it with "
            "`apt-get update && apt-get install -y curl` inside one."
        ),
        f"{len(candidates)} container(s), no curl",
        f"{CURL} in a container's diff",
    )


def _commit(ctx: LabContext, answer=None) -> CheckResult:
    boxes = curl_containers(ctx)
    if not boxes:
        return CheckResult.fail(
            "First install curl in a container of debian:bookworm-slim (the exercise above).",
            "no container with curl",
            "a container to commit",
        )
    # By name (every container has one), so feedback never shows a 64-character id.
    results = [
        images.committed_from(ctx, "debian-with-curl", box["Name"].lstrip("/") or box["Id"][:12]) for box in boxes
    ]
    result = next((r for r in results if r.passed), results[0])
    return first_failure(lambda: result, lambda: images.file_in_image(ctx, "debian-with-curl", CURL))


def _run(ctx: LabContext, answer=None) -> CheckResult:
    ref = "debian-with-curl"
    return first_failure(
        lambda: images.present(ctx, ref, "commit it first (the exercise above)"),
        lambda: _ran(ctx, ref),
        lambda: _curl_works(ctx, ref),
    )


def _ran(ctx: LabContext, ref: str) -> CheckResult:
    since = last_reset(ctx, "tryit")
    image_id = ctx.engine.images.id(ref)
    starts = [
        e
        for e in ctx.engine.events(since, {"type": "container", "event": "start"})
        if (e.get("Actor") or {}).get("Attributes", {}).get("image") in (ref, f"{ref}:latest", image_id)
        and "labkit" not in (e.get("Actor") or {}).get("Attributes", {})
    ]
    if not starts:
        return CheckResult.fail(
            f"You have not run {ref} yet: `docker run --rm {ref} curl --version`.",
            f"no container of {ref} started",
            f"a container of {ref} run",
        )
    return CheckResult.ok(f"You ran {ref}.")


def _curl_works(ctx: LabContext, ref: str) -> CheckResult:
    status, output = ctx.engine.containers.run(ref, ["curl", "--version"])
    if status is None:
        return CheckResult.fail(f"`curl --version` in {ref} did not finish within 60 s.", output[-120:], "curl runs")
    if status != 0 or "curl" not in output:
        return CheckResult.fail(
            f"`curl --version` in {ref} exited with {status}: is curl really in the image?", output[-120:], "curl runs"
        )
    return CheckResult.ok(
        f"curl runs in {ref}: {output.splitlines()[0][:60]}", output.splitlines()[0][:80], "curl runs"
    )


EXERCISES = [
    Exercise(
        id="tryit.install",
        wakes=("container",),
        title="Install a tool inside a container",
        points=2,
        task=(
            "Run a container of debian:bookworm-slim that installs curl "
            "(`apt-get update && apt-get install -y curl`), let it exit, and find it with `docker ps -a`."
        ),
        check=_install,
        hints=(
            (
                "In a JupyterLab terminal: `docker run -it debian:bookworm-slim bash`, then "
                "`apt-get update && apt-get install -y curl`, then `exit`."
            ),
            (
                "In a cell (no terminal): "
                "`docker run debian:bookworm-slim sh -c 'apt-get update && apt-get install -y curl'`."
            ),
            "`docker ps -a` lists stopped containers too; the first column is the container ID.",
        ),
        setup=("docker pull -q debian:bookworm-slim",),
        resources=Resources(containers=("tryit-box",), finder=curl_containers),
    ),
    Exercise(
        id="tryit.commit",
        wakes=("image",),
        title="Commit it as debian-with-curl",
        points=2,
        task="Commit that container as `debian-with-curl` (use its ID from `docker ps -a`).",
        check=_commit,
        hints=("`docker commit <container-id> debian-with-curl`; the first few characters of the ID are enough.",),
        resources=Resources(images=("debian-with-curl:latest",)),
    ),
    Exercise(
        id="tryit.run",
        wakes=("container", "image"),
        title="Run your new image",
        points=1,
        task="Run `curl --version` in a container of `debian-with-curl`.",
        check=_run,
        hints=("`docker run --rm debian-with-curl curl --version`",),
    ),
]
