"""07-push: log in, tag for a registry, push, pull back."""

from .._context import LabContext, last_reset
from .._results import CheckResult, first_failure
from ..checks import images, registry
from ._base import Exercise, Resources

MYAPP_DOCKERFILE = 'FROM busybox\\nCOPY hello.txt /hello.txt\\nCMD [\\"cat\\", \\"/hello.txt\\"]\\n'


def target(ctx: LabContext, name: str = "myapp", tag: str = "v1") -> str:
    return f"{ctx.registry_address}/{ctx.user}/{name}:{tag}"


def _tag_push(ctx: LabContext, answer=None) -> CheckResult:
    ref = target(ctx)
    return first_failure(
        lambda: images.same_image(ctx, ref, "myapp:latest"),
        lambda: registry.pushed(ctx, ref),
    )


def _pull_back(ctx: LabContext, answer=None) -> CheckResult:
    ref = target(ctx)
    return first_failure(
        lambda: _removed_then_pulled(ctx, ref),
        lambda: registry.pushed(ctx, ref),
    )


def _removed_then_pulled(ctx: LabContext, ref: str) -> CheckResult:
    image_id = ctx.engine.images.id(ref)
    events = ctx.engine.events(last_reset(ctx, "push"), {"type": "image"})
    # An untag event names the image by id only, and after `docker rmi` the ref names nothing:
    # the ids `ref` ever named are those of its tag events, myapp's, and its own now.
    named = {e.get("id") for e in events if e.get("Action") == "tag" and _name(e) == ref}
    named |= {ctx.engine.images.id("myapp:latest"), image_id} - {None}
    removed = [
        e["timeNano"]
        for e in events
        if e.get("Action") in ("untag", "delete") and (e.get("id") in named or _name(e) == ref)
    ]
    pulled = [
        e["timeNano"] for e in events if e.get("Action") == "pull" and e.get("id") in (ref, ref.rsplit(":", 1)[0])
    ]
    want = f"{ref} removed locally, then pulled from the registry"
    if not removed:
        return CheckResult.fail(
            f"Your local {ref} was never removed: `docker rmi {ref}` first, then pull it back.", "not removed", want
        )
    if not pulled or max(pulled) < max(removed):
        return CheckResult.fail(
            f"You removed {ref}; now pull it back with `docker pull {ref}`.", "removed, not pulled back", want
        )
    return CheckResult.ok(
        f"{ref} came back from the registry, the same image you pushed.", "removed, then pulled", want
    )


def _name(event: dict) -> str:
    return ((event.get("Actor") or {}).get("Attributes") or {}).get("name", "")


EXERCISES = [
    Exercise(
        id="push.login",
        wakes=("login",),
        title="Log in to the registry",
        points=1,
        task=(
            "Log in to the course registry with `docker login` as the lab user (the password is in the lab's "
            "password file)."
        ),
        check=lambda ctx, answer=None: registry.logged_in(ctx),
        hints=(
            "`docker login REGISTRY -u USER --password-stdin` reads the password from its input.",
            "`cat {lab.password_file} | docker login {lab.registry} -u {lab.user} --password-stdin`",
        ),
        resources=Resources(login=True),
    ),
    Exercise(
        id="push.tag-push",
        wakes=("image", "registry"),
        title="Tag and push",
        points=3,
        task="Tag the `myapp` image as `<registry>/<user>/myapp:v1` and push it.",
        check=_tag_push,
        hints=(
            "A registry's address is the first part of an image's name: REGISTRY/USER/NAME:TAG.",
            "`docker tag myapp {lab.registry}/{lab.user}/myapp:v1`",
            "`docker push {lab.registry}/{lab.user}/myapp:v1`",
        ),
        setup=(
            "mkdir -p {workspace}/myapp",
            f"printf '{MYAPP_DOCKERFILE}' > {{workspace}}/myapp/Dockerfile",
            "echo 'Hello from myapp' > {workspace}/myapp/hello.txt",
            "docker build -q -t myapp {workspace}/myapp",
        ),
        resources=Resources(
            images=("myapp:latest", "{registry}/{user}/myapp:v1"), files=("myapp",), repositories=("{user}/myapp",)
        ),
    ),
    Exercise(
        id="push.pull-back",
        wakes=("image", "registry"),
        title="Pull it back",
        points=2,
        task="Remove your local `<registry>/<user>/myapp:v1` with `docker rmi`, then pull it back from the registry.",
        check=_pull_back,
        hints=(
            "`docker rmi {lab.registry}/{lab.user}/myapp:v1`, then `docker pull {lab.registry}/{lab.user}/myapp:v1`.",
        ),
    ),
]
