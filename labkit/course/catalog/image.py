"""01-what-is-an-image: a read-only filesystem snapshot that never changes."""

from .._context import LabContext
from .._results import CheckResult, first_failure
from ..checks import containers
from ..checks.files import tar_holds_program_of
from ._base import Exercise, Resources


def _immutable(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: containers.from_image(ctx, "scratchpad", "busybox"),
        lambda: _has_changes(ctx, "scratchpad"),
        lambda: containers.from_image(ctx, "fresh", "busybox"),
        lambda: _fresh_is_clean(ctx),
    )


def _has_changes(ctx: LabContext, name: str) -> CheckResult:
    changes = containers.changed_paths(ctx, name)
    if not changes:
        return CheckResult.fail(
            (
                f"{name} has no changes yet: add or delete a file inside it (e.g. "
                f"`docker run --name {name} busybox rm /bin/vi`)."
            ),
            "no changes",
            "at least one change",
        )
    return CheckResult.ok(
        f"{name} changed {len(changes)} path(s).", ", ".join(sorted(changes)[:5]), "at least one change"
    )


def _fresh_is_clean(ctx: LabContext) -> CheckResult:
    changed = containers.changed_paths(ctx, "scratchpad")
    leaked = sorted(set(changed) & set(containers.changed_paths(ctx, "fresh")))
    if leaked:
        return CheckResult.fail(
            (
                f"fresh shows the same changes as scratchpad ({', '.join(leaked[:3])}): start fresh without making "
                "changes in it."
            ),
            ", ".join(leaked[:3]),
            "none of scratchpad's changes in fresh",
        )
    return CheckResult.ok(
        (
            "scratchpad's changes stayed in scratchpad: fresh, made from the same image, starts from the untouched "
            "snapshot. The image never changed."
        ),
        f"scratchpad changed {len(changed)} path(s); fresh has none of them",
        "none of scratchpad's changes in fresh",
    )


EXERCISES = [
    Exercise(
        id="image.rootfs",
        wakes=("container", "workspace"),
        title="An image is a filesystem",
        points=2,
        task=(
            "Write busybox's filesystem to `busybox.tar` in this folder (`docker create` a container, then "
            "`docker export -o busybox.tar` it), and list what is inside."
        ),
        check=lambda ctx, answer=None: tar_holds_program_of(ctx, "busybox.tar", "bin/busybox", "busybox"),
        hints=(
            (
                "`docker export` writes a container's filesystem to a tar; `docker create` makes a container without "
                "running it."
            ),
            "`docker create --name rootfs-box busybox`, then `docker export -o busybox.tar rootfs-box`.",
        ),
        setup=("docker pull -q busybox",),
        resources=Resources(containers=("rootfs-box",), files=("busybox.tar",)),
    ),
    Exercise(
        id="image.immutable",
        wakes=("container", "image"),
        title="Changes never reach the image",
        points=3,
        task=(
            "Run a container named `scratchpad` from busybox that deletes or adds a file; then run a second "
            "container named `fresh` from busybox and look for that file."
        ),
        check=_immutable,
        hints=(
            "`docker run --name scratchpad busybox rm /bin/vi` deletes a file inside the container.",
            "Then `docker run --name fresh busybox ls -l /bin/vi`: the file is still there in a new container.",
            "`docker diff scratchpad` lists what changed in that container only.",
        ),
        setup=("docker pull -q busybox",),
        resources=Resources(containers=("scratchpad", "fresh")),
    ),
]
