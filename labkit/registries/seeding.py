"""The mirror's content: the course's base images under ``library/…``.

Seeding takes each missing image from the first source that has it: the cached
bundle of an earlier build; Docker Hub, when reachable; a build from Debian packages.
A bundle is a plain `docker save` archive of the base images, so an instructor can
make one on a connected machine (`labkit mirror save FILE`, or `docker save busybox
debian:bookworm-slim nginx -o FILE`) and load it in a classroom (`labkit mirror load FILE`).

Base images pass through the engine under their usual names (``nginx:latest``) only
for a moment: whatever those names pointed to before is put back afterwards.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import requests

from ..engines import Engine
from ..errors import BundleError, ImageMissing, LabImagesMissing, LabkitError
from ..home import LabPaths
from ..machine import Watcher
from . import base_images, bundles
from ._http import RegistryClient
from .names import repo_tag

#: The course's base images, by the names learners type.
BASE_IMAGES = ("busybox:latest", "debian:bookworm-slim", "nginx:latest")
#: Images the lab itself runs: Docker Distribution, for the registries on a learner's own engine.
#: The mirror holds it too, so a bundle carries it (on labkit's own engine it is built from Debian's docker-registry).
LAB_IMAGES = ("registry:2",)
HUB_PROBE_URL = "https://registry-1.docker.io/v2/"


def mirror_ref(address: str, ref: str) -> str:
    repo, tag = repo_tag(ref)
    return f"{address}/{repo}:{tag}"


def present(mirror: RegistryClient, refs: tuple[str, ...] = BASE_IMAGES) -> dict[str, str]:
    """The base images (or `refs`) the mirror holds, with their manifest digests."""
    found = {}
    for ref in refs:
        digest = mirror.manifest_digest(*repo_tag(ref))
        if digest:
            found[ref] = digest
    return found


def base_layers(mirror: RegistryClient) -> dict[str, str]:
    """The layer blobs of the base images the mirror holds, each once: {digest: repository}.
    A multi-platform image (seeded from Docker Hub) gives this machine's platform's layers."""
    layers: dict[str, str] = {}
    for ref in BASE_IMAGES:
        repo, tag = repo_tag(ref)
        for layer in (mirror.platform_manifest(repo, tag) or {}).get("layers", []):
            layers.setdefault(layer["digest"], repo)
    return layers


def bundle_path(paths: LabPaths) -> Path:
    return paths.cache / "base-images.tar"


def seed(
    engine: Engine, mirror: RegistryClient, paths: LabPaths, watcher: Watcher, own_engine: bool = False
) -> dict[str, str]:
    """Put every missing base image (and the lab's registry image) into the mirror; returns {ref: where it came from}.
    On the learner's own engine (`own_engine`) images it already holds by those names come first, and nothing is
    built unless labkit runs as root (debootstrap needs it): what no source has is `LabImagesMissing`."""
    wanted = BASE_IMAGES + LAB_IMAGES
    missing = [ref for ref in wanted if ref not in present(mirror, wanted)]
    if not missing:
        return {}
    sources: dict[str, str] = {}
    with no_images_left(engine), borrowed_names(engine, wanted):
        if own_engine:
            sources.update({ref: "your engine" for ref in missing if engine.images.id(ref)})
        cached = bundle_path(paths)
        todo = [ref for ref in missing if ref not in sources]
        if todo and cached.exists():
            with watcher.step(f"Loading base images from the cache {cached}") as update:
                update("docker load")
                held = _held(cached, todo)
                _load_bundle(engine, cached, held)
                sources.update({ref: "cache" for ref in held})
        todo = [ref for ref in missing if ref not in sources]
        if todo and hub_reachable():
            for ref in todo:
                _from_hub(engine, ref, watcher)
                sources[ref] = "Docker Hub"
        todo = [ref for ref in missing if ref not in sources]
        if todo and own_engine and os.geteuid() != 0:  # debootstrap needs root
            raise LabImagesMissing(todo, "in the lab's mirror")
        if todo:
            _build_from_debian(engine, paths, todo, watcher)
            sources.update({ref: "built from Debian packages" for ref in todo})
        for ref in missing:
            with watcher.step(f"Putting {ref} into the mirror") as update:
                _push(engine, mirror.address, ref, update)
        if any(source != "cache" for source in sources.values()):
            with watcher.step(f"Caching the base images in {cached}"):
                _save(engine, list(wanted), cached, mirror.address, local=missing)
    return sources


def lab_image(engine: Engine, paths: LabPaths, watcher: Watcher, ref: str) -> None:
    """One of the lab's own images (`LAB_IMAGES`) in the engine under its name, to stay: already there;
    else from the cached bundle, Docker Hub, or (as root) built from Debian packages."""
    if engine.images.id(ref):
        return
    cached = bundle_path(paths)
    with no_images_left(engine), borrowed_names(engine, BASE_IMAGES):
        if cached.exists() and _held(cached, [ref]):
            with watcher.step(f"Loading {ref} from the cache {cached}"):
                _load_bundle(engine, cached, [ref])
        elif hub_reachable():
            _from_hub(engine, ref, watcher)
        elif os.geteuid() == 0:
            _build_from_debian(engine, paths, [ref], watcher)
        else:
            raise LabImagesMissing([ref], "to run the course registry and the mirror on your engine")


def _from_hub(engine: Engine, ref: str, watcher: Watcher) -> None:
    """Pull `ref` from Docker Hub under its usual name (`docker.io/library/…` is the same name)."""
    with watcher.step(f"Pulling {ref} from Docker Hub") as update:
        engine.registry.pull(f"docker.io/library/{ref}", update)
        engine.images.tag(f"docker.io/library/{ref}", ref)


def _build_from_debian(engine: Engine, paths: LabPaths, todo: list[str], watcher: Watcher) -> None:
    if "busybox:latest" in todo:
        with watcher.step("Building busybox from Debian's busybox-static") as update:
            base_images.build_busybox(engine, "busybox:latest", update)
    need_debian = any(ref in todo for ref in ("debian:bookworm-slim", "nginx:latest", "registry:2"))
    if need_debian and ("debian:bookworm-slim" in todo or engine.images.id("debian:bookworm-slim") is None):
        with watcher.step("Building debian:bookworm-slim with debootstrap (about a minute)") as update:
            base_images.build_debian(engine, "debian:bookworm-slim", paths.cache, update)
    if "nginx:latest" in todo:
        with watcher.step("Building nginx from Debian's nginx package") as update:
            base_images.build_nginx(engine, "nginx:latest", "debian:bookworm-slim", update)
    if "registry:2" in todo:
        with watcher.step("Building registry:2 from this machine's docker-registry") as update:
            base_images.build_registry(engine, "registry:2", "debian:bookworm-slim", update)


def _push(engine: Engine, address: str, ref: str, update) -> None:
    target = mirror_ref(address, ref)
    engine.images.tag(ref, target)
    try:
        engine.registry.push(target, progress=update)
    finally:
        engine.images.untag(target)


def hub_reachable() -> bool:
    """Docker Hub answers (any HTTP status) within a few seconds; LABKIT_OFFLINE=1 skips the probe."""
    if os.environ.get("LABKIT_OFFLINE") == "1":
        return False
    try:
        requests.get(HUB_PROBE_URL, timeout=3)
    except requests.exceptions.RequestException:
        return False
    return True


@contextlib.contextmanager
def no_images_left(engine: Engine) -> Iterator[None]:
    """Images made inside and named by nothing at the end are removed: building the base images
    with the classic builder makes an image per step, which the containerd store lists as
    `<none>` images in the learner's `docker images`."""
    before = engine.images.ids()
    try:
        yield
    finally:
        engine.images.remove_unnamed(engine.images.ids() - before)


@contextlib.contextmanager
def borrowed_names(engine: Engine, refs: tuple[str, ...] | list[str]) -> Iterator[None]:
    """Use `refs` freely inside; afterwards each names what it named before, or nothing."""
    before = {ref: engine.images.id(ref) for ref in refs}
    try:
        yield
    finally:
        for ref, image_id in before.items():
            now = engine.images.id(ref)
            if now == image_id:
                continue
            if image_id:
                engine.images.tag(image_id, ref)
            else:
                with contextlib.suppress(ImageMissing):
                    engine.images.untag(ref)


# --- bundles ---------------------------------------------------------------------------


def _canonical(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _held(path: Path, wanted: list[str] | tuple[str, ...]) -> list[str]:
    """The wanted base images a bundle holds (read from its manifest)."""
    names = {_canonical(n) for n in bundles.names(path)}
    return [ref for ref in wanted if ref in names]


def _load_bundle(engine: Engine, path: Path, held: list[str]) -> None:
    """Load a bundle that holds `held` (names already borrowed by the caller)."""
    if not held:
        return
    try:
        with bundles.images(path) as stream:
            loaded = engine.images.load(stream)
    except LabkitError as e:
        raise BundleError(path, f"the engine could not load it: {e.message}") from e
    for name in loaded:
        if _canonical(name) != name:
            engine.images.tag(name, _canonical(name))


def load(engine: Engine, mirror: RegistryClient | None, path: Path, watcher: Watcher, keep: bool = False) -> list[str]:
    """`labkit mirror load FILE`: the base images (and the lab's registry image) of a bundle into the
    mirror, when it is up. `keep`: they stay in the engine under their names too (the learner's own
    engine, which may not pull from the mirror: its pull exercises find them there)."""
    held = _held(path, BASE_IMAGES + LAB_IMAGES)
    if not any(ref in BASE_IMAGES for ref in held):
        raise BundleError(path, f"it holds none of {', '.join(BASE_IMAGES)}")
    with contextlib.ExitStack() as names:
        if not keep:
            names.enter_context(borrowed_names(engine, BASE_IMAGES + LAB_IMAGES))
        with watcher.step(f"Loading {path}") as update:
            update("docker load")
            _load_bundle(engine, path, held)
        for ref in held if mirror is not None else []:
            with watcher.step(f"Putting {ref} into the mirror") as update:
                _push(engine, mirror.address, ref, update)
    return held


def save(
    engine: Engine,
    mirror: RegistryClient,
    path: Path,
    watcher: Watcher,
    packages: Path | None = None,
    wheels: bool = False,
) -> list[str]:
    """`labkit mirror save FILE`: the mirror's base images (and the lab's registry image), the lab's Debian
    package store and, with `wheels`, labkit's Python packages, as one bundle (`registries.bundles`)."""
    held = list(present(mirror, BASE_IMAGES + LAB_IMAGES))
    if not any(ref in BASE_IMAGES for ref in held):
        raise LabkitError(f"The mirror at {mirror.address} holds no base images yet.", "run `labkit up` first.")
    with bundles.scratch(path) as parts:
        with borrowed_names(engine, BASE_IMAGES + LAB_IMAGES), watcher.step("Saving the base images"):
            _save(engine, held, parts / bundles.IMAGES, mirror.address, local=[])
        if wheels:
            with watcher.step("Downloading labkit's Python packages from PyPI"):
                bundles.download_wheels(parts / bundles.WHEELS)
        with watcher.step(f"Writing {path}"):
            bundles.write(path, parts / bundles.IMAGES, packages, parts / bundles.WHEELS if wheels else None, held)
    return held


def _save(engine: Engine, refs: list[str], path: Path, address: str, local: list[str]) -> None:
    """Save `refs` (names borrowed by the caller) to `path`, atomically.

    Those in `local` are already in the engine under their names; the others come
    from the mirror, since a name of the engine's may hold a learner's own image."""
    for ref in refs:
        if ref in local:
            continue
        source = mirror_ref(address, ref)
        engine.registry.pull(source)
        engine.images.tag(source, ref)
        engine.images.untag(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    engine.images.save(refs, partial)
    os.replace(partial, path)
