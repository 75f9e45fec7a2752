"""An in-memory stand-in for `labkit.engines.Engine`, for testing checks without Docker.

`FakeEngine` has exactly the Engine methods the checks call, in the same collections
(`engine.images.id`, `engine.containers.get`, ...). Its state is plain dicts, shaped like what
the engine's API returns:

    images     {ref: {"Id", "RootFS": {"Layers": [...]}, "Config": {...}, "RepoDigests": [...]}}
               (one dict under several refs is one image with several names)
    containers {name: {"Id", "Name": "/name", "Image": image id, "State": {...}, "Created": iso}}
    diffs      {container name or id: [{"Path", "Kind"}]}   Kind 0 changed, 1 added, 2 deleted
    files      {(container name or id, or image ref or id, path): bytes}
    history    {ref: [{"CreatedBy": ...}]}, oldest step first (as Engine.history returns it)
    events     [{"Type", "Action", "id", "Actor": {"Attributes": {...}}, "time", "timeNano"}]
    runs       {ref or (ref, (command, ...)): (exit code, output)}

A container's files are its own (`files`) over its image's, minus what its diff deletes,
as on a real engine. What the checks did is kept for the tests to look at: the throwaway
containers made and removed, the commands run, the `since` of each events read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import tarfile
from pathlib import Path
from typing import Iterator

from labkit.course import LabContext
from labkit.engines import LABEL, EngineInfo
from labkit.errors import EngineError, ImageMissing, LabkitError
from labkit.home import EngineState, LabPaths, RegistryState, State


def sid(name: str) -> str:
    """A realistic image or container id made from a word: sha256:<64 hex>."""
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def image(name: str, layers: list[str], repo_digests: tuple[str, ...] = (), **config) -> dict:
    """Image inspect data: id made from `name`, these layer digests, Config fields as keywords."""
    return {
        "Id": sid(name),
        "RootFS": {"Type": "layers", "Layers": list(layers)},
        "Config": dict(config),
        "RepoDigests": list(repo_digests),
    }


def box(
    name: str,
    image_id: str,
    status: str = "exited",
    exit_code: int = 0,
    created: str = "2024-05-01T10:00:00Z",
    labels: dict | None = None,
) -> dict:
    """Container inspect data; `status` is "running", "exited" or "created"."""
    return {
        "Id": hashlib.sha256(f"container {name}".encode()).hexdigest(),
        "Name": f"/{name}",
        "Image": image_id,
        "State": {"Status": status, "Running": status == "running", "ExitCode": exit_code},
        "Created": created,
        "Config": {"Labels": dict(labels or {})},
    }


def event(kind: str, action: str, at: float, id: str = "", **attributes) -> dict:
    """One entry of the engine's event log, `at` epoch seconds."""
    return {
        "Type": kind,
        "Action": action,
        "status": action,
        "id": id,
        "Actor": {"ID": id, "Attributes": dict(attributes)},
        "time": int(at),
        "timeNano": int(at * 1e9),
    }


def _full(ref: str) -> str:
    """`nginx` → `nginx:latest`; ids and digests unchanged (the engine's own rule)."""
    if ref.startswith("sha256:") or "@" in ref or ":" in ref.rsplit("/", 1)[-1]:
        return ref
    return f"{ref}:latest"


class FakeEngine:
    """The engine, in memory. `fail_with(error)` makes every call raise `error` (an engine that is down)."""

    host = "fake://"

    def __init__(
        self,
        images: dict | None = None,
        containers: dict | None = None,
        diffs: dict | None = None,
        files: dict | None = None,
        history: dict | None = None,
        events: list | None = None,
        runs: dict | None = None,
    ) -> None:
        self._images = {_full(ref): attrs for ref, attrs in (images or {}).items()}
        self._boxes = {name: {"Name": f"/{name}", **attrs} for name, attrs in (containers or {}).items()}
        self._diffs = dict(diffs or {})
        self._files = dict(files or {})
        self._history = {_full(ref): steps for ref, steps in (history or {}).items()}
        self._events = list(events or [])
        self._runs = {
            (_full(k[0]), tuple(k[1])) if isinstance(k, tuple) else _full(k): v for k, v in (runs or {}).items()
        }
        self._scratch: dict[str, str] = {}  # live throwaway container id -> image id
        self._ids = itertools.count(1)
        self.broken: LabkitError | None = None
        # What the checks did:
        self.scratch_made: list[str] = []
        self.scratch_removed: list[str] = []
        self.removed: list[str] = []
        self.untagged: list[str] = []
        self.ran: list[tuple[str, list[str] | None]] = []
        self.events_since: list[float] = []
        self.consistent_blocks = 0
        self.closed = False
        self.images = _Collection(self, IMAGES)
        self.containers = _Collection(self, CONTAINERS)

    def fail_with(self, error: LabkitError) -> None:
        self.broken = error

    def _up(self) -> None:
        if self.broken is not None:
            raise self.broken

    # --- lookups ---------------------------------------------------------------------
    def _image(self, ref: str) -> dict | None:
        if _full(ref) in self._images:
            return self._images[_full(ref)]
        bare = ref.removeprefix("sha256:")
        for attrs in self._images.values():
            if attrs["Id"] == ref or (len(bare) >= 12 and attrs["Id"].removeprefix("sha256:").startswith(bare)):
                return attrs
        return None

    def _box_name(self, ref: str) -> str | None:
        name = ref.lstrip("/")
        if name in self._boxes:
            return name
        for key, attrs in self._boxes.items():
            if attrs["Id"] == ref or (len(ref) >= 12 and attrs["Id"].startswith(ref)):
                return key
        return None

    def _image_files(self, image_id: str, path: str) -> bytes | None:
        for (where, file_path), data in self._files.items():
            if file_path == path and (found := self._image(where)) is not None and found["Id"] == image_id:
                return data
        return None

    # --- images ----------------------------------------------------------------------
    def image_id(self, ref: str) -> str | None:
        self._up()
        attrs = self._image(ref)
        return attrs["Id"] if attrs else None

    def image_attrs(self, ref: str) -> dict:
        self._up()
        attrs = self._image(ref)
        if attrs is None:
            raise ImageMissing(ref)
        return attrs

    def list_images(self, name: str | None = None) -> list[dict]:
        self._up()
        summaries: dict[str, dict] = {}
        for ref, attrs in self._images.items():
            if name is not None and ref.rpartition(":")[0] != name:
                continue
            entry = summaries.setdefault(
                attrs["Id"],
                {
                    "Id": attrs["Id"],
                    "RepoTags": [],
                    "RepoDigests": list(attrs.get("RepoDigests") or []),
                    "Labels": (attrs.get("Config") or {}).get("Labels"),
                },
            )
            entry["RepoTags"].append(ref)
        return list(summaries.values())

    def history(self, ref: str) -> list[dict]:
        self._up()
        attrs = self._image(ref)
        if attrs is None:
            raise ImageMissing(ref)
        for key, steps in self._history.items():
            found = self._image(key)
            if found is not None and found["Id"] == attrs["Id"]:
                return list(steps)
        return []

    def untag(self, ref: str) -> None:
        self._up()
        if _full(ref) not in self._images:
            raise ImageMissing(ref)
        del self._images[_full(ref)]
        self.untagged.append(ref)

    # --- containers ------------------------------------------------------------------
    def container(self, name: str) -> dict | None:
        self._up()
        key = self._box_name(name)
        return self._boxes[key] if key is not None else None

    def list_containers(self, filters: dict | None = None) -> list[dict]:
        self._up()
        wanted = dict(filters or {})
        labels = wanted.pop("label", [])
        if wanted:
            raise NotImplementedError(f"FakeEngine.containers.list filters {sorted(wanted)}")
        out = []
        for attrs in self._boxes.values():
            own = (attrs.get("Config") or {}).get("Labels") or {}
            if any(label.partition("=")[0] not in own for label in ([labels] if isinstance(labels, str) else labels)):
                continue
            state = attrs.get("State") or {}
            out.append(
                {
                    "Id": attrs["Id"],
                    "Names": [attrs["Name"]],
                    "ImageID": attrs["Image"],
                    "Labels": dict(own),
                    "State": state.get("Status", "exited"),
                    "Created": attrs.get("Created", ""),
                }
            )
        return out

    def diff(self, container: str) -> list[dict]:
        self._up()
        key = self._box_name(container)
        if key is None:
            raise EngineError(f"The Docker engine at {self.host} refused: No such container: {container}")
        found = self._diffs.get(key, self._diffs.get(self._boxes[key]["Id"], []))
        return list(found)

    def read_file(self, container: str, path: str, limit: int = 1 << 20) -> bytes | None:
        self._up()
        if container in self._scratch:
            return self._image_files(self._scratch[container], path)
        key = self._box_name(container)
        if key is None:
            return None
        attrs = self._boxes[key]
        for where in (key, attrs["Id"]):
            if (where, path) in self._files:
                return self._files[(where, path)][:limit]
        if any(c["Path"] == path and c["Kind"] == 2 for c in self.diff(key)):
            return None
        return self._image_files(attrs["Image"], path)

    @contextlib.contextmanager
    def scratch_container(self, ref: str, command: list[str] | None = None, **options) -> Iterator[str]:
        self._up()
        attrs = self._image(ref)
        if attrs is None:
            raise ImageMissing(ref)
        made = f"scratch-{next(self._ids)}"
        self._scratch[made] = attrs["Id"]
        self.scratch_made.append(made)
        try:
            yield made
        finally:
            del self._scratch[made]
            self.scratch_removed.append(made)

    @property
    def live_scratch(self) -> list[str]:
        """Throwaway containers made and not yet removed."""
        return list(self._scratch)

    def image_has_path(self, ref: str, path: str) -> bool:
        """A file of the image's is at `path`, or under it (a folder)."""
        with self.scratch_container(ref, command=["true"]) as probe:
            image_id = self._scratch[probe]
            return any(
                (file_path == path or file_path.startswith(path.rstrip("/") + "/"))
                and (found := self._image(where)) is not None
                and found["Id"] == image_id
                for where, file_path in self._files
            )

    def read_image_file(self, ref: str, path: str, limit: int = 1 << 20) -> bytes | None:
        with self.scratch_container(ref, command=["true"]) as probe:
            data = self.read_file(probe, path)
            return None if data is None else data[:limit]

    def run(self, ref: str, command: list[str] | None = None, timeout: float = 60) -> tuple[int | None, str]:
        with self.scratch_container(ref, command=command):
            self.ran.append((ref, command))
            for key in ((_full(ref), tuple(command)) if command else None, _full(ref)):
                if key in self._runs:
                    return self._runs[key]
        raise LookupError(f"FakeEngine.containers.run: no outcome given for {ref} {command or ''}")

    def start_published(self, ref: str, port: str) -> tuple[str, int]:
        raise NotImplementedError("FakeEngine serves no HTTP")

    def remove_container(self, name: str) -> None:
        self._up()
        key = self._box_name(name)
        if key is None:
            raise EngineError(f"The Docker engine at {self.host} refused: No such container: {name}")
        del self._boxes[key]
        self.removed.append(key)

    # --- the event log ---------------------------------------------------------------
    def events(self, since: float, filters: dict | None = None) -> list[dict]:
        self._up()
        self.events_since.append(since)
        wanted = dict(filters or {})
        kinds, actions = wanted.pop("type", None), wanted.pop("event", None)
        if wanted:
            raise NotImplementedError(f"FakeEngine.events filters {sorted(wanted)}")

        def matches(value, allowed) -> bool:
            return allowed is None or value in ([allowed] if isinstance(allowed, str) else allowed)

        return [
            e
            for e in self._events
            if e.get("timeNano", e.get("time", 0) * 1e9) / 1e9 >= since
            and matches(e.get("Type"), kinds)
            and matches(e.get("Action"), actions)
        ]

    # --- the engine itself -----------------------------------------------------------
    def info(self) -> EngineInfo:
        self._up()
        return EngineInfo(self.host, "0.0-fake", "1.41", ())  # no DockerRootDir: storage not on this machine

    @contextlib.contextmanager
    def consistent(self) -> Iterator[None]:
        self.consistent_blocks += 1
        yield

    def close(self) -> None:
        self.closed = True


#: Engine's collections' methods (engines/_sdk.py), each as the FakeEngine method that plays it.
IMAGES = {
    "id": "image_id",
    "attrs": "image_attrs",
    "list": "list_images",
    "history": "history",
    "untag": "untag",
    "has_path": "image_has_path",
    "read_file": "read_image_file",
}
CONTAINERS = {
    "get": "container",
    "list": "list_containers",
    "diff": "diff",
    "read_file": "read_file",
    "scratch": "scratch_container",
    "run": "run",
    "start_published": "start_published",
    "remove": "remove_container",
}


class _Collection:
    """`engine.images` / `engine.containers` of a FakeEngine: its own methods under Engine's names."""

    def __init__(self, engine: FakeEngine, names: dict[str, str]) -> None:
        self._engine, self._names = engine, names

    def __getattr__(self, name: str):
        if name not in self._names:
            raise AttributeError(f"FakeEngine has no {name} here (Engine has it, the fake does not)")
        return getattr(self._engine, self._names[name])


class FakeRegistry:
    """The course registry's client, as the checks use it: manifest digests and the layers (diff ids)
    of a manifest, by (repo, tag or digest), or one error."""

    def __init__(
        self,
        digests: dict[tuple[str, str], str] | None = None,
        error: LabkitError | None = None,
        layers: dict[tuple[str, str], list[str]] | None = None,
        manifests: dict[tuple[str, str], dict] | None = None,
        blobs: dict[str, bytes] | None = None,
    ) -> None:
        self.digests = dict(digests or {})
        self.error = error
        self.layers = dict(layers or {})
        self.manifests = dict(manifests or {})  # (repo, tag or digest): a manifest or an index, as JSON
        self.blobs = dict(blobs or {})

    def manifest(self, repo: str, reference: str) -> dict | None:
        if self.error is not None:
            raise self.error
        return self.manifests.get((repo, reference))

    def blob(self, repo: str, digest: str) -> bytes:
        return self.blobs[digest]

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        if self.error is not None:
            raise self.error
        return self.digests.get((repo, tag))

    def diff_ids(self, repo: str, reference: str) -> list[str] | None:
        if self.error is not None:
            raise self.error
        found = self.layers.get((repo, reference))
        return list(found) if found is not None else None

    def close(self) -> None:
        pass


def fake_context(engine: FakeEngine, tmp_path: Path, registry: FakeRegistry | None = None) -> LabContext:
    """A LabContext on `engine`: lab home and cache, workspace and docker config all under `tmp_path`."""
    paths = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    state = State(engine=EngineState(host="fake://", managed=True), registry=RegistryState(port=5000))
    workspace = tmp_path / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    ctx = LabContext(paths, state, workspace, docker_config=tmp_path / "docker-config", _engine=engine)
    if registry is not None:
        ctx._clients["registry"] = registry
    return ctx


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """A tar holding `files` (path: content), as bytes: a layer, or an image export."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


__all__ = ["LABEL", "FakeEngine", "FakeRegistry", "box", "event", "fake_context", "image", "sid", "tar_bytes"]
