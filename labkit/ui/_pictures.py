"""Image layers as data, read from the engine, for the pictures `lab.show_layers` draws.

An image is a `Stack` of read-only `Layer`s, bottom (base) first, each paired with the
history step that made it; a container made from the image adds its read-write layer
on top (counted as the paths it changed). Nothing here makes output: `render` draws.

Which history steps make a filesystem layer: RUN, COPY and ADD, and a commit (its
CreatedBy is the container's command, so it reads as no instruction at all). CMD,
LABEL, EXPOSE, ENV and the other `#(nop)` steps make none. When the count of those
steps does not match the image's layers (an image from another builder or an import),
the layers are labelled by position instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..course.checks import images
from ..errors import PictureError

if TYPE_CHECKING:  # drawing a picture (`render`) must not import the engine's client
    from ..course import LabContext

#: History steps that make a filesystem layer; "" is a commit (the container's command).
LAYER_KINDS = frozenset({"RUN", "COPY", "ADD", ""})
#: The longest step label; longer ones end in "…".
STEP_WIDTH = 60
_SOURCE_HASH = re.compile(r"\b(file|dir|multi):([0-9a-f]{8})[0-9a-f]{56}\b")


@dataclass(frozen=True)
class Layer:
    diff_id: str
    step: str  # "RUN apt-get install -y curl", "COPY ./app /app" (<= 60 chars), or "base filesystem"/"layer N"


@dataclass(frozen=True)
class Stack:
    ref: str
    image_id: str
    layers: tuple[Layer, ...]  # bottom (base) first
    container: str = ""  # a container of this image, drawn as a read-write layer on top
    changes: int = 0  # the container's read-write layer: number of changed paths


def stack(ctx: LabContext, ref: str, container: str = "") -> Stack:
    """The image `ref` as layers paired with their history steps, and `container` on top if named.

    Raises ImageMissing when there is no such image, PictureError when `container` is
    not there or was made from another image."""
    attrs = ctx.engine.images.attrs(ref)
    diff_ids = images.layers(ctx, ref)
    labels = _labels(ctx.engine.images.history(attrs["Id"]), len(diff_ids))
    layers = tuple(Layer(diff_id, label) for diff_id, label in zip(diff_ids, labels))
    if not container:
        return Stack(ref, attrs["Id"], layers)
    box = ctx.engine.containers.get(container)
    if box is None:
        raise PictureError(
            f"There is no container {container} in the lab's engine.",
            f"start one with `docker run -d --name {container} {ref}`, or name one that `docker ps -a` lists.",
            ref,
            container,
        )
    if box.get("Image") != attrs["Id"]:
        raise PictureError(
            f"Container {container} was made from another image ({images.short(box.get('Image'))}), "
            f"not from {ref} ({images.short(attrs['Id'])}).",
            f"name a container of {ref} (`docker ps -a --filter ancestor={ref}` lists them), "
            f"or show {container} on its own image.",
            ref,
            container,
        )
    name = (box.get("Name") or container).lstrip("/")
    return Stack(ref, attrs["Id"], layers, name, len(ctx.engine.containers.diff(box.get("Id") or container)))


def shared_prefix(a: Stack, b: Stack) -> int:
    """How many layers `a` and `b` share from the bottom: the same layers, stored once."""
    count = 0
    for mine, theirs in zip(a.layers, b.layers):
        if mine.diff_id != theirs.diff_id:
            break
        count += 1
    return count


def _labels(history: list[dict], count: int) -> list[str]:
    """One label per layer, bottom first: the steps that made them, or "layer N" when they do not pair up."""
    made = [step for step in history if images.instruction(step.get("CreatedBy") or "")[0] in LAYER_KINDS]
    if len(made) != count:
        return [f"layer {n}" for n in range(1, count + 1)]
    return [_label(step, position) for position, step in enumerate(made)]


def _label(step: dict, position: int) -> str:
    kind, argument = images.instruction(step.get("CreatedBy") or "")
    argument = _SOURCE_HASH.sub(lambda m: f"{m[1]}:{m[2]}", " ".join(argument.split()))
    if kind == "":
        if (step.get("Comment") or "").startswith("Imported from"):
            return "base filesystem (docker import)"
        return _fit(f"docker commit ({argument})" if argument else "docker commit")
    text = f"{kind} {argument}".strip()
    if position == 0 and kind in ("ADD", "COPY") and argument.rsplit(" ", 1)[-1] == "/":
        return _fit(f"base filesystem: {text}")
    return _fit(text)


def _fit(text: str, width: int = STEP_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
