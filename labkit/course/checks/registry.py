"""The course registry: the learner's login, and whether a local image is what the registry holds."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

from ...errors import ImageMissing, LabkitError
from ...registries import RegistryClient
from .._context import LabContext
from .._results import CheckResult


def stored_credentials(ctx: LabContext, registry: str) -> tuple[str, str] | None:
    """The login the learner's docker client keeps for `registry` (config.json or a credential helper)."""
    config = ctx.docker_config_auths()
    entry = (config.get("auths") or {}).get(registry) or (config.get("auths") or {}).get(f"http://{registry}") or {}
    if entry.get("auth"):
        user, _, secret = base64.b64decode(entry["auth"]).decode(errors="replace").partition(":")
        return user, secret
    helper = (config.get("credHelpers") or {}).get(registry) or config.get("credsStore")
    program = shutil.which(f"docker-credential-{helper}") if helper else None
    if program:
        answer = subprocess.run([program, "get"], input=registry, capture_output=True, text=True, timeout=20)
        if answer.returncode == 0:
            found = json.loads(answer.stdout or "{}")
            return found.get("Username", ""), found.get("Secret", "")
    return None


def logged_in(ctx: LabContext) -> CheckResult:
    registry, user = ctx.registry_address, ctx.user
    expected = f"a working login for {registry} in your docker client"
    creds = stored_credentials(ctx, registry)
    if creds is None:
        return CheckResult.fail(
            f"Your docker client has no login for {registry} (in {ctx.docker_config / 'config.json'}): "
            f"run `docker login {registry} -u {user}` and give the lab password.",
            "no stored login",
            expected,
        )
    if creds == (ctx.user, ctx.password):
        accepted = True  # the registry's account file is written from this very password file
    else:
        probe = RegistryClient(registry, auth=creds)
        accepted = probe.ping() == 200
        probe.close()
    if not accepted:
        return CheckResult.fail(
            (
                f"Your docker client keeps a login for {registry} as {creds[0]!r}, but the registry refuses it: log in "
                f"again as {user} with the lab password."
            ),
            f"login as {creds[0]} refused",
            expected,
        )
    return CheckResult.ok(f"You are logged in to {registry} as {creds[0]}.", f"login as {creds[0]} accepted", expected)


def split(ref: str, registry: str) -> tuple[str, str]:
    """'127.0.0.1:5000/learner/myapp:v1' → ('learner/myapp', 'v1')."""
    path = ref.removeprefix(registry + "/")
    repo, _, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "latest")
    return repo, tag


def pushed(ctx: LabContext, ref: str) -> CheckResult:
    """The registry holds `ref`, and its manifest digest is one of the local image's repo digests.

    When it is not, "an older push" needs the registry to hold one of the local image's repo
    digests as a past push of that repository: on the containerd image store every repository
    that names an image gets a repo digest (the image id), pushed or not, so a repo digest alone
    does not prove a push. On the classic store repo digests come only from a push or a pull."""
    registry = ctx.registry_address
    repo, tag = split(ref, registry)
    expected = f"the registry's {repo}:{tag} is your local {ref}"
    try:
        attrs = ctx.engine.images.attrs(ref)
    except ImageMissing:
        return CheckResult.fail(
            f"There is no local image {ref}: give your image that name with `docker tag`, then push it.",
            f"no local {ref}",
            expected,
        )
    local = [d.split("@", 1)[1] for d in attrs.get("RepoDigests") or [] if d.startswith(f"{registry}/{repo}@")]
    try:
        client = ctx.registry()
        remote = client.manifest_digest(repo, tag)
        past = []
        if (
            remote is not None and remote not in local
        ):  # which of the local image's digests did the registry get pushed?
            past = [digest for digest in local if client.manifest_digest(repo, digest)]
    except LabkitError as e:
        return CheckResult.error(str(e))
    return _compare(ref, repo, tag, remote, local, past, expected)


def _compare(
    ref: str, repo: str, tag: str, remote: str | None, local: list[str], past: list[str], expected: str
) -> CheckResult:
    """The verdict: `remote` is the registry's digest for repo:tag, `local` the local image's repo digests
    for repo, `past` those of them the registry holds as manifests of repo."""
    if remote is None:
        return CheckResult.fail(
            f"The registry has no {repo}:{tag}: push it with `docker push {ref}` (log in first).",
            "not in the registry",
            expected,
        )
    if remote in local:
        return CheckResult.ok(
            f"The registry holds {repo}:{tag}, digest {remote[:19]}…, the same as your local image.",
            f"digest {remote}",
            expected,
        )
    if past:
        return CheckResult.fail(
            f"The registry's {repo}:{tag} ({remote[:19]}…) is an older push, not your local {ref}: push again.",
            f"registry {remote[:19]}…, local {past[0][:19]}…",
            expected,
        )
    return CheckResult.fail(
        (
            f"The registry has a {repo}:{tag}, but your local {ref} is not what was pushed: push it again with "
            f"`docker push {ref}`."
        ),
        f"registry: {remote[:19]}…, local: never pushed",
        expected,
    )


def _named(repo: str, reference: str) -> str:
    """repo:tag, or repo@sha256:… (shortened) for a digest."""
    return f"{repo}@{reference[:19]}…" if reference.startswith("sha256:") else f"{repo}:{reference}"


def same_manifest(ctx: LabContext, repo: str, first: str, second: str) -> CheckResult:
    """The registry's `repo:first` and `repo:second` are one manifest: the same digest. (A manifest
    digest means the same on every image store; an image id does not.)"""
    expected = f"{repo}:{first} and {repo}:{second}, one manifest digest"
    try:
        client = ctx.registry()
        found = {tag: client.manifest_digest(repo, tag) for tag in (first, second)}
    except LabkitError as e:
        return CheckResult.error(str(e))
    for tag, digest in found.items():
        if digest is None:
            return CheckResult.fail(
                f"The registry has no {repo}:{tag}: push it with `docker push {ctx.registry_address}/{repo}:{tag}`.",
                f"no {repo}:{tag}",
                expected,
            )
    a, b = found[first], found[second]
    if a != b:
        return CheckResult.fail(
            (
                f"The registry's {repo}:{first} and {repo}:{second} are two manifests ({a[:19]}… and {b[:19]}…): "
                "two different images. Tag one image as both, then push both."
            ),
            f"{first}: {a[:19]}…, {second}: {b[:19]}…",
            expected,
        )
    return CheckResult.ok(
        f"The registry's {repo}:{first} and {repo}:{second} are one manifest, {a[:19]}…: two names, one content.",
        f"both {a}",
        expected,
    )


def moved(ctx: LabContext, repo: str, tag: str, away_from: str, how: str) -> CheckResult:
    """The registry's `repo:tag` names another manifest than `away_from` (a tag of `repo`, or a
    digest) does: the tag has moved. `how` says how to move it."""
    expected = f"{repo}:{tag} naming another manifest than {_named(repo, away_from)}"
    try:
        client = ctx.registry()
        now, then = client.manifest_digest(repo, tag), client.manifest_digest(repo, away_from)
    except LabkitError as e:
        return CheckResult.error(str(e))
    if now is None:
        return CheckResult.fail(
            f"The registry has no {repo}:{tag}: push it with `docker push {ctx.registry_address}/{repo}:{tag}`.",
            f"no {repo}:{tag}",
            expected,
        )
    if then is None:
        return CheckResult.fail(
            f"The registry has no {_named(repo, away_from)} any more: push it again, as the lesson did before.",
            f"no {_named(repo, away_from)}",
            expected,
        )
    if now == then:
        what = (
            f"{then[:19]}…"
            if away_from.startswith("sha256:")
            else f"the manifest {repo}:{away_from} names ({then[:19]}…)"
        )
        return CheckResult.fail(
            f"The registry's {repo}:{tag} still names {what}: {how}.", f"{tag}: {now[:19]}…", expected
        )
    return CheckResult.ok(
        f"The registry's {repo}:{tag} has moved: it names {now[:19]}…, no longer {then[:19]}….",
        f"{tag}: {now[:19]}…",
        expected,
    )


def holds(ctx: LabContext, repo: str, digest: str) -> bool:
    """Whether the registry holds the manifest `repo@digest` (a registry that cannot be asked raises:
    the check's result is then a lab problem)."""
    return ctx.registry().manifest_digest(repo, digest) is not None


def _platform(entry: dict) -> str:
    found = entry.get("platform") or {}
    words = "/".join(str(found.get(k)) for k in ("os", "architecture") if found.get(k))
    return f"{words}/{found['variant']}" if found.get("variant") else words


def _config_platform(client, repo: str, manifest: dict | None) -> str:
    """What an image manifest's configuration says its platform is ("linux/arm64"); "" when unread."""
    digest = ((manifest or {}).get("config") or {}).get("digest")
    try:
        config = json.loads(client.blob(repo, digest)) if digest else {}
    except ValueError:
        return ""
    return _platform({"platform": config}) if isinstance(config, dict) else ""


def index_for(ctx: LabContext, repo: str, tag: str, wanted: tuple[str, ...], how: str) -> CheckResult:
    """The registry's `repo:tag` is an index (an OCI image index or a Docker manifest list) naming an image
    for each platform of `wanted` ("linux/amd64", …), each image's own configuration saying that platform.
    Entries of no platform (BuildKit's attestations, `unknown/unknown`) are not images, and do not count.
    `how` says how to push one."""
    expected = f"{repo}:{tag}, an index of {', '.join(wanted)}"
    try:
        client = ctx.registry()
        top = client.manifest(repo, tag)
        if top is None:
            return CheckResult.fail(f"The registry has no {repo}:{tag} yet: {how}.", f"no {repo}:{tag}", expected)
        if "manifests" not in top:
            one = _config_platform(client, repo, top) or "one platform"
            return CheckResult.fail(
                (f"The registry's {repo}:{tag} is one image, for {one}, not an index of images: {how}."),
                f"one image ({one})",
                expected,
            )
        entries = {_platform(m): m for m in top.get("manifests") or [] if _platform(m) not in ("", "unknown/unknown")}
        missing = [p for p in wanted if p not in entries]
        if missing:
            return CheckResult.fail(
                (
                    f"The registry's {repo}:{tag} is an index of {', '.join(entries) or 'no image'}: it has no image "
                    f"for {', '.join(missing)}. {how[0].upper()}{how[1:]}."
                ),
                ", ".join(entries) or "empty index",
                expected,
            )
        for platform in wanted:
            said = _config_platform(client, repo, client.manifest(repo, entries[platform]["digest"]))
            if said != platform:
                return CheckResult.fail(
                    (
                        f"The index names an image for {platform}, but that image's configuration says "
                        f"{said or 'nothing'}: build it for that platform (`--platform {platform}`), push it, and "
                        "make the index again."
                    ),
                    f"{platform} entry configured for {said or 'nothing'}",
                    expected,
                )
        digest = client.manifest_digest(repo, tag) or ""
    except LabkitError as e:
        return CheckResult.error(str(e))
    return CheckResult.ok(
        (
            f"The registry's {repo}:{tag} is an index ({digest[:19]}…) of {len(wanted)} images, "
            f"{' and '.join(wanted)}, each configured for its platform: `docker pull` takes the one for its machine."
        ),
        ", ".join(entries),
        expected,
    )
