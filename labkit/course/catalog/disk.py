"""11-image-on-disk: what an image is, as files.

The checks read the folder `docker save` wrote (its manifest.json, config and layer files, hashed
against the engine's diff ids), the engine's events (a load after a removal), and the course
registry's index and each of its images' configuration: relations that hold on the classic image
store and the containerd one alike. An image id is compared only with itself (a load event's
against the loaded image's), never read for what it means."""

from .._context import LabContext, last_reset
from .._results import CheckResult, first_failure
from ..checks import images, layouts, registry
from ._base import Exercise, Resources

POSTCARD = "postcard:v1"
SAVED = "postcard-saved"
POSTCARD_DOCKERFILE = "FROM busybox\\nCOPY card.txt /card.txt\\nRUN echo 'stamped at the post office' > /stamp.txt\\n"
EVERYWHERE_DOCKERFILE = "FROM scratch\\nCOPY hello.txt /hello.txt\\n"
PLATFORMS = ("linux/amd64", "linux/arm64")
SAVE = (
    "`docker save -o postcard.tar postcard:v1`, then "
    "`mkdir -p postcard-saved && tar -xf postcard.tar -C postcard-saved`"
)


def _saved(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: images.present(ctx, POSTCARD, "run the cell that builds it (`docker build -t postcard:v1 postcard`)"),
        lambda: layouts.holds_image(ctx, SAVED, POSTCARD, SAVE),
    )


def _loaded(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: images.present(ctx, POSTCARD, "load it back: `docker load -i postcard.tar`"),
        lambda: layouts.holds_image(ctx, SAVED, POSTCARD, SAVE),
        lambda: _back_from_file(ctx),
    )


def _back_from_file(ctx: LabContext) -> CheckResult:
    """The engine loaded postcard:v1's image after it was removed (untagged or deleted), since the reset."""
    want = f"{POSTCARD} removed, then loaded from postcard.tar"
    image_id = ctx.engine.images.id(POSTCARD)
    events = [
        e
        for e in ctx.engine.events(last_reset(ctx, "disk"), {"type": "image"})
        if e.get("id") == image_id and e.get("Action") in ("untag", "delete", "load")
    ]
    events.sort(key=lambda e: e.get("timeNano") or 0)
    removed = [i for i, e in enumerate(events) if e.get("Action") in ("untag", "delete")]
    loaded = [i for i, e in enumerate(events) if e.get("Action") == "load"]
    if removed and loaded and loaded[-1] > removed[0]:
        return CheckResult.ok(
            (
                f"Your engine took {POSTCARD} back from the file: removed, then loaded, the same layers as the "
                "saved config's. `docker load` needs no registry: an image travels as a tar."
            ),
            "removed, then loaded",
            want,
        )
    if loaded:
        return CheckResult.fail(
            (
                f"You loaded postcard.tar while {POSTCARD} was still in your engine, so nothing came from the file: "
                "remove it first (`docker rmi postcard:v1`), then `docker load -i postcard.tar`."
            ),
            "loaded, never removed before",
            want,
        )
    return CheckResult.fail(
        f"{POSTCARD} has not come back from the file yet: `docker rmi postcard:v1`, then "
        "`docker load -i postcard.tar`.",
        "removed and loaded: no" if not removed else "removed, not loaded",
        want,
    )


def repo(ctx: LabContext) -> str:
    return f"{ctx.user}/everywhere"


def how_to_push(ctx: LabContext) -> str:
    """How to push the index, in the words of the learner's image store."""
    name = f"{ctx.registry_address}/{repo(ctx)}"
    if ctx.engine.info().store == "containerd":
        return (
            "build both platforms and push them as one index: "
            f"`docker buildx build --platform linux/amd64,linux/arm64 -t {name}:v1 --push everywhere`"
        )
    return (
        "your engine keeps images in the classic store, which holds one platform per name, so push each "
        f"platform on its own (`docker buildx build --platform linux/amd64 -t {name}:amd64 --push everywhere`, then "
        f"the same for linux/arm64 as {name}:arm64) and join them in the registry: "
        f"`docker buildx imagetools create -t {name}:v1 {name}:amd64 {name}:arm64` (where `docker buildx` is not a "
        "command, install Docker's buildx plugin: `docker-buildx-plugin` from Docker's own apt repository, or "
        "`docker-buildx` on Debian 13 and newer)"
    )


def _multi_platform(ctx: LabContext, answer=None) -> CheckResult:
    if not (ctx.workspace / "everywhere" / "Dockerfile").is_file():
        return CheckResult.fail(
            "There is no everywhere/Dockerfile yet: run the cell before the exercise, which writes it.",
            "no everywhere/Dockerfile",
            "everywhere/Dockerfile, built for two platforms and pushed as one index",
        )
    return registry.index_for(ctx, repo(ctx), "v1", PLATFORMS, how_to_push(ctx))


EXERCISES = [
    Exercise(
        id="disk.saved",
        wakes=("workspace", "image"),
        title="An image as files",
        points=3,
        task=(
            "Write `postcard:v1` to a tar with `docker save -o postcard.tar postcard:v1`, and unpack it into a folder "
            "`postcard-saved` (`mkdir -p postcard-saved && tar -xf postcard.tar -C postcard-saved`)."
        ),
        check=_saved,
        hints=(
            "`docker save` writes an image (its manifest, its config and its layers) as one tar; `tar -x` unpacks "
            "it into ordinary files you can read.",
            "`docker save -o postcard.tar postcard:v1` (in this notebook's folder).",
            "`mkdir -p postcard-saved && tar -xf postcard.tar -C postcard-saved`, then `ls postcard-saved`.",
        ),
        setup=(
            "mkdir -p {workspace}/postcard",
            "echo 'Greetings from the image on disk' > {workspace}/postcard/card.txt",
            f'printf "{POSTCARD_DOCKERFILE}" > {{workspace}}/postcard/Dockerfile',
            "docker build -q -t postcard:v1 {workspace}/postcard",
        ),
        resources=Resources(images=(POSTCARD,), files=("postcard", "postcard.tar", SAVED)),
    ),
    Exercise(
        id="disk.load",
        wakes=("image",),
        title="Load it back",
        points=2,
        task=(
            "Remove `postcard:v1` from your engine (`docker rmi postcard:v1`), then load it back from the file: "
            "`docker load -i postcard.tar`."
        ),
        check=_loaded,
        hints=(
            "`docker load` reads what `docker save` wrote: the same image, with its name, and no registry involved.",
            "First `docker rmi postcard:v1`, so that what comes back comes from the file.",
            "`docker rmi postcard:v1`, then `docker load -i postcard.tar`.",
        ),
    ),
    Exercise(
        id="disk.multi-platform",
        wakes=("registry", "image"),
        title="One name, two platforms",
        points=3,
        task=(
            "Push `<registry>/<user>/everywhere:v1` as an index of two images built from `everywhere/`, one for "
            "linux/amd64 and one for linux/arm64: one command with the containerd image store, three with the "
            "classic one."
        ),
        check=_multi_platform,
        hints=(
            "An index lists one image manifest per platform; `docker pull` picks the one for its machine. "
            "`docker buildx build --platform` builds for a platform other than yours: with `FROM scratch` and "
            "COPY alone nothing has to run, so no emulation is needed.",
            "With the containerd image store: `docker buildx build --platform linux/amd64,linux/arm64 "
            "-t {lab.registry}/{lab.user}/everywhere:v1 --push everywhere`.",
            "With the classic store: `docker buildx build --platform linux/amd64 -t "
            "{lab.registry}/{lab.user}/everywhere:amd64 --push everywhere`, the same for linux/arm64 (tag `arm64`), "
            "then `docker buildx imagetools create -t {lab.registry}/{lab.user}/everywhere:v1 "
            "{lab.registry}/{lab.user}/everywhere:amd64 {lab.registry}/{lab.user}/everywhere:arm64`.",
        ),
        setup=(
            "docker login {registry} -u {user} --password-stdin < {password_file}",
            "mkdir -p {workspace}/everywhere",
            "echo 'Hello from any machine' > {workspace}/everywhere/hello.txt",
            f"printf '{EVERYWHERE_DOCKERFILE}' > {{workspace}}/everywhere/Dockerfile",
        ),
        resources=Resources(
            images=(
                "everywhere:v1",
                "{registry}/{user}/everywhere:v1",
                "{registry}/{user}/everywhere:amd64",
                "{registry}/{user}/everywhere:arm64",
            ),
            files=("everywhere",),
            repositories=("{user}/everywhere",),
        ),
    ),
]
