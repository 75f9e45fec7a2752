"""Files the learner writes into the workspace (a filesystem exported to a tar, a Dockerfile)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .._context import LabContext
from .._results import CheckResult

#: The most of an image's file read to compare it with a tar's copy (busybox-static is about 2 MB).
PROGRAM_LIMIT = 64 << 20


@dataclass(frozen=True)
class Member:
    """One file found in a tar: its size and sha256, or what it is instead of a file."""

    size: int = 0
    sha256: str = ""
    other: str = ""  # "a link to …", "a folder": not a file with bytes of its own

    def words(self) -> str:
        if self.other:
            return self.other
        return f"{self.size} bytes, sha256:{self.sha256[:12]}" if self.size else "0 bytes"


def learner_text(path: Path, limit: int = 1 << 20) -> str | None:
    """A file of the learner's workspace, as text (its first `limit` bytes); None when it is not a regular
    file there. Opened without waiting (a FIFO in its place never hangs a check, or the tracker that
    re-runs it on every change of the workspace), and read only once it is known to be a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit).decode(errors="replace")
    finally:
        os.close(fd)


def _find(archive: tarfile.TarFile, member: str) -> tarfile.TarInfo | None:
    """Reads the archive only as far as `member` (it comes early in an export)."""
    return next((m for m in archive if m.name.removeprefix("./") == member), None)


def _member(archive: tarfile.TarFile, info: tarfile.TarInfo) -> Member:
    if info.issym():
        return Member(other=f"a link to {info.linkname}")
    if info.isdir():
        return Member(other="a folder")
    try:  # a hard link (busybox's applets are hard links to one file) reads as its target
        handle = archive.extractfile(info)
    except KeyError:
        handle = None
    if handle is None:
        return Member(other=f"a link to {info.linkname}" if info.islnk() else "not a regular file")
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    return Member(size, digest.hexdigest())


def _look(path: Path, member: str) -> tuple[str, Member | None, int]:
    """Where `member` is in the tar at `path` ("plain", or "layer" of a `docker save` archive,
    the topmost layer's copy), what it is, and how many entries the tar has when it is not there."""
    with tarfile.open(path) as archive:
        info = _find(archive, member)
        if info is not None:
            return "plain", _member(archive, info), 0
        count = len(archive.getmembers())
        if _find(archive, "manifest.json") is not None:
            found = _in_layers(archive, member)
            if found is not None:
                return "layer", found, count
    return "", None, count


def _in_layers(archive: tarfile.TarFile, member: str) -> Member | None:
    manifest = json.load(archive.extractfile("manifest.json"))
    found = None
    for entry in manifest if isinstance(manifest, list) else []:
        for layer in entry.get("Layers") or []:
            try:
                data = archive.extractfile(layer)
            except KeyError:  # the manifest names a layer the archive does not hold
                continue
            if data is None:
                continue
            with tarfile.open(fileobj=io.BytesIO(data.read())) as inner:
                info = _find(inner, member)
                if info is not None:
                    found = _member(inner, info)  # a later layer's copy hides an earlier one
    return found


def _held(ctx: LabContext, filename: str, member: str) -> tuple[CheckResult, Member | None]:
    """tar_holds' result, and the member it found (None when it failed)."""
    path = ctx.workspace / filename
    want = f"{filename} in {ctx.workspace}, holding {member}"
    if not path.exists():
        return CheckResult.fail(
            f"There is no {filename} in {ctx.workspace}: write it there with `docker export` or `docker save`.",
            "no such file",
            want,
        ), None
    if not path.is_file():  # a folder, a FIFO: tarfile would fail, or wait forever
        return CheckResult.fail(
            f"{filename} is not a file: write it with `docker export -o {filename} …`.", "not a file", want
        ), None
    try:
        where, found, count = _look(path, member)
    except (tarfile.TarError, OSError, ValueError) as e:
        return CheckResult.fail(
            f"{filename} is not a tar archive ({type(e).__name__}): write it with `docker export -o {filename} …`.",
            "not a tar",
            want,
        ), None
    if where == "plain":
        return CheckResult.ok(
            f"{filename} holds {member}: the image's filesystem is in a plain file.", f"{member} found", want
        ), found
    if where == "layer":
        return CheckResult.ok(
            f"{filename} is an image archive whose layers hold {member}.", f"{member} found in a layer", want
        ), found
    return CheckResult.fail(
        f"{filename} is a tar, but it holds no {member}: did you export a different image's container?",
        f"{count} entries, no {member}",
        want,
    ), None


def tar_holds(ctx: LabContext, filename: str, member: str) -> CheckResult:
    """`filename` in the workspace is a tar that holds `member`: directly (`docker export`) or in a
    layer of a `docker save` archive."""
    return _held(ctx, filename, member)[0]


def tar_holds_program_of(ctx: LabContext, filename: str, member: str, ref: str) -> CheckResult:
    """`filename` holds `member` (as `tar_holds`), and that is the very program `/member` of the
    image `ref`: the same size and sha256, not an empty file or a script under its name."""
    held, found = _held(ctx, filename, member)
    if not held.passed or found is None:
        return held
    program = member.rsplit("/", 1)[-1]
    if ctx.engine.images.id(ref) is None:
        return CheckResult.fail(
            (
                f"{filename} holds {member}, but there is no image {ref} in your engine to compare it with: "
                f"`docker pull {ref}`, then check again."
            ),
            f"{member}: {found.words()}",
            f"{member} as in {ref}",
        )
    data = ctx.engine.images.read_file(ref, f"/{member}", limit=PROGRAM_LIMIT)
    if data is None:
        return CheckResult.fail(
            f"{ref} has no file /{member} to compare {filename} with: pull it again with `docker pull {ref}`.",
            f"no /{member} in {ref}",
            f"{member} as in {ref}",
        )
    original = Member(len(data), hashlib.sha256(data).hexdigest())
    seen, want = f"{member}: {found.words()}", f"{member}: {original.words()}, as in {ref}"
    by_hand = f"or save the image with `docker save {ref}`, rather than making the tar yourself"
    if not found.other and found.size == 0:
        return CheckResult.fail(
            (
                f"{member} in {filename} is empty: export the container with `docker export` (a container made from "
                f"{ref}), {by_hand}."
            ),
            seen,
            want,
        )
    if found != original:
        return CheckResult.fail(
            f"{member} in {filename} is not {program}'s program from the {ref} image: it is {found.words()}, "
            f"{ref}'s is {original.words()}. Export a container made from {ref} with `docker export`, {by_hand}.",
            seen,
            want,
        )
    return held


DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def base_of(dockerfile: str) -> str:
    """The image the last `FROM` of a Dockerfile's text names (the final stage's base, its flags and
    `AS name` left out); "" when there is none."""
    text = re.sub(r"\\\n", " ", dockerfile)  # a line continued with a backslash is one instruction
    found = ""
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() == "FROM":
            found = next((w for w in words[1:] if not w.startswith("--")), "")
    return found


def pinned_from(ctx: LabContext, dockerfile: str, name: str) -> tuple[CheckResult, str]:
    """`dockerfile` (relative to the workspace) starts its last stage `FROM name@sha256:…`: pinned by
    digest (a tag before the digest is allowed; Docker then ignores it). The result, and the digest."""
    path = ctx.workspace / dockerfile
    want = f"FROM {name}@sha256:… in {dockerfile}"
    text = learner_text(path)
    if text is None:
        return CheckResult.fail(
            f"There is no {dockerfile} in {ctx.workspace}: run the cell that writes it.", "no such file", want
        ), ""
    base = base_of(text)
    if not base:
        return CheckResult.fail(
            f"{dockerfile} has no FROM line: start it with `FROM {name}@sha256:…`.", "no FROM", want
        ), ""
    named, _, digest = base.partition("@")
    repository = named.rpartition(":")[0] if ":" in named.rsplit("/", 1)[-1] else named
    if "$" in base:
        return CheckResult.fail(
            f"{dockerfile}'s FROM uses a variable ({base}): write the digest itself, `FROM {name}@sha256:…`.",
            f"FROM {base}",
            want,
        ), ""
    if not digest:
        return CheckResult.fail(
            (f"{dockerfile}'s FROM names {base}, a tag, and a tag can move: pin it by digest, `FROM {name}@sha256:…`."),
            f"FROM {base}",
            want,
        ), ""
    if repository != name:
        return CheckResult.fail(
            f"{dockerfile}'s FROM pins {repository}, not {name}: pin {name} by its digest.", f"FROM {base}", want
        ), ""
    if not DIGEST.fullmatch(digest):
        return CheckResult.fail(
            (
                f"{dockerfile}'s FROM has {digest!r} where a whole digest goes: `sha256:` and 64 hex digits, "
                "as `docker push` printed it."
            ),
            f"FROM {base}",
            want,
        ), ""
    return CheckResult.ok(f"{dockerfile} is pinned: FROM {name}@{digest[:19]}….", f"FROM {base}", want), digest
