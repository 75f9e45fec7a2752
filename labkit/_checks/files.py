"""Files the learner writes into the workspace (e.g. a filesystem exported to a tar)."""

from __future__ import annotations

import io
import json
import tarfile

from .._context import LabContext
from .._results import CheckResult


def _holds(archive: tarfile.TarFile, member: str) -> bool:
    """Reads the archive only as far as `member` (it comes early in an export)."""
    return any(m.name.removeprefix("./") == member for m in archive)


def tar_holds(ctx: LabContext, filename: str, member: str) -> CheckResult:
    """`filename` in the workspace is a tar that holds `member`: directly (`docker export`) or in a
    layer of a `docker save` archive."""
    path = ctx.workspace / filename
    want = f"{filename} in {ctx.workspace}, holding {member}"
    if not path.exists():
        return CheckResult.fail(f"There is no {filename} in {ctx.workspace}: write it there with `docker export` or `docker save`.", "no such file", want)
    try:
        with tarfile.open(path) as archive:
            if _holds(archive, member):
                return CheckResult.ok(f"{filename} holds {member}: the image's filesystem is in a plain file.", f"{member} found", want)
            count = len(archive.getmembers())
            if _holds(archive, "manifest.json") and _in_layers(archive, member):
                return CheckResult.ok(f"{filename} is an image archive whose layers hold {member}.", f"{member} found in a layer", want)
    except (tarfile.TarError, OSError, ValueError) as e:
        return CheckResult.fail(f"{filename} is not a tar archive ({type(e).__name__}): write it with `docker export -o {filename} …`.", "not a tar", want)
    return CheckResult.fail(f"{filename} is a tar, but it holds no {member}: did you export a different image's container?", f"{count} entries, no {member}", want)


def _in_layers(archive: tarfile.TarFile, member: str) -> bool:
    manifest = json.load(archive.extractfile("manifest.json"))
    for entry in manifest if isinstance(manifest, list) else []:
        for layer in entry.get("Layers") or []:
            data = archive.extractfile(layer)
            if data is None:
                continue
            with tarfile.open(fileobj=io.BytesIO(data.read())) as inner:
                if _holds(inner, member):
                    return True
    return False
