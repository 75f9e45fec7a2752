"""Containers: there or gone, running or exited, made from which image, what changed inside."""

from __future__ import annotations

from .._context import LabContext
from .._results import CheckResult
from .images import describe, layers, names_of, short

KINDS = {0: "changed", 1: "added", 2: "deleted"}


def exists(ctx: LabContext, name: str, how: str = "") -> CheckResult:
    box = ctx.engine.containers.get(name)
    if box is None:
        hint = how or f"start one with `docker run --name {name} …`"
        return CheckResult.fail(
            f"There is no container named {name}: {hint}.", "no such container", f"a container named {name}"
        )
    return CheckResult.ok(f"{name} exists.", _state(box), f"a container named {name}")


def _state(box: dict) -> str:
    state = box.get("State") or {}
    if state.get("Running"):
        return "running"
    return f"{state.get('Status', 'stopped')} (exit code {state.get('ExitCode')})"


def running(ctx: LabContext, name: str) -> CheckResult:
    box = ctx.engine.containers.get(name)
    if box is None:
        return exists(ctx, name, f"start it with `docker run -d --name {name} …`")
    if not (box.get("State") or {}).get("Running"):
        return CheckResult.fail(
            (
                f"{name} exists but is not running ({_state(box)}): start it with `docker start {name}`, or run it "
                "detached with -d."
            ),
            _state(box),
            "running",
        )
    return CheckResult.ok(f"{name} is running.", "running", "running")


def gone(ctx: LabContext, name: str) -> CheckResult:
    box = ctx.engine.containers.get(name)
    if box is not None:
        running = (box.get("State") or {}).get("Running")
        hint = (
            f"stop and remove it with `docker rm -f {name}`"
            if running
            else f"a stopped container stays until `docker rm {name}`"
        )
        return CheckResult.fail(
            f"{name} still exists ({_state(box)}): {hint}.", _state(box), f"no container named {name}"
        )
    return CheckResult.ok(f"{name} is gone.", "no such container", f"no container named {name}")


def from_image(ctx: LabContext, name: str, ref: str) -> CheckResult:
    box = ctx.engine.containers.get(name)
    if box is None:
        return exists(ctx, name, f"start it with `docker run --name {name} {ref}`")
    image_id = ctx.engine.images.id(ref)
    if box["Image"] != image_id:
        return CheckResult.fail(
            (
                f"{name} was made from {describe(ctx, box['Image'])}, not from {ref}: remove it "
                f"(`docker rm -f {name}`) and start it again from {ref}."
            ),
            f"{name}'s image is {short(box['Image'])}",
            f"{ref} ({short(image_id)})",
        )
    return CheckResult.ok(f"{name} runs {ref}.", f"{name}'s image is {short(image_id)}", f"{ref}")


def made_from(ctx: LabContext, name: str, ref: str) -> CheckResult:
    """`name` was made from `ref`'s filesystem: its image has exactly `ref`'s layers (`ref` or another
    name for it). Unlike `from_image` (the very same image id), this holds for any image with
    those layers, and says which image it was made from by its name."""
    box = ctx.engine.containers.get(name)
    if box is None:
        return exists(ctx, name, f"run it with `docker run --name {name} {ref} …`")
    want = f"{name}'s image has {ref}'s layers"
    again = f"remove it (`docker rm -f {name}`) and run it again from {ref}"
    if ctx.engine.images.id(box["Image"]) is None:
        return CheckResult.fail(
            (
                f"{name} was made from an image that is no longer in your engine ({short(box['Image'])}), not {ref}: "
                f"{again}."
            ),
            f"{name}'s image ({short(box['Image'])}) is gone",
            want,
        )
    ref_id = ctx.engine.images.id(ref)  # no `ref` at all: the container cannot have been made from it
    if ref_id is None or (box["Image"] != ref_id and layers(ctx, box["Image"]) != layers(ctx, ref)):
        return CheckResult.fail(
            f"{name} was made from {_named(ctx, box['Image'])}, not {ref}: {again}.",
            f"{name}'s image is {describe(ctx, box['Image'])}",
            want,
        )
    return CheckResult.ok(f"{name} was made from {ref}.", f"{name}'s image has {ref}'s layers", want)


def _named(ctx: LabContext, image_id: str) -> str:
    """An image by the name a learner would type (`busybox`, not `busybox:latest`), else `describe`."""
    names = names_of(ctx, image_id)
    return names[0].removesuffix(":latest") if names else describe(ctx, image_id)


def exited(ctx: LabContext, name: str, code: int = 0) -> CheckResult:
    box = ctx.engine.containers.get(name)
    if box is None:
        return exists(ctx, name)
    state = box.get("State") or {}
    if state.get("Running"):
        return CheckResult.fail(
            f"{name} is still running: let its command finish (or `exit` its shell) first.",
            "running",
            f"exited with code {code}",
        )
    if state.get("Status") != "exited":
        return CheckResult.fail(
            f"{name} has not run yet ({_state(box)}): start it with `docker start -a {name}`.",
            _state(box),
            f"exited with code {code}",
        )
    if state.get("ExitCode") != code:
        return CheckResult.fail(
            (
                f"{name} exited with code {state.get('ExitCode')}, not {code}: its command failed; read "
                f"`docker logs {name}`."
            ),
            _state(box),
            f"exited with code {code}",
        )
    return CheckResult.ok(f"{name} exited with code {code}.", _state(box), f"exited with code {code}")


def changed_paths(ctx: LabContext, name: str) -> dict[str, str]:
    return {change["Path"]: KINDS.get(change["Kind"], "?") for change in ctx.engine.containers.diff(name)}


def diff_has(ctx: LabContext, name: str, path: str) -> CheckResult:
    """`path` was added, changed or deleted in the container's read-write layer."""
    box = ctx.engine.containers.get(name)
    if box is None:
        return exists(ctx, name)
    changes = changed_paths(ctx, name)
    if path not in changes:
        seen = ", ".join(f"{p} ({k})" for p, k in sorted(changes.items())[:8]) or "no changes"
        return CheckResult.fail(
            f"{path} is not among {name}'s changes: write it inside {name} (for example with `docker exec {name} …`).",
            seen,
            f"{path} in {name}'s diff",
        )
    return CheckResult.ok(
        f"{path} is {changes[path]} in {name}'s read-write layer.",
        f"{path} ({changes[path]})",
        f"{path} in {name}'s diff",
    )


def diff_lacks(ctx: LabContext, name: str, path: str) -> CheckResult:
    box = ctx.engine.containers.get(name)
    if box is None:
        return exists(ctx, name)
    changes = changed_paths(ctx, name)
    if path in changes:
        return CheckResult.fail(
            (
                f"{name} has {path} too ({changes[path]}): each container has its own read-write layer, write it into "
                "one container only."
            ),
            f"{path} in {name}",
            f"no {path} in {name}",
        )
    return CheckResult.ok(
        f"{name} does not have {path}: its read-write layer is its own.", f"no {path} in {name}", f"no {path} in {name}"
    )


def find(ctx: LabContext, image_ref: str) -> list[dict]:
    """The learner's containers made from `image_ref`'s image, newest first (never labkit's own)."""
    image_id = ctx.engine.images.id(image_ref)
    if image_id is None:
        return []
    boxes = [
        ctx.engine.containers.get(c["Id"])
        for c in ctx.engine.containers.list()
        if "labkit" not in (c.get("Labels") or {})
    ]
    mine = [b for b in boxes if b and b.get("Image") == image_id]
    return sorted(mine, key=lambda b: b.get("Created", ""), reverse=True)


def removed_since(ctx: LabContext, name: str, since: float) -> CheckResult:
    """The engine saw container `name` removed after `since` (from its event log)."""
    events = ctx.engine.events(since, {"type": "container", "event": "destroy"})
    if not any((e.get("Actor") or {}).get("Attributes", {}).get("name") == name for e in events):
        return CheckResult.fail(
            f"The engine has not seen {name} removed yet: remove it with `docker rm -f {name}`.",
            f"no removal of {name}",
            f"{name} removed",
        )
    return CheckResult.ok(f"{name} was removed.", f"{name} removed", f"{name} removed")
