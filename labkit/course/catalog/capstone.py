"""08-capstone: a static site on nginx, built, labelled, tagged, pushed and serving your page."""

from .._context import LabContext
from .._results import CheckResult, criteria
from ..checks import http, images, registry
from ._base import Exercise, Resources

MAX_LAYERS = 2
STARTER_PAGE = "<!DOCTYPE html>\\n<html><body><h1>My site</h1><p>Built in the Docker Images Lab.</p></body></html>\\n"


BUILD_COMMAND = "docker build -t mysite:v1 -t mysite:latest mysite"
BUILD = f"build it from your Dockerfile with `{BUILD_COMMAND}`"
PAGE_FOLDER = "/usr/share/nginx/html"


def _labelled(ctx: LabContext, ref: str) -> CheckResult:
    present = images.present(ctx, ref, BUILD)
    if not present.passed:
        return present
    own = images.config(ctx, ref).get("Labels") or {}
    base = images.config(ctx, "nginx").get("Labels") or {} if ctx.engine.images.id("nginx") else {}
    added = {k: v for k, v in own.items() if base.get(k) != v}
    if not added:
        return CheckResult.fail(
            "mysite:v1 has no label of its own: add one with LABEL in the Dockerfile.",
            "no labels beyond nginx's",
            "at least one LABEL",
        )
    return CheckResult.ok(f"Labelled: {', '.join(f'{k}={v}' for k, v in added.items())}.")


def _page(ctx: LabContext) -> str | None:
    try:
        return (ctx.workspace / "mysite" / "index.html").read_text()
    except OSError:
        return None


def _copies_the_page(ctx: LabContext, ref: str) -> bool:
    """`ref`'s own build steps (those after nginx's: the lab's nginx copies its own page in) copy into
    nginx's page folder."""
    if ctx.engine.images.id("nginx:latest") is None:
        return False
    base, mine = images.steps(ctx, "nginx:latest"), images.steps(ctx, ref)
    return mine[: len(base)] == base and any(
        kind in ("COPY", "ADD") and PAGE_FOLDER in text for kind, text in mine[len(base) :]
    )


def _serves(ctx: LabContext) -> CheckResult:
    page = _page(ctx)
    if page is None:
        return CheckResult.fail(
            f"There is no mysite/index.html in {ctx.workspace}: write your page there.", "no page", "your index.html"
        )
    present = images.present(ctx, "mysite:v1", BUILD)
    if not present.passed:
        return present
    different = http.COPY_THE_PAGE
    if _copies_the_page(ctx, "mysite:v1"):  # the Dockerfile copies a page in, and it is not the page there is now
        different = (
            f"Its Dockerfile copies your page in, so mysite:v1 serves an older copy of your index.html: "
            f"rebuild it (`{BUILD_COMMAND}`) and run it again."
        )
    return http.serves(ctx, "mysite:v1", page, how=BUILD, different=different)


def _capstone(ctx: LabContext, answer=None) -> CheckResult:
    ref = "mysite:v1"
    pushed = f"{ctx.registry_address}/{ctx.user}/mysite:v1"
    return criteria(
        [
            ("built from a Dockerfile on nginx", 2, lambda: images.built_on(ctx, ref, "nginx:latest")),
            (
                f"at most {MAX_LAYERS} layers over nginx",
                1,
                lambda: images.built_on(ctx, ref, "nginx:latest", at_most=MAX_LAYERS),
            ),
            ("labelled", 1, lambda: _labelled(ctx, ref)),
            ("tagged v1 and latest, one image", 1, lambda: images.same_image(ctx, "mysite:latest", ref)),
            ("pushed to the course registry", 2, lambda: _pushed(ctx, ref, pushed)),
            ("serves your page", 3, lambda: _serves(ctx)),
        ]
    )


def _pushed(ctx: LabContext, ref: str, pushed: str) -> CheckResult:
    same = images.same_image(ctx, pushed, ref)
    return same if not same.passed else registry.pushed(ctx, pushed)


EXERCISES = [
    Exercise(
        id="capstone.site",
        wakes=("image", "registry"),
        title="Ship your own site",
        points=10,
        task=(
            "Write your own page in `mysite/index.html` and a `mysite/Dockerfile` that starts FROM nginx, adds a "
            f"LABEL, and copies the page to /usr/share/nginx/html/ (at most {MAX_LAYERS} new layers). Build it as "
            "`mysite:v1` and `mysite:latest` (one image), tag it `<registry>/<user>/mysite:v1` and push it."
        ),
        check=_capstone,
        hints=(
            "Three lines are enough: FROM nginx, LABEL …, COPY index.html /usr/share/nginx/html/index.html.",
            "`docker build -t mysite:v1 -t mysite:latest mysite` gives one image two names.",
            "`docker tag mysite:v1 {lab.registry}/{lab.user}/mysite:v1`, log in, then `docker push` it.",
            "Try it: `docker run -d -p 8080:80 mysite:v1`, then `curl localhost:8080`.",
        ),
        setup=(
            "mkdir -p {workspace}/mysite",
            f"[ -f {{workspace}}/mysite/index.html ] || printf '{STARTER_PAGE}' > {{workspace}}/mysite/index.html",
            "docker pull -q nginx",
        ),
        resources=Resources(
            images=("mysite:v1", "mysite:latest", "{registry}/{user}/mysite:v1"),
            repositories=("{user}/mysite",),
        ),
    ),
]
