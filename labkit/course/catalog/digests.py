"""09-digests: tags move, digests do not.

The checks read the course registry's manifest digests and layers (diff ids), the local images'
repo digests and layers, and the engine's pull events: relations that hold on the classic image
store and the containerd one alike. Never an image id's meaning (the classic store's is its
config's digest, the containerd store's its manifest's or index's)."""

from .._context import LabContext, last_reset
from .._results import CheckResult, first_failure
from ..checks import files, images, registry
from ._base import Exercise, Resources

GREETING_DOCKERFILE = 'FROM busybox\\nCOPY message.txt /message.txt\\nCMD [\\"cat\\", \\"/message.txt\\"]\\n'
APP_DOCKERFILE = (
    "FROM {registry}/{user}/greeting:stable\\nCOPY signature.txt /signature.txt\\n"
    'CMD [\\"sh\\", \\"-c\\", \\"cat /message.txt /signature.txt\\"]\\n'
)
APP = "greeting-app/Dockerfile"
GREETING = "{registry}/{user}/greeting"


def pushed_as(ref: str) -> str:
    """The shell command that prints `GREETING@sha256:…`, the digest the local image `ref` was pushed
    as: its RepoDigests line for the course registry. (On the containerd store RepoDigests also names
    the image's other repositories, pushed or not, such as `greeting@…`: hence the grep.)"""
    listing = "'{{range .RepoDigests}}{{println .}}{{end}}'"
    return f"docker image inspect --format {listing} {ref} | grep '^{GREETING}@' | head -n 1"


def repo(ctx: LabContext) -> str:
    """The lesson's repository as the registry names it: `learner/greeting`."""
    return f"{ctx.user}/greeting"


def name(ctx: LabContext) -> str:
    """The lesson's repository as an image name: `127.0.0.1:PORT/learner/greeting`."""
    return f"{ctx.registry_address}/{repo(ctx)}"


def _same_content(ctx: LabContext, answer=None) -> CheckResult:
    v1, stable = f"{name(ctx)}:v1", f"{name(ctx)}:stable"
    return first_failure(
        lambda: images.present(ctx, "greeting:v1", "build it with `docker build -t greeting:v1 greeting`"),
        lambda: images.same_image(ctx, v1, "greeting:v1"),
        lambda: images.same_image(ctx, stable, "greeting:v1"),
        lambda: registry.pushed(ctx, v1),
        lambda: registry.pushed(ctx, stable),
        lambda: registry.same_manifest(ctx, repo(ctx), "v1", "stable"),
    )


def _pull_by_digest(ctx: LabContext, answer=None) -> CheckResult:
    stable = f"{name(ctx)}:stable"
    return first_failure(
        lambda: images.built_on(ctx, stable, "busybox", new_layers=1),
        lambda: registry.pushed(ctx, stable),
        lambda: registry.moved(
            ctx,
            repo(ctx),
            "stable",
            "v1",
            f"change greeting/message.txt, build greeting:v2, tag it as {stable} and push it",
        ),
        lambda: _old_pulled(ctx),
    )


def _old_pulled(ctx: LabContext) -> CheckResult:
    """v1's manifest (the registry's v1 never moves in this lesson) was pulled by its digest."""
    old = ctx.registry().manifest_digest(repo(ctx), "v1")
    if old is None:
        return CheckResult.fail(
            f"The registry has no {repo(ctx)}:v1 any more: push it again, as in the exercise before.",
            f"no {repo(ctx)}:v1",
            "v1's manifest in the registry",
        )
    return images.pulled_by_digest(ctx, name(ctx), old, last_reset(ctx, "digests"))


def _pinned_from(ctx: LabContext, answer=None) -> CheckResult:
    pinned, digest = files.pinned_from(ctx, APP, name(ctx))
    base = f"{name(ctx)}@{digest}"
    return first_failure(
        lambda: pinned,
        lambda: _held(ctx, digest),
        lambda: registry.moved(
            ctx,
            repo(ctx),
            "stable",
            digest,
            "that is the digest you pinned, so nothing has moved yet. Change greeting/message.txt, build "
            f"greeting:v3, tag it as {name(ctx)}:stable and push it, then build greeting-app:v2",
        ),
        lambda: _kept_base(ctx, "greeting-app:v1", base),
        lambda: _kept_base(ctx, "greeting-app:v2", base),
        lambda: _summary(ctx, digest),
    )


def _summary(ctx: LabContext, digest: str) -> CheckResult:
    now = ctx.registry().manifest_digest(repo(ctx), "stable") or ""
    return CheckResult.ok(
        (
            f"greeting-app:v1 and greeting-app:v2 are both built on {repo(ctx)}@{digest[:19]}…, the digest you "
            f"pinned, though stable has moved on to {now[:19]}…."
        ),
        f"both on {digest[:19]}…; stable is {now[:19]}…",
        f"greeting-app:v1 and v2 on {repo(ctx)}@{digest[:19]}…, stable elsewhere",
    )


def _held(ctx: LabContext, digest: str) -> CheckResult:
    want = f"{repo(ctx)}@{digest[:19]}… in the course registry"
    if not registry.holds(ctx, repo(ctx), digest):
        return CheckResult.fail(
            (
                f"The registry has no {repo(ctx)}@{digest[:19]}…: pin a digest it holds, the one `docker push` printed "
                "for stable (or the RepoDigests line that starts with the registry)."
            ),
            "no such manifest",
            want,
        )
    return CheckResult.ok(f"The registry holds {repo(ctx)}@{digest[:19]}….", "held", want)


def _kept_base(ctx: LabContext, ref: str, base: str) -> CheckResult:
    """`ref` is built on the pinned `base`; built on what stable names now instead, it says so."""
    result = images.built_on(ctx, ref, base, new_layers=1)
    if result.passed or ctx.engine.images.id(ref) is None:
        return result
    now = ctx.registry().diff_ids(repo(ctx), "stable") or []
    if now and images.layers(ctx, ref)[: len(now)] == now:
        return CheckResult.fail(
            (
                f"{ref} is built on what stable names now, not on the digest you pinned: build it again from the "
                f"pinned Dockerfile (`docker build -t {ref} greeting-app`)."
            ),
            f"{ref} starts with stable's layers",
            result.expected,
        )
    return result


EXERCISES = [
    Exercise(
        id="digests.same-content",
        wakes=("image", "registry"),
        title="Two tags, one digest",
        points=2,
        task=(
            "Tag `greeting:v1` as `<registry>/<user>/greeting:v1` and as `<registry>/<user>/greeting:stable`, and "
            "push both: the registry files one manifest under both tags."
        ),
        check=_same_content,
        hints=(
            "`docker push` sends an image's manifest, and the registry names it by its digest (`sha256:…`): one "
            "image pushed under two tags is one manifest with two names.",
            "`docker tag greeting:v1 {lab.registry}/{lab.user}/greeting:v1` and "
            "`docker tag greeting:v1 {lab.registry}/{lab.user}/greeting:stable`",
            "`docker push {lab.registry}/{lab.user}/greeting:v1`, then "
            "`docker push {lab.registry}/{lab.user}/greeting:stable` (both at once: "
            "`docker push --all-tags {lab.registry}/{lab.user}/greeting`).",
        ),
        setup=(
            "docker login {registry} -u {user} --password-stdin < {password_file}",
            "mkdir -p {workspace}/greeting",
            f"printf '{GREETING_DOCKERFILE}' > {{workspace}}/greeting/Dockerfile",
            "echo 'Hello from greeting v1' > {workspace}/greeting/message.txt",
            "docker build -q -t greeting:v1 {workspace}/greeting",
        ),
        resources=Resources(
            images=("greeting:v1", "{registry}/{user}/greeting:v1", "{registry}/{user}/greeting:stable"),
            files=("greeting",),
            repositories=("{user}/greeting",),
            by_digest=("{registry}/{user}/greeting",),
        ),
    ),
    Exercise(
        id="digests.pull-by-digest",
        wakes=("image", "registry"),
        title="Move a tag, pull by digest",
        points=3,
        task=(
            "With v1's digest noted, change `greeting/message.txt`, build `greeting:v2`, and move `stable` to it (tag "
            "and push). Then remove your local v1 (`greeting:v1` and `<registry>/<user>/greeting:v1`) and pull "
            "the old image back by its digest: `<registry>/<user>/greeting@sha256:…`."
        ),
        check=_pull_by_digest,
        hints=(
            "v1's digest is in greeting/v1.digest: `docker push` printed it, and `docker image inspect --format "
            "'{{json .RepoDigests}}' IMAGE` lists it (the line of the registry you pushed to).",
            "Edit greeting/message.txt, then `docker build -t greeting:v2 greeting`, "
            "`docker tag greeting:v2 {lab.registry}/{lab.user}/greeting:stable`, "
            "`docker push {lab.registry}/{lab.user}/greeting:stable`.",
            "`docker rmi greeting:v1 {lab.registry}/{lab.user}/greeting:v1`, then "
            '`docker pull "$(cat greeting/v1.digest)"` (that is {lab.registry}/{lab.user}/greeting@sha256:…).',
        ),
        setup=(
            f"{pushed_as(GREETING + ':v1')} > {{workspace}}/greeting/v1.digest",
            "cat {workspace}/greeting/v1.digest",
        ),
        resources=Resources(images=("greeting:v2",)),
    ),
    Exercise(
        id="digests.pinned-from",
        wakes=("image", "registry"),
        title="Pin FROM by digest",
        points=3,
        task=(
            "Pin `greeting-app/Dockerfile`'s FROM to the digest `stable` names now "
            "(`FROM <registry>/<user>/greeting@sha256:…`) and build `greeting-app:v1`. Then move `stable` on (a "
            "`greeting:v3` with another message, tagged and pushed as stable) and build `greeting-app:v2` from the "
            "same Dockerfile: it keeps the pinned base."
        ),
        check=_pinned_from,
        hints=(
            "`FROM NAME@sha256:…` names one manifest for good; `FROM NAME:TAG` takes whatever the tag names when "
            "you build.",
            "The digest stable names now: `docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "
            "{lab.registry}/{lab.user}/greeting:stable`, the line that starts with {lab.registry}/. Put it after "
            "FROM in greeting-app/Dockerfile, then `docker build -t greeting-app:v1 greeting-app`.",
            "Edit greeting/message.txt, `docker build -t greeting:v3 greeting`, "
            "`docker tag greeting:v3 {lab.registry}/{lab.user}/greeting:stable`, "
            "`docker push {lab.registry}/{lab.user}/greeting:stable`, then "
            "`docker build -t greeting-app:v2 greeting-app`.",
        ),
        setup=(
            "mkdir -p {workspace}/greeting-app",
            "echo 'Signed: greeting-app' > {workspace}/greeting-app/signature.txt",
            f"[ -f {{workspace}}/{APP} ] || printf '{APP_DOCKERFILE}' > {{workspace}}/{APP}",
        ),
        resources=Resources(images=("greeting:v3", "greeting-app:v1", "greeting-app:v2"), files=("greeting-app",)),
    ),
]
