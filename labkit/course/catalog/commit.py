"""05-commit: an image from a container, and why a Dockerfile is better."""

from .._context import LabContext
from .._results import CheckResult, first_failure
from ..checks import containers, images
from ._base import Exercise, Resources

CHOICES = {
    "a": "the size of the layer",
    "b": "which commands made the changes in the layer",
    "c": "when the layer was made",
    "d": "the id of the image",
}
RIGHT = "b"
ANSWER = 'one letter, a to d: answer="b"'


def _custom(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: containers.made_from(ctx, "custom-box", "debian:bookworm-slim"),
        lambda: images.committed_from(ctx, "my-custom-image", "custom-box"),
    )


def _why_not(ctx: LabContext, answer=None) -> CheckResult:
    if not isinstance(answer, str) or answer.strip().lower().strip("()") not in CHOICES:
        return CheckResult.fail(f"Give your choice as {ANSWER}.", f"answer={answer!r}"[:60], ANSWER)
    choice = answer.strip().lower().strip("()")
    if choice != RIGHT:
        return CheckResult.fail(
            (
                f"`docker history` does show {CHOICES[choice]}. Look at the committed line of "
                "`docker history my-custom-image`: what does its CREATED BY column say?"
            ),
            f"({choice}) {CHOICES[choice]}",
            "what history cannot tell",
        )
    return CheckResult.ok(
        (
            "Right: a committed layer shows only the container's command, not what you typed inside. A Dockerfile "
            "records every step, so anyone can rebuild the image."
        ),
        f"({choice})",
        "what history cannot tell",
    )


EXERCISES = [
    Exercise(
        id="commit.custom",
        wakes=("image", "container"),
        title="Commit a container",
        points=3,
        task=(
            "Run a container named `custom-box` from debian:bookworm-slim that changes `/etc/motd`, then "
            "`docker commit` it as `my-custom-image`."
        ),
        check=_custom,
        hints=(
            (
                "`docker run --name custom-box debian:bookworm-slim sh -c 'echo hi > /etc/motd'` changes the file and "
                "exits."
            ),
            "`docker commit custom-box my-custom-image` turns the container's changes into a new layer.",
        ),
        setup=("docker pull -q debian:bookworm-slim",),
        resources=Resources(images=("my-custom-image:latest",), containers=("custom-box",)),
    ),
    Exercise(
        id="commit.why-not",
        title="What a commit does not record",
        points=1,
        task=(
            "Which of these can `docker history my-custom-image` NOT tell you about the committed layer? (a) its "
            "size (b) which commands made its changes (c) when it was made (d) the image id."
        ),
        check=_why_not,
        hints=("Run `docker history my-custom-image` and read the top line.",),
        answer=ANSWER,
    ),
]
