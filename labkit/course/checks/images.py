"""Images: present or not, what a name points to, layers, history, config, files, commits."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ...errors import LabkitError
from ...registries import repo_tag
from .._results import CheckResult

if TYPE_CHECKING:  # checks are handed a context; this module needs none of the engine's to be imported
    from .._context import LabContext


def short(image_id: str | None) -> str:
    return (image_id or "").removeprefix("sha256:")[:12]


def names_of(ctx: LabContext, image_id: str, besides: str = "") -> list[str]:
    """Every name that points to `image_id` (other than `besides`)."""
    names = []
    for image in ctx.engine.images.list():
        if image.get("Id") == image_id:
            names += [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    return sorted(n for n in names if n != _full(besides))


def _full(ref: str) -> str:
    return ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"


def describe(ctx: LabContext, image_id: str, besides: str = "") -> str:
    """An image in words: its other names, or its short id."""
    names = names_of(ctx, image_id, besides)
    return f"{', '.join(names)} ({short(image_id)})" if names else f"an unnamed image ({short(image_id)})"


def present(ctx: LabContext, ref: str, how: str = "") -> CheckResult:
    image_id = ctx.engine.images.id(ref)
    if image_id is None:
        hint = how or f"get it with `docker pull {ref}`"
        return CheckResult.fail(
            f"There is no image {ref} in your engine yet: {hint}.{ctx.pull_advice(ref)}",
            "no such image",
            f"an image named {ref}",
        )
    return CheckResult.ok(f"{ref} is there.", f"{ref} is {short(image_id)}", f"an image named {ref}")


def absent(ctx: LabContext, ref: str, how: str = "") -> CheckResult:
    image_id = ctx.engine.images.id(ref)
    if image_id is not None:
        hint = how or f"remove it with `docker rmi {ref}`"
        return CheckResult.fail(
            f"{ref} is still there: {hint}.", f"{ref} is {short(image_id)}", f"no image named {ref}"
        )
    return CheckResult.ok(f"{ref} is gone.", "no such image", f"no image named {ref}")


def same_image(ctx: LabContext, ref: str, target: str, how: str = "") -> CheckResult:
    """`ref` and `target` name the same image (the same id)."""
    ref_id, target_id = ctx.engine.images.id(ref), ctx.engine.images.id(target)
    expected = f"{ref} and {target} are one image"
    if ref_id is None:
        hint = how or f"make it with `docker tag {target} {ref}`"
        return CheckResult.fail(f"There is no image {ref} yet: {hint}.", "no such image", expected)
    if target_id is None:
        return CheckResult.fail(
            f"{target} is not in your engine, so {ref} cannot be its name: pull {target} first.",
            f"no image {target}",
            expected,
        )
    if ref_id != target_id:
        seen = f"{ref} is {short(ref_id)}, {target} is {short(target_id)}"
        if not names_of(ctx, ref_id, ref):  # `ref` is that image's only name: another image, not an unnamed one
            (ref_repo, _, ref_tag), (target_repo, _, target_tag) = (
                _full(ref).rpartition(":"),
                _full(target).rpartition(":"),
            )
            move = f"{target_tag} as {ref_tag}" if ref_repo == target_repo else f"{target} as {ref}"
            return CheckResult.fail(
                f"{ref} points to another image than {target}: tag {move} (`docker tag {target} {ref}`).",
                seen,
                expected,
            )
        return CheckResult.fail(
            f"{ref} exists but points to {describe(ctx, ref_id, ref)}, not to {target}'s image ({short(target_id)}): "
            "did you tag the wrong image?",
            seen,
            expected,
        )
    return CheckResult.ok(
        f"{ref} is another name for {target}: same image id {short(ref_id)}.", f"both are {short(ref_id)}", expected
    )


def layers(ctx: LabContext, ref: str) -> list[str]:
    return list((ctx.engine.images.attrs(ref).get("RootFS") or {}).get("Layers") or [])


def base_layers(ctx: LabContext, base: str) -> list[str] | None:
    """A base image's layers: the local image's, else the lab's mirror's (BuildKit builds `FROM base`
    without leaving `base` among the engine's images); None when neither has it. A base pinned by
    digest in the course registry (`REGISTRY/USER/NAME@sha256:…`) is read from the registry: that
    manifest never changes, whatever the engine holds or calls it."""
    registry = ctx.registry_address + "/"
    if base.startswith(registry) and "@" in base:
        name, _, digest = base.partition("@")
        return ctx.registry().diff_ids(name.removeprefix(registry), digest)
    if ctx.engine.images.id(base) is not None:
        return layers(ctx, base)
    try:
        return ctx.mirror().diff_ids(*repo_tag(base))
    except LabkitError:
        return None


def built_on(
    ctx: LabContext, ref: str, base: str, new_layers: int | None = None, at_most: int | None = None
) -> CheckResult:
    """`base`'s layers are the first layers of `ref`, plus exactly `new_layers` (or at most `at_most`) of its own."""
    missing = present(ctx, ref, f"build it with `docker build -t {ref} …`")
    if not missing.passed:
        return missing
    theirs = base_layers(ctx, base)
    if theirs is None:
        return present(ctx, base)
    mine = layers(ctx, ref)
    extra = len(mine) - len(theirs)
    want = f"{base}'s {len(theirs)} layers, then " + (
        f"{new_layers} new layer(s)"
        if new_layers is not None
        else f"at most {at_most} new layer(s)"
        if at_most is not None
        else "its own"
    )
    seen = f"{len(mine)} layers, {max(extra, 0)} beyond {base}'s"
    if mine[: len(theirs)] != theirs:
        return CheckResult.fail(
            (
                f"{ref} is not built on {base}: its first layers are not {base}'s. Start your Dockerfile with "
                f"`FROM {base}`."
            ),
            f"{ref} does not start with {base}'s layers",
            want,
        )
    if extra == 0:
        return CheckResult.fail(
            (
                f"{ref} has exactly {base}'s layers and nothing of its own: it was tagged, not built. Build it from "
                f"your Dockerfile with `docker build -t {ref} …`."
            ),
            seen,
            want,
        )
    if new_layers is not None and extra != new_layers:
        return CheckResult.fail(
            f"{ref} adds {extra} layer(s) to {base}; expected {new_layers}, one per RUN/COPY/ADD instruction.",
            seen,
            want,
        )
    if at_most is not None and extra > at_most:
        return CheckResult.fail(
            f"{ref} adds {extra} layers to {base}; at most {at_most} are allowed: combine instructions.", seen, want
        )
    return CheckResult.ok(f"{ref} is built on {base} and adds {extra} layer(s) of its own.", seen, want)


def added_files(ctx: LabContext, ref: str, base: str) -> dict[str, int] | None:
    """The files `ref`'s layers above `base`'s hold (path: size; a later layer's copy wins), read from the
    layers themselves; None when `ref` is not built on `base` (see `built_on`)."""
    theirs = base_layers(ctx, base)
    if theirs is None or layers(ctx, ref)[: len(theirs)] != theirs:
        return None
    found: dict[str, int] = {}
    for listing in ctx.engine.images.layer_files(ref)[len(theirs) :]:
        found.update(listing)
    return found


def in_megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def diverge_at(ctx: LabContext, first: str, second: str, shared: int, what: str = "") -> CheckResult:
    """`first` and `second` share exactly their first `shared` layers and differ from there (build cache reuse)."""
    for name in (first, second):
        missing = present(ctx, name, f"build it with `docker build -t {name} …`")
        if not missing.passed:
            return missing
    a, b = layers(ctx, first), layers(ctx, second)
    common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    want = f"the first {shared} layers shared, then different"
    seen = f"{common} layers shared ({len(a)} in {first}, {len(b)} in {second})"
    if a == b:
        return CheckResult.fail(
            f"{second} is the very same image as {first}: change a file in app/ before building {second}.", seen, want
        )
    if common < shared:
        return CheckResult.fail(
            f"The tag moved: {second} no longer shares the {what or 'earlier'} layer(s) with {first} "
            f"(only {common} of {shared} are shared). "
            "Build again without --no-cache, and change only app/, not the lines above COPY.",
            seen,
            want,
        )
    if common > shared:
        return CheckResult.fail(
            (
                f"{second} shares {common} layers with {first}, more than the {shared} expected: the change did not "
                "reach the layer it should."
            ),
            seen,
            want,
        )
    return CheckResult.ok(
        f"{second} reuses {first}'s first {shared} layers from the build cache and differs from there.", seen, want
    )


def pulled_by_digest(ctx: LabContext, name: str, digest: str, since: float) -> CheckResult:
    """`name@digest` was pulled by its digest since `since` (the engine's pull event names the
    reference as it was given, on the classic and the containerd image store alike), and the engine
    has it now. The image id is not used: the two stores define it differently."""
    ref = f"{name}@{digest}"
    want = f"{ref} pulled by its digest, and in your engine"
    pulls = [e.get("id") or "" for e in ctx.engine.events(since, {"type": "image", "event": "pull"})]
    mine = [p for p in pulls if _repository(p) == name]
    if not any(p.endswith("@" + digest) for p in mine):
        others = [p for p in mine if "@" in p]
        if others:
            other = others[-1].rpartition("@")[2]
            return CheckResult.fail(
                f"You pulled {name}@{other[:19]}…, not the old image: pull it by its own digest, `docker pull {ref}`.",
                f"pulled {name}@{other[:19]}…",
                want,
            )
        if mine:
            return CheckResult.fail(
                f"You pulled {mine[-1]} by its tag, and a tag can move: pull the old image by its digest, "
                f"`docker pull {ref}`.",
                f"pulled {mine[-1]}",
                want,
            )
        return CheckResult.fail(
            f"You have not pulled the old image back yet: `docker pull {ref}`.", "no pull by digest", want
        )
    if ctx.engine.images.id(ref) is None:
        return CheckResult.fail(
            f"You pulled {name}@{digest[:19]}…, but it is gone from your engine again: pull it once more, "
            f"`docker pull {ref}`.",
            "pulled, then removed",
            want,
        )
    return CheckResult.ok(
        f"You pulled {name}@{digest[:19]}… by its digest: the old image, whatever the tags name now.",
        f"pulled {name}@{digest[:19]}…",
        want,
    )


def _repository(ref: str) -> str:
    """`127.0.0.1:5000/u/greeting:v1` and `…/u/greeting@sha256:…` → `127.0.0.1:5000/u/greeting`."""
    name = ref.partition("@")[0]
    return name.rpartition(":")[0] if ":" in name.rsplit("/", 1)[-1] else name


KNOWN = {
    "RUN",
    "COPY",
    "ADD",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "WORKDIR",
    "USER",
    "VOLUME",
    "ARG",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "ONBUILD",
    "MAINTAINER",
}


def instruction(created_by: str) -> tuple[str, str]:
    """(INSTRUCTION, argument) of one history step, as the classic builder or BuildKit wrote it."""
    text = created_by.strip().removesuffix("# buildkit").strip()
    if text.startswith("/bin/sh -c #(nop)"):
        kind, _, rest = text.removeprefix("/bin/sh -c #(nop)").strip().partition(" ")
        return kind.upper(), rest.strip()
    if text.startswith("|"):  # classic builder RUN with build args: "|1 A=b /bin/sh -c …"
        text = text[text.find("/bin/sh -c") :] if "/bin/sh -c" in text else text
    if text.startswith("/bin/sh -c "):
        return "RUN", text.removeprefix("/bin/sh -c ").strip()
    kind, _, rest = text.partition(" ")
    if kind in KNOWN:
        return kind, rest.removeprefix("/bin/sh -c ").strip()
    return "", text


def steps(ctx: LabContext, ref: str) -> list[tuple[str, str]]:
    return [instruction(step.get("CreatedBy") or "") for step in ctx.engine.images.history(ref)]


def history_in_order(ctx: LabContext, ref: str, expected: list[tuple[str, str]]) -> CheckResult:
    """The image's history holds these (INSTRUCTION, text it contains) steps in this order."""
    missing = present(ctx, ref, f"build it with `docker build -t {ref} …`")
    if not missing.passed:
        return missing
    seen = steps(ctx, ref)
    want = " → ".join(f"{k} {t}" for k, t in expected)
    observed = " → ".join(f"{k} {t}"[:60] for k, t in seen if k)
    position = 0
    for index, (kind, text) in enumerate(expected):
        found = next((i for i in range(position, len(seen)) if seen[i][0] == kind and text in seen[i][1]), None)
        if found is None and index and any(k == kind and text in t for k, t in seen[:position]):
            step, before = _step(kind, text), _step(*expected[index - 1])
            return CheckResult.fail(
                f"In {ref}'s build `{step}` comes before `{before}`: move the {kind} line below the `{before}` line "
                f"in your Dockerfile, then build {ref} again.",
                observed,
                want,
            )
        if found is None:
            return CheckResult.fail(
                f"`{kind} {text}` is missing from {ref}'s build: it is not in the image's history.", observed, want
            )
        position = found + 1
    return CheckResult.ok(f"{ref}'s history shows the expected instructions in order.", want, want)


def _step(kind: str, text: str) -> str:
    """An expected step in words: `RUN … apt-get install` (the text is a part of the line)."""
    return f"{kind} … {text}"


def config(ctx: LabContext, ref: str) -> dict:
    return ctx.engine.images.attrs(ref).get("Config") or {}


def config_field(ctx: LabContext, ref: str, field: str, expected) -> CheckResult:
    """One field of the image config (Cmd, Entrypoint, ExposedPorts, Labels, WorkingDir) equals `expected`."""
    missing = present(ctx, ref)
    if not missing.passed:
        return missing
    actual = config(ctx, ref).get(field)
    if field == "ExposedPorts":
        actual = sorted((actual or {}).keys())
        expected = sorted(expected)
    if actual != expected:
        return CheckResult.fail(
            f"{ref}'s {field} is {json.dumps(actual)}, not {json.dumps(expected)}.",
            json.dumps(actual),
            json.dumps(expected),
        )
    return CheckResult.ok(f"{ref}'s {field} is {json.dumps(actual)}.", json.dumps(actual), json.dumps(expected))


def file_in_image(ctx: LabContext, ref: str, path: str, contains: bytes | None = None) -> CheckResult:
    """`path` is a file in the image (read through a container that is never started, then removed)."""
    missing = present(ctx, ref)
    if not missing.passed:
        return missing
    data = ctx.engine.images.read_file(ref, path)
    if data is None:
        return CheckResult.fail(f"{ref} has no file {path}.", f"no {path}", f"{path} in {ref}")
    if contains is not None and contains not in data:
        return CheckResult.fail(
            f"{path} in {ref} does not hold {contains.decode(errors='replace')!r}.",
            data[:80].decode(errors="replace"),
            contains.decode(errors="replace"),
        )
    return CheckResult.ok(f"{ref} holds {path}.", f"{path} is there", f"{path} in {ref}")


def committed_from(ctx: LabContext, ref: str, container: str) -> CheckResult:
    """`ref` was committed from `container`: its layers are the container's image's plus one, holding its changes.

    Image inspect's `Container` field is not used: engines from 26.0 and the containerd
    image store no longer report it."""
    box = ctx.engine.containers.get(container)
    if box is None:
        return CheckResult.fail(
            f"There is no container {container} to commit from.", "no such container", f"a container named {container}"
        )
    missing = present(ctx, ref, f"commit it with `docker commit {container} {ref}`")
    if not missing.passed:
        return missing
    base, mine = ctx.engine.images.attrs(box["Image"]), layers(ctx, ref)
    base_layers = list((base.get("RootFS") or {}).get("Layers") or [])
    want = f"{ref} = the layers of {container}'s image + 1 layer with its changes"
    seen = f"{len(mine)} layers; {container}'s image has {len(base_layers)}"
    if (mine == base_layers or mine[:-1] == base_layers) and not ctx.engine.containers.diff(container):
        # Committing a container with no changes adds no layer on some engines and an empty one on others.
        return CheckResult.fail(
            f"{container} has no changes, so a commit of it adds nothing: change something inside it first, "
            f"then commit again (`docker commit {container} {ref}`).",
            "no changes in the container",
            want,
        )
    if mine == base_layers:
        return CheckResult.fail(
            (
                f"{ref} has the same layers as {container}'s image: it was tagged, not committed. Run "
                f"`docker commit {container} {ref}`."
            ),
            seen,
            want,
        )
    if mine[:-1] != base_layers:
        return CheckResult.fail(
            f"{ref} is not one layer on top of {container}'s image: was it committed from another container, or built?",
            seen,
            want,
        )
    return _holds_changes(ctx, ref, container, seen, want)


def _holds_changes(ctx: LabContext, ref: str, container: str, seen: str, want: str, sample: int = 6) -> CheckResult:
    changes = ctx.engine.containers.diff(container)
    checked = 0
    folders = {path.rsplit("/", i)[0] for path in (c["Path"] for c in changes) for i in range(1, path.count("/"))}
    for change in changes[:200]:
        path = change["Path"]
        if path in folders and change["Kind"] != 2:
            continue  # a folder holding other changes: its files are checked one by one
        inside = None if change["Kind"] == 2 else ctx.engine.containers.read_file(container, path)
        if change["Kind"] != 2 and inside is None:
            continue  # a directory: its files are listed too
        if ctx.engine.images.read_file(ref, path) != inside:
            what = "was deleted in" if inside is None else "differs from the one in"
            return CheckResult.fail(
                f"{path} in {ref} {what} {container}: the commit is older than that change, commit again.",
                f"{path} does not match",
                want,
            )
        checked += 1
        if checked >= sample:
            break
    if not checked:  # folders only (`mkdir`): their contents are other changes, so compare that they are there
        missing = [
            c["Path"] for c in changes[:sample] if c["Kind"] != 2 and not ctx.engine.images.has_path(ref, c["Path"])
        ]
        if missing:
            return CheckResult.fail(
                f"{missing[0]} in {container} is not in {ref}: the commit is older than that change, commit again.",
                f"{missing[0]} missing",
                want,
            )
    return CheckResult.ok(f"{ref} is {container}'s image plus one layer that holds {container}'s changes.", seen, want)
