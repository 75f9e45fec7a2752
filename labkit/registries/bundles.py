"""A course bundle: everything a lab needs from the internet, in one file to carry to a class without it.

    labkit mirror save FILE [--wheels]     on a machine whose lab is up, with internet
    labkit mirror load FILE                on each machine of the class (or: make lab BUNDLE=FILE)

The file is a tar archive holding:

    labkit-bundle.json   what it holds
    images.tar           a `docker save` archive of the base images and the registry image
    packages/…           the lab's Debian package store (`registries.package_source`): what the
                         course's containers install
    wheels/…             (--wheels) labkit's Python packages, for `make lab BUNDLE=FILE` with no PyPI

A plain `docker save` archive is a bundle too (images only), as bundles were before. Nothing in a
bundle is trusted: a member that is a link, or whose path climbs out, is never unpacked; a file cut
short (a copy that did not finish) is refused before any engine sees it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from ..errors import BundleError, LabkitError

CONTENTS = "labkit-bundle.json"
IMAGES = "images.tar"
PACKAGES = "packages"
WHEELS = "wheels"


def is_course_bundle(archive: tarfile.TarFile) -> bool:
    try:
        archive.getmember(CONTENTS)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def opened(path: Path) -> Iterator[tarfile.TarFile]:
    """The bundle's tar, checked whole: a file cut short, or not a tar, is a BundleError."""
    try:
        size = path.stat().st_size
        with tarfile.open(path) as archive:
            short = [m.name for m in archive.getmembers() if m.isfile() and m.offset_data + m.size > size]
            if short:
                raise BundleError(path, f"it is cut short ({size} bytes; {short[0]} goes past its end): copy it again")
            yield archive
    except FileNotFoundError as e:
        raise BundleError(path, "the file does not exist") from e
    except (tarfile.ReadError, EOFError) as e:
        if "unexpected end" in str(e) or isinstance(e, EOFError):
            raise BundleError(path, f"it is cut short ({path.stat().st_size} bytes): copy it again") from e
        raise BundleError(path, f"it is not a `docker save` archive ({type(e).__name__})") from e
    except (tarfile.TarError, OSError) as e:
        raise BundleError(path, f"it is not a `docker save` archive, or not all of one ({type(e).__name__})") from e


@contextlib.contextmanager
def images(path: Path) -> Iterator[IO[bytes]]:
    """The `docker save` archive in the bundle, as a stream (the file itself for a plain one)."""
    with opened(path) as archive:
        if not is_course_bundle(archive):
            with open(path, "rb") as whole:
                yield whole
            return
        member = archive.extractfile(IMAGES)
        if member is None:
            raise BundleError(path, f"it holds no {IMAGES}")
        yield member


def names(path: Path) -> list[str]:
    """The image names the bundle holds (from its `docker save` manifest.json); a file that is not a
    bundle, or is cut short, is a `BundleError`."""
    with images(path) as stream:
        try:
            with tarfile.open(fileobj=stream) as archive:
                member = archive.extractfile("manifest.json")
                manifest = json.load(member) if member else None
        except (tarfile.TarError, KeyError, ValueError, OSError, EOFError) as e:
            raise BundleError(path, f"it is not a `docker save` archive, or not all of one ({type(e).__name__})") from e
    if not isinstance(manifest, list):
        raise BundleError(path, "its manifest.json is not a list of images")
    if not all(isinstance(entry, dict) for entry in manifest):
        raise BundleError(path, "its manifest.json lists something other than images")
    found = []
    for entry in manifest:
        for tag in entry.get("RepoTags") or []:
            found.append(tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest")
    return found


def _safe(member: tarfile.TarInfo, top: str) -> PurePosixPath | None:
    """The member's path under `top`, if it is a regular file that stays there; else None."""
    path = PurePosixPath(member.name)
    if not member.isfile() or path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != top:
        return None
    return PurePosixPath(*path.parts[1:]) if len(path.parts) > 1 else None


def unpack(path: Path, top: str, into: Path, replace: bool = False) -> int:
    """The bundle's files under `top` (packages, wheels) written into `into`, each a regular file that
    stays inside (links and paths that climb out are passed over); files there already are kept
    unless `replace`. How many were written."""
    written = 0
    with opened(path) as archive:
        if not is_course_bundle(archive):
            return 0
        for member in archive.getmembers():
            inside = _safe(member, top)
            if inside is None:
                continue
            target = into.joinpath(*inside.parts)
            if target.exists() and not replace:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            part = target.with_name(f".{target.name}.part")
            with open(part, "wb") as handle:
                shutil.copyfileobj(source, handle)
            os.replace(part, target)
            written += 1
    return written


def contents(path: Path) -> dict:
    """What the bundle says it holds ({} for a plain `docker save` archive)."""
    with opened(path) as archive:
        if not is_course_bundle(archive):
            return {}
        member = archive.extractfile(CONTENTS)
        try:
            said = json.load(member) if member else {}
        except ValueError as e:
            raise BundleError(path, f"its {CONTENTS} is not JSON") from e
    return said if isinstance(said, dict) else {}


def write(path: Path, images_tar: Path, packages: Path | None, wheels: Path | None, refs: list[str]) -> None:
    """The bundle at `path`, atomically: `images_tar` (a `docker save` archive), and the files of the
    package store and of the wheel folder where given."""
    partial = path.with_name(path.name + ".partial")
    held = {"images": refs, "packages": 0, "wheels": []}
    with tarfile.open(partial, "w") as archive:
        archive.add(images_tar, IMAGES)
        for top, folder in ((PACKAGES, packages), (WHEELS, wheels)):
            for file in sorted(folder.rglob("*")) if folder and folder.is_dir() else []:
                if file.is_file() and not file.is_symlink() and not file.name.startswith("."):
                    archive.add(file, f"{top}/{file.relative_to(folder).as_posix()}")
                    if top == PACKAGES:
                        held["packages"] += 1
                    else:
                        held["wheels"].append(file.name)
        data = json.dumps(held, indent=2).encode()
        info = tarfile.TarInfo(CONTENTS)
        info.size = len(data)
        archive.addfile(info, fileobj=io.BytesIO(data))
    os.replace(partial, path)


def download_wheels(into: Path) -> list[str]:
    """labkit's Python packages (what `pip install .` installs, and what building it needs) downloaded
    from PyPI for this machine's platform and Python, for a class whose machines have no PyPI."""
    from importlib.metadata import requires

    wanted = [r for r in requires("labkit") or [] if "extra ==" not in r] + ["setuptools>=77", "wheel", "pip"]
    into.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(into), *wanted],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise LabkitError(
            f"pip could not download labkit's Python packages: {done.stderr.strip()[-400:]}",
            "check that this machine reaches PyPI, or save the bundle without --wheels.",
        )
    return sorted(p.name for p in into.iterdir())


@contextlib.contextmanager
def scratch(near: Path) -> Iterator[Path]:
    """A folder for a bundle's parts, beside where it is written (a file system with room for it)."""
    folder = Path(tempfile.mkdtemp(prefix=".labkit-bundle-", dir=near.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
