"""00-start-here: how check cells, hints and progress work."""

from ..checks import images
from ._base import Exercise, Resources

EXERCISES = [
    Exercise(
        id="start.pull",
        wakes=("image",),
        title="Pull your first image",
        points=1,
        task="Download the `busybox` image from the registry with `docker pull`.",
        check=lambda ctx, answer=None: images.present(ctx, "busybox:latest", "run `docker pull busybox`"),
        hints=(
            "Images come from a registry; `docker pull NAME` downloads one into your engine.",
            "In a cell: `!docker pull busybox`, then run the check again.",
        ),
        resources=Resources(images=("busybox:latest",)),
    ),
]
