"""An image as files: what `docker save` wrote, unpacked into a folder of the workspace.

Two formats, by engine: Engine 25 and newer write an OCI image layout (`oci-layout`, `index.json`,
every file a blob named by its digest under `blobs/sha256/`) and, beside it, Docker's
`manifest.json`; older engines (20.10) write only Docker's format (`manifest.json`, the config as
`<digest>.json`, each layer as `<folder>/layer.tar`). Both have `manifest.json`, which names the
config and the layer files in order: what is read here. A layer file is a tar, compressed (gzip or
zstd, as the containerd store keeps what it pulled) or not (the classic store); its diff id is the
sha256 of the uncompressed tar, whatever the file is named.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .._context import LabContext
from .._results import CheckResult
from . import files, images

CHUNK = 1 << 20
#: Layer files already hashed: (path, size, mtime) → diff id; a tracker re-checks on every event.
_DIFF_IDS: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Saved:
    """One image of a saved folder, as its manifest.json and config have it."""

    oci: bool  # an OCI image layout (index.json, oci-layout), not only Docker's older format
    diff_ids: list[str]  # the config's rootfs.diff_ids
    problems: tuple[str, ...] = field(default=())  # what is missing or does not add up, in words


def _inside(folder: Path, name: str) -> Path | None:
    """`name` (from a manifest: a learner's file) as a path in `folder`, never outside it."""
    path = (folder / name).resolve()
    return path if path.is_relative_to(folder.resolve()) and path.is_file() else None


def diff_id(path: Path) -> str:
    """sha256 of the layer's uncompressed tar (gzip'd or not; a zstd one reads as its bytes); "" for a
    damaged gzip."""
    try:
        stat = path.stat()
    except OSError:
        return ""
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIFF_IDS:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as raw:
                compressed = raw.read(2) == b"\x1f\x8b"
                raw.seek(0)
                stream = gzip.GzipFile(fileobj=raw) if compressed else raw
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    digest.update(chunk)
        except (OSError, EOFError, zlib.error):  # a gzip cut short or damaged: it has no diff id
            return ""
        if len(_DIFF_IDS) > 256:
            _DIFF_IDS.clear()
        _DIFF_IDS[key] = "sha256:" + digest.hexdigest()
    return _DIFF_IDS[key]


def read(folder: Path, tag: str) -> Saved | str:
    """The image `tag` (else the folder's only one) of a saved folder; a sentence when it cannot be read."""
    text = files.learner_text(folder / "manifest.json")
    if text is None:
        return f"{folder.name} has no manifest.json"
    try:
        entries = json.loads(text)
    except ValueError as e:
        return f"{folder.name}/manifest.json cannot be read ({e.__class__.__name__})"
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries) or not entries:
        return f"{folder.name}/manifest.json is not a list of images"
    full = tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest"
    mine = [e for e in entries if isinstance(e.get("RepoTags"), list) and full in e["RepoTags"]] or (
        entries if len(entries) == 1 else []
    )
    if not mine:
        return f"{folder.name}/manifest.json names no image {tag}"
    entry = mine[0]
    named = entry.get("Layers")
    config_name, layers = str(entry.get("Config") or ""), [str(x) for x in named] if isinstance(named, list) else []
    config_path = _inside(folder, config_name)
    if config_path is None:
        return f"{folder.name} has no file {config_name or '(no Config in manifest.json)'}"
    data = config_path.read_bytes()
    try:
        config = json.loads(data)
    except ValueError:
        config = None
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        return f"{folder.name}/{config_name} is not an image configuration (no rootfs.diff_ids)"
    problems = []
    if hashlib.sha256(data).hexdigest() != config_path.name.removesuffix(".json"):
        problems.append(f"{config_name} does not hash to its own name any more (it was changed)")
    if len(diff_ids) != len(layers):
        problems.append(f"the config lists {len(diff_ids)} diff ids and manifest.json {len(layers)} layer files")
    for name, want in zip(layers, diff_ids):
        path = _inside(folder, name)
        if path is None:
            problems.append(f"the layer file {name} is missing")
        elif diff_id(path) != want:
            problems.append(f"the layer file {name} does not uncompress to its diff id {want[:19]}…")
    oci = (folder / "index.json").is_file() and (folder / "oci-layout").is_file()
    return Saved(oci, diff_ids, tuple(problems))


def holds_image(ctx: LabContext, folder_name: str, ref: str, how: str) -> CheckResult:
    """The workspace's `folder_name` is `docker save` of `ref`, unpacked: a config whose diff ids are the
    engine's layers of `ref`, every layer file there and uncompressing to its diff id. `how` says how to
    make it."""
    expected = f"{folder_name}/: {ref} saved and unpacked, every layer matching its diff id"
    layers = images.layers(ctx, ref) if ctx.engine.images.id(ref) else None
    if layers is None:
        return CheckResult.fail(f"There is no image {ref} in your engine: run the cell that builds it.", "", expected)
    folder = ctx.workspace / folder_name
    if not folder.is_dir():
        return CheckResult.fail(f"There is no folder {folder_name} yet: {how}.", f"no {folder_name}/", expected)
    saved = read(folder, ref)
    if isinstance(saved, str):
        return CheckResult.fail(f"{saved}: {how}.", saved, expected)
    if saved.diff_ids != layers:
        return CheckResult.fail(
            (
                f"{folder_name} holds another image than your {ref}: its config lists {len(saved.diff_ids)} layers, "
                f"not {ref}'s {len(layers)} (built again since?). Save it again and unpack it: {how}."
            ),
            f"{len(saved.diff_ids)} other layers",
            expected,
        )
    if saved.problems:
        return CheckResult.fail(
            f"{folder_name} is not whole: {'; '.join(saved.problems)}. Unpack the saved tar again: {how}.",
            "; ".join(saved.problems),
            expected,
        )
    return CheckResult.ok(
        (
            f"{folder_name} is {ref}, as files: manifest.json names its config and {len(layers)} layer files, the "
            f"config lists {len(layers)} diff ids, and each layer file uncompresses to its own."
        ),
        f"{len(layers)} layers, each matching its diff id",
        expected,
    )
