"""04-layers: one layer per instruction, the build cache, and why order matters."""

from .._context import LabContext
from .._results import CheckResult, first_failure
from ..checks import images
from ._base import Exercise, Resources

BASE = "debian:bookworm-slim"
BUILD_STEPS = [
    ("RUN", "apt-get update"),
    ("RUN", "apt-get install -y curl"),
    ("COPY", "/app"),
    ("CMD", "/app/start.sh"),
]

START_SH = (
    "printf '#!/bin/sh\\necho \"Hello from {name} {version}\"\\n' > {workspace}/{name}/app/start.sh"
    " && chmod +x {workspace}/{name}/app/start.sh"
)
BAD_ORDER = (
    "FROM debian:bookworm-slim\\nCOPY ./app /app\\n"
    'RUN apt-get update && apt-get install -y curl\\nCMD [\\"/app/start.sh\\"]\\n'
)


def _runs(ctx: LabContext, ref: str) -> CheckResult:
    status, output = ctx.engine.containers.run(ref, timeout=60)
    if status is None:
        return CheckResult.fail(
            f"A container of {ref} did not finish within 60 s: /app/start.sh should print and end, not wait.",
            output[-200:],
            "exit code 0",
        )
    if status != 0:
        return CheckResult.fail(
            (
                f"A container of {ref} exited with {status}: is /app/start.sh executable (chmod +x) and does it start "
                "with #!/bin/sh?"
            ),
            output[-200:],
            "exit code 0",
        )
    return CheckResult.ok(f"{ref} runs /app/start.sh: {output.strip()[:60]}", output.strip()[:80], "exit code 0")


def _build(ctx: LabContext, answer=None) -> CheckResult:
    ref = "layered-app:v1"
    return first_failure(
        lambda: images.present(ctx, ref, "build it with `docker build -t layered-app:v1 layered-app`"),
        lambda: images.built_on(ctx, ref, BASE, new_layers=3),
        lambda: images.history_in_order(ctx, ref, BUILD_STEPS),
        lambda: _runs(ctx, ref),
    )


def _shared(ctx: LabContext, extra: int) -> int:
    return len(images.base_layers(ctx, BASE) or []) + extra


def _cache(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: images.built_on(ctx, "layered-app:v2", BASE, new_layers=3),
        lambda: images.diverge_at(ctx, "layered-app:v1", "layered-app:v2", _shared(ctx, 2), "package"),
    )


def _order(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: images.history_in_order(ctx, "ordered-app:v2", [("RUN", "apt-get install"), ("COPY", "/app")]),
        lambda: images.built_on(ctx, "ordered-app:v2", BASE, new_layers=2),
        lambda: images.diverge_at(ctx, "ordered-app:v1", "ordered-app:v2", _shared(ctx, 1), "package"),
    )


EXERCISES = [
    Exercise(
        id="layers.build",
        wakes=("image",),
        title="Build an image, layer by layer",
        points=3,
        task=(
            "Write the course's Dockerfile in `layered-app/Dockerfile` (FROM debian:bookworm-slim, RUN apt-get "
            'update, RUN apt-get install -y curl, COPY ./app /app, CMD ["/app/start.sh"]) and build it as '
            "`layered-app:v1`."
        ),
        check=_build,
        hints=(
            "Each instruction of a Dockerfile becomes a step; RUN, COPY and ADD each add a filesystem layer.",
            "`docker build -t layered-app:v1 layered-app` builds the folder's Dockerfile.",
            "`docker history layered-app:v1` shows one line per instruction, newest first.",
        ),
        setup=(
            "mkdir -p {workspace}/layered-app/app",
            START_SH.format(name="layered-app", version="v1", workspace="{workspace}"),
        ),
        resources=Resources(images=("layered-app:v1",), files=("layered-app",)),
    ),
    Exercise(
        id="layers.cache",
        wakes=("image",),
        title="The build cache",
        points=3,
        task=(
            "Change only `layered-app/app/start.sh` and build again as `layered-app:v2`. Watch which steps say "
            "`CACHED` (`Using cache` on older engines)."
        ),
        check=_cache,
        hints=(
            "A step is rebuilt when it, or anything before it, changed; the rest comes from the cache.",
            "Edit app/start.sh (e.g. make it print v2), then `docker build -t layered-app:v2 layered-app`.",
            (
                "`docker image inspect -f '{{json .RootFS.Layers}}'` on v1 and on v2: the layers they share have the "
                "same digests."
            ),
        ),
        resources=Resources(images=("layered-app:v2",)),
    ),
    Exercise(
        id="layers.order",
        wakes=("image",),
        title="Order instructions for the cache",
        points=3,
        task=(
            "`ordered-app/Dockerfile` copies the app before installing packages, so every code change reinstalls "
            "curl. Reorder it, build `ordered-app:v1`, change app/start.sh, build `ordered-app:v2`: the package "
            "layer must come from the cache."
        ),
        check=_order,
        hints=(
            "Put what changes least (installing packages) first, what changes most (your code) last.",
            "Move `COPY ./app /app` below the RUN line.",
            "Build v1, edit app/start.sh, build v2: the RUN step should say `CACHED` (`Using cache` on older engines).",
        ),
        setup=(
            "mkdir -p {workspace}/ordered-app/app",
            START_SH.format(name="ordered-app", version="v1", workspace="{workspace}"),
            (
                f"[ -f {{workspace}}/ordered-app/Dockerfile ] || printf '{BAD_ORDER}' > "
                "{workspace}/ordered-app/Dockerfile"
            ),
        ),
        resources=Resources(images=("ordered-app:v1", "ordered-app:v2"), files=("ordered-app",)),
    ),
]
