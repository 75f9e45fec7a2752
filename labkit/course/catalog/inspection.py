"""03-inspecting-images: docker images, pull, rmi, inspect, tag."""

import json

from .._context import LabContext
from .._results import CheckResult, first_failure
from ..checks import images
from ._base import Exercise, Resources

ANSWER = 'a dict: answer={"cmd": <the default command, as a list or a string>, "port": <the exposed port, like 80>}'


def _read(ctx: LabContext, answer=None) -> CheckResult:
    if not isinstance(answer, dict) or not {"cmd", "port"} <= set(answer):
        return CheckResult.fail(f"This check needs your answer as {ANSWER}.", f"answer={answer!r}"[:80], ANSWER)
    present = images.present(ctx, "nginx:latest")
    if not present.passed:
        return present
    config = images.config(ctx, "nginx")
    return first_failure(lambda: _cmd(config, answer["cmd"]), lambda: _port(config, answer["port"]))


def _cmd(config: dict, given) -> CheckResult:
    actual = config.get("Cmd") or []
    words = given if isinstance(given, list) else _words(str(given))
    if " ".join(map(str, words)) != " ".join(actual):
        return CheckResult.fail(
            "That is not nginx's default command: look at Config.Cmd in `docker inspect nginx`.",
            f"cmd={given!r}",
            "Config.Cmd",
        )
    return CheckResult.ok("The default command is right.")


def _words(text: str) -> list[str]:
    """A command as typed: `nginx -g "daemon off;"`, or pasted from inspect: `["nginx","-g","daemon off;"]`."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, list):
        return [str(word) for word in parsed]
    return text.replace('"', "").replace("'", "").split()


def _port(config: dict, given) -> CheckResult:
    ports = sorted(config.get("ExposedPorts") or {})
    text = str(given).strip()
    if text not in ports and f"{text}/tcp" not in ports:
        return CheckResult.fail(
            "That is not the port nginx exposes: look at Config.ExposedPorts in `docker inspect nginx`.",
            f"port={given!r}",
            "Config.ExposedPorts",
        )
    return CheckResult.ok(f"Right: nginx runs `{' '.join(config.get('Cmd') or [])}` and exposes {', '.join(ports)}.")


def _rmi(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: images.absent(ctx, "myrepo/nginx:old", "remove that name with `docker rmi myrepo/nginx:old`"),
        lambda: images.present(
            ctx,
            "nginx:latest",
            "`docker rmi` removed its last name, so the image went too; pull it again with `docker pull nginx`",
        ),
        lambda: CheckResult.ok(
            "myrepo/nginx:old is gone and nginx is still there: `docker rmi` of one name removes only that name "
            '("Untagged").'
        ),
    )


EXERCISES = [
    Exercise(
        id="inspect.pull",
        wakes=("image",),
        title="Pull nginx",
        points=1,
        task="Pull the `nginx` image and list your images with `docker images`.",
        check=lambda ctx, answer=None: images.present(ctx, "nginx:latest"),
        hints=("`docker pull nginx`",),
        resources=Resources(images=("nginx:latest",)),
    ),
    Exercise(
        id="inspect.read",
        title="Read an image's config",
        points=2,
        task=(
            "With `docker inspect nginx`, find nginx's default command (Config.Cmd) and the port it exposes "
            "(Config.ExposedPorts), and give them to the check as answer=."
        ),
        check=_read,
        hints=(
            '`docker inspect nginx` prints JSON; look under "Config".',
            "`docker inspect --format '{{json .Config.Cmd}} {{json .Config.ExposedPorts}}' nginx`",
            'The answer looks like answer={"cmd": ["nginx", "-g", "daemon off;"], "port": 80}.',
        ),
        setup=("docker pull -q nginx",),
        answer=ANSWER,
    ),
    Exercise(
        id="inspect.tag",
        wakes=("image",),
        title="Give an image another name",
        points=2,
        task="Tag nginx as `myrepo/nginx:v1`, and see in `docker images` that both names have the same IMAGE ID.",
        check=lambda ctx, answer=None: images.same_image(ctx, "myrepo/nginx:v1", "nginx:latest"),
        hints=("`docker tag SOURCE TARGET` adds a name; it copies nothing.", "`docker tag nginx myrepo/nginx:v1`"),
        setup=("docker pull -q nginx",),
        resources=Resources(images=("myrepo/nginx:v1",)),
    ),
    Exercise(
        id="inspect.rmi",
        wakes=("image",),
        title="Remove a name, keep the image",
        points=2,
        task=(
            "The cell above made a second name, `myrepo/nginx:old`. Remove that name with `docker rmi`, and check "
            "that nginx is still there."
        ),
        check=_rmi,
        hints=(
            "`docker rmi NAME` removes a name; the image goes only when its last name goes.",
            "`docker rmi myrepo/nginx:old` (not `docker rmi nginx`).",
        ),
        setup=("docker pull -q nginx", "docker tag nginx myrepo/nginx:old"),
        resources=Resources(images=("myrepo/nginx:old",)),
    ),
]
