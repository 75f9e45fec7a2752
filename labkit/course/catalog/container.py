"""02-image-vs-container: a read-only template, and read-write running instances of it."""

from .._context import LabContext, last_reset
from .._results import CheckResult, first_failure
from ..checks import containers, images
from ._base import Exercise, Resources


def _two(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: images.present(ctx, "nginx:latest"),
        lambda: containers.running(ctx, "web1"),
        lambda: containers.from_image(ctx, "web1", "nginx"),
        lambda: containers.running(ctx, "web2"),
        lambda: containers.from_image(ctx, "web2", "nginx"),
        lambda: CheckResult.ok("web1 and web2 run side by side, both from the one nginx image."),
    )


def _rw(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: containers.diff_has(ctx, "web1", "/hello.txt"),
        lambda: containers.exists(ctx, "web2"),
        lambda: containers.diff_lacks(ctx, "web2", "/hello.txt"),
        lambda: CheckResult.ok("/hello.txt lives in web1's read-write layer only; web2 and the image never see it."),
    )


def _ephemeral(ctx: LabContext, answer=None) -> CheckResult:
    since = last_reset(ctx, "container")
    return first_failure(
        lambda: containers.gone(ctx, "web1"),
        lambda: containers.gone(ctx, "web2"),
        lambda: containers.removed_since(ctx, "web1", since),
        lambda: containers.removed_since(ctx, "web2", since),
        lambda: images.present(
            ctx,
            "nginx:latest",
            "you removed the image, not only the containers; pull it again with `docker pull nginx`",
        ),
        lambda: CheckResult.ok(
            "The containers, and everything written in them, are gone; the nginx image is still there."
        ),
    )


EXERCISES = [
    Exercise(
        id="container.two-from-one",
        wakes=("container",),
        title="Two containers from one image",
        points=2,
        task="Start two containers from `nginx`, detached (`-d`), named `web1` and `web2`.",
        check=_two,
        hints=(
            "`docker run -d --name NAME IMAGE` starts a container in the background.",
            "`docker run -d --name web1 nginx` and `docker run -d --name web2 nginx`; `docker ps` lists both.",
        ),
        setup=("docker pull -q nginx",),
        resources=Resources(containers=("web1", "web2")),
    ),
    Exercise(
        id="container.rw-layer",
        wakes=("container",),
        title="Each container writes its own layer",
        points=2,
        task=(
            "Write a file `/hello.txt` inside `web1` (not `web2`), then compare `docker diff web1` and "
            "`docker diff web2`."
        ),
        check=_rw,
        hints=(
            "`docker exec CONTAINER COMMAND` runs a command inside a running container.",
            "`docker exec web1 sh -c 'echo hello > /hello.txt'`",
        ),
        resources=Resources(containers=("web1", "web2")),
    ),
    Exercise(
        id="container.ephemeral",
        wakes=("container",),
        title="Containers come and go",
        points=2,
        task="Remove both containers (`docker rm -f web1 web2`), then check that the nginx image is still there.",
        check=_ephemeral,
        hints=(
            "`docker rm` removes containers; `docker rmi` removes images: here you want the first.",
            "`docker rm -f web1 web2` stops and removes both.",
        ),
        resources=Resources(containers=("web1", "web2")),
    ),
]
