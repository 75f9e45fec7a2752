"""The one module that talks to the Docker SDK.

Every call into docker-py goes through `Engine`, inside `_translated()`, which turns
docker-py's errors, `requests` connection errors and stream parse errors into labkit
errors that say what to do next (chained with ``from``).
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

import docker
import docker.errors
import requests.exceptions

from ..errors import EngineError, ImageMissing, LabkitError, StreamFailed, outside_errors

Progress = Callable[[str], None]

#: How long one API call may take before the engine counts as not answering.
DEFAULT_TIMEOUT = 120
#: The directory bit of a Go os.FileMode, as the engine reports it in an archive's stat header.
GO_MODE_DIR = 1 << 31
#: The label on everything labkit itself creates (throwaway check containers), so reset finds it.
LABEL = "labkit"


@dataclass(frozen=True)
class EngineInfo:
    host: str
    version: str
    api_version: str
    mirrors: tuple[str, ...]
    root_dir: str = ""  # DockerRootDir: where the engine keeps images and containers (on its own machine)
    store: str = "classic"  # "containerd" where images are in containerd's image store (a snapshotter driver)
    rootless: bool = False  # Docker's rootless mode: the engine runs as a user, in a namespace of its own
    desktop: bool = False  # Docker Desktop's engine (in its VM)


class Engine:
    """A connection to one Docker engine, its resources in collections as docker-py has them:
    engine.images.id(ref), engine.containers.get(name), engine.volumes.list(),
    engine.registry.push(ref) (the engine's side of a registry: push and pull)."""

    def __init__(self, host: str, timeout: int = DEFAULT_TIMEOUT) -> None:
        self.host = host
        self._memo: dict | None = None
        with self._translated():
            self._client = docker.DockerClient(base_url=host, version="auto", timeout=timeout)
        self.images = Images(self)
        self.containers = Containers(self)
        self.volumes = Volumes(self)
        self.registry = Registry(self)

    @contextlib.contextmanager
    def _translated(self, ref: str = "") -> Iterator[None]:
        """docker-py's and requests' errors as labkit errors (the table in `labkit.errors`)."""
        with outside_errors("engine", host=self.host, ref=ref):
            yield

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> EngineInfo:
        with self._translated():
            version = self._client.version()
            info = self._client.info()
        mirrors = tuple((info.get("RegistryConfig") or {}).get("Mirrors") or ())
        snapshotter = any("io.containerd.snapshotter" in str(value) for _key, value in info.get("DriverStatus") or [])
        return EngineInfo(
            self.host,
            version.get("Version", "?"),
            version.get("ApiVersion", "?"),
            mirrors,
            info.get("DockerRootDir") or "",
            "containerd" if snapshotter else "classic",
            any("rootless" in str(option) for option in info.get("SecurityOptions") or ()),
            "Docker Desktop" in str(info.get("OperatingSystem") or ""),
        )

    def ping(self) -> bool:
        try:
            with self._translated():
                return bool(self._client.ping())
        except LabkitError:
            return False

    @contextlib.contextmanager
    def consistent(self) -> Iterator[None]:
        """Inside this block each image, container, diff and history is read once: a check
        sees the engine at one moment, and asking twice costs nothing."""
        outer = self._memo is not None
        if not outer:
            self._memo = {}
        try:
            yield
        finally:
            if not outer:
                probes = [v for k, v in self._memo.items() if k[0] == "probe"]
                self._memo = None
                for probe in probes:
                    with contextlib.suppress(LabkitError):
                        self.containers.remove(probe)

    def _read(self, key: tuple, fetch: Callable[[], object]):
        if self._memo is None:
            return fetch()
        if key not in self._memo:
            self._memo[key] = fetch()
        return self._memo[key]

    def events(self, since: float, filters: dict | None = None) -> list[dict]:
        """The engine's events from `since` (epoch seconds) until now.

        `until` is now, not later: the engine holds the answer open until that moment."""

        def fetch() -> list[dict]:
            with self._translated():
                stream = self._client.api.events(  # the engine takes fractional seconds as text
                    since=f"{since:.6f}", until=f"{time.time():.6f}", filters=filters or {}, decode=True
                )
                return list(stream)

        return self._read(("events", since, repr(sorted((filters or {}).items()))), fetch)

    def watch(self) -> Iterator[dict]:
        """The engine's events as they happen, each as /events gives it (Type, Action, Actor), until
        the engine goes or another thread calls the stream's close()."""
        with self._translated():
            return self._client.api.events(decode=True)

    def bridge_gateway(self) -> str:
        """The address of this engine's default bridge, where its containers reach the machine (or a
        rootless engine's namespace); "" when it has none."""
        with self._translated():
            network = self._client.api.inspect_network("bridge")
        configs = (network.get("IPAM") or {}).get("Config") or []
        return next((c["Gateway"] for c in configs if c.get("Gateway") and ":" not in c["Gateway"]), "")


class Images:
    """The engine's images: read (memoised inside `Engine.consistent()`), tag, build, save, load, remove."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _inspect(self, ref: str) -> dict | None:
        def fetch() -> dict | None:
            try:
                with self._engine._translated(ref):
                    return self._engine._client.api.inspect_image(ref)
            except ImageMissing:
                return None

        return self._engine._read(("image", _with_tag(ref)), fetch)

    def id(self, ref: str) -> str | None:
        """The id of the image `ref` names, or None when there is none."""
        attrs = self._inspect(ref)
        return attrs["Id"] if attrs else None

    def ids(self) -> set[str]:
        """Every image's id, the unnamed ones (`docker images -a`) included."""
        with self._engine._translated():
            return set(self._engine._client.api.images(all=True, quiet=True))

    def remove_unnamed(self, ids: set[str]) -> None:
        """Remove the images of `ids` that no name holds, newest first (so a step's image goes
        before the one it was built on); one another image still needs stays."""
        attrs = [a for a in (self._inspect(i) for i in ids) if a and not a.get("RepoTags")]
        left = [a["Id"] for a in sorted(attrs, key=lambda a: a.get("Created", ""), reverse=True)]
        while left:  # again while one goes: images made within one second may come in any order
            kept = []
            for image in left:
                try:
                    self._engine._client.api.remove_image(image, noprune=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError:
                    kept.append(image)
            if len(kept) == len(left):
                return
            left = kept

    def attrs(self, ref: str) -> dict:
        attrs = self._inspect(ref)
        if attrs is None:
            raise ImageMissing(ref)
        return attrs

    def list(self, name: str | None = None) -> list[dict]:
        """Image summaries (Id, RepoTags, RepoDigests, Labels), optionally for one repository name."""

        def fetch() -> list[dict]:
            with self._engine._translated():
                return self._engine._client.api.images(name=name)

        return self._engine._read(("images", name), fetch)

    def history(self, ref: str) -> list[dict]:
        """The image's history, oldest step first (CreatedBy, Size, Id)."""

        def fetch() -> list[dict]:
            with self._engine._translated(ref):
                return list(reversed(self._engine._client.api.history(ref)))

        return self._engine._read(("history", ref), fetch)

    def remove(self, ref: str, force: bool = False) -> None:
        with self._engine._translated(ref):
            self._engine._client.api.remove_image(ref, force=force)

    def read_file(self, ref: str, path: str, limit: int = 1 << 20) -> bytes | None:
        """The bytes of a file in an image (at most `limit`, as `read_file`)."""
        with self._probe(ref) as container:
            return self._engine.containers.read_file(container, path, limit)

    def has_path(self, ref: str, path: str) -> bool:
        """Whether anything (a file, a folder, a link) is at `path` in an image."""
        with self._probe(ref) as container:
            try:
                with self._engine._translated(container):
                    stream, _stat = self._engine._client.api.get_archive(container, path)
                    stream.close()  # the answer's header says it is there: nothing to transfer
            except EngineError as e:
                if isinstance(e.__cause__, docker.errors.NotFound):
                    return False
                raise
        return True

    @contextlib.contextmanager
    def _probe(self, ref: str) -> Iterator[str]:
        """A labelled container of `ref` that is never started, to read the image's files through:
        one per image while `consistent()` lasts (removed at its end), else one per read."""
        if self._engine._memo is None:
            with self._engine.containers.scratch(ref, command=["true"]) as container:
                yield container
            return
        key = ("probe", _with_tag(ref))
        if key not in self._engine._memo:
            with self._engine._translated(ref):
                created = self._engine._client.api.create_container(ref, command=["true"], labels={LABEL: "check"})
            self._engine._memo[key] = created["Id"]
        yield self._engine._memo[key]

    def tag(self, ref: str, target: str) -> None:
        repo, tag = _split(target)
        with self._engine._translated(ref):
            self._engine._client.api.tag(ref, repo, tag)

    def untag(self, ref: str) -> None:
        """Remove the name `ref` (the image goes only when no other name holds it)."""
        with self._engine._translated(ref):
            self._engine._client.api.remove_image(ref)

    def build(self, context: Path, tag: str, progress: Progress | None = None) -> str:
        """Build `context`/Dockerfile as `tag` with the classic builder; returns the image id."""
        log: list[str] = []
        image_id = ""
        with self._engine._translated():
            stream = self._engine._client.api.build(
                path=str(context), tag=tag, rm=True, forcerm=True, pull=False, decode=True
            )
            for event in stream:
                _raise_if_failed(event, "".join(log[-30:]))
                if "stream" in event:
                    text = event["stream"]
                    log.append(text)
                    if progress and text.strip():
                        progress(text.strip())
                if "aux" in event and "ID" in event["aux"]:
                    image_id = event["aux"]["ID"]
        return image_id or self.id(tag) or ""

    def save(self, refs: list[str], path: Path) -> None:
        """Write `refs` to one image archive, as `docker save REF...` does (shared layers once)."""
        api = self._engine._client.api
        with self._engine._translated(), open(path, "wb") as out:
            # docker-py's get_image() saves one image; the engine's /images/get takes many names.
            response = api._get(api._url("/images/get"), params={"names": refs}, stream=True)
            for chunk in api._stream_raw_result(response, 2 * 1024 * 1024, False):
                out.write(chunk)

    def layer_files(self, ref: str) -> list[dict[str, int]]:
        """The files each layer of `ref` holds (path: size; a whiteout `.wh.NAME` is a path too), bottom
        layer first, read from the engine's export of the image (`docker save`) as it streams: Docker's
        older format (`<folder>/layer.tar`) or an OCI layout (`blobs/sha256/…`, gzip'd where the
        containerd store keeps layers so), each matched to manifest.json, which may come last. Only
        names and sizes are kept. An image never changes, so each is read once (by id)."""
        image_id = self.id(ref)
        if image_id is None:
            raise ImageMissing(ref)
        key = (self._engine.host, image_id)
        if key not in _LAYER_FILES:
            api = self._engine._client.api
            with self._engine._translated(ref):
                response = api._get(api._url("/images/get"), params={"names": [ref]}, stream=True)
                chunks = api._stream_raw_result(response, 1 << 20, False)
                found = _layer_listing(_Chunks(chunks))
            if len(_LAYER_FILES) >= 32:
                _LAYER_FILES.pop(next(iter(_LAYER_FILES)))
            _LAYER_FILES[key] = found
        return _LAYER_FILES[key]

    def load(self, path: Path | IO[bytes]) -> list[str]:
        """Load an image archive (a file, or a stream of one); returns the names it loaded."""
        loaded: list[str] = []
        with (
            self._engine._translated(),
            open(path, "rb") if isinstance(path, Path) else contextlib.nullcontext(path) as data,
        ):
            for event in self._engine._client.api.load_image(data):
                _raise_if_failed(event)
                text = event.get("stream", "")
                if text.startswith("Loaded image:"):
                    loaded.append(text.split(":", 1)[1].strip())
        return loaded


#: Layer listings by (engine, image id): a lesson's tracker re-checks on every engine event.
_LAYER_FILES: dict[tuple[str, str], list[dict[str, int]]] = {}


class _Chunks(io.RawIOBase):
    """An iterator of bytes as a readable stream (for tarfile's streaming mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size], self._rest = self._rest[:size], self._rest[size:]
        return size


def _layer_listing(stream: IO[bytes]) -> list[dict[str, int]]:
    """What each layer file of an exported image holds, in manifest.json's order (see Images.layer_files)."""
    listings: dict[str, dict[str, int]] = {}
    manifest: list = []
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            if not member.isfile():
                continue
            handle = outer.extractfile(member)
            if member.name == "manifest.json":
                manifest = json.load(handle)
                continue
            if member.name.endswith((".json", "/json", "VERSION", "oci-layout", "repositories")):
                continue  # a config, an index, a manifest: not a layer (nor is a blob tarfile cannot read)
            try:
                with tarfile.open(fileobj=handle, mode="r|*") as inner:
                    listings[member.name] = {i.name.removeprefix("./"): i.size for i in inner if not i.isdir()}
            except tarfile.TarError:
                continue
    layers = (manifest[0].get("Layers") if manifest and isinstance(manifest[0], dict) else None) or []
    return [listings.get(name, {}) for name in layers]


class Containers:
    """The engine's containers: read (memoised inside `Engine.consistent()`), throwaway runs, the lab's own services."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, name: str) -> dict | None:
        """A container's inspect data, or None when there is no such container."""

        def fetch() -> dict | None:
            try:
                with self._engine._translated(name):
                    return self._engine._client.api.inspect_container(name)
            except EngineError as e:
                if isinstance(e.__cause__, docker.errors.NotFound):
                    return None
                raise

        return self._engine._read(("container", name), fetch)

    def list(self, filters: dict | None = None) -> list[dict]:
        """Summaries of all containers, running or not (Id, Names, ImageID, State, Labels)."""

        def fetch() -> list[dict]:
            with self._engine._translated():
                return self._engine._client.api.containers(all=True, filters=filters or {})

        return self._engine._read(("containers", repr(sorted((filters or {}).items()))), fetch)

    def diff(self, container: str) -> list[dict]:
        """The container's filesystem changes: [{Path, Kind}], Kind 0 changed, 1 added, 2 deleted."""

        def fetch() -> list[dict]:
            with self._engine._translated(container):
                return self._engine._client.api.diff(container) or []

        return self._engine._read(("diff", container), fetch)

    def remove(self, name: str) -> None:
        with self._engine._translated(name):
            self._engine._client.api.remove_container(name, force=True, v=False)

    def read_file(self, container: str, path: str, limit: int = 1 << 20) -> bytes | None:
        """The bytes of the regular file `path` in a container (running or not); a symbolic link
        as "->target"; None for a directory or when there is nothing at `path`."""
        try:
            with self._engine._translated(container):
                stream, stat = self._engine._client.api.get_archive(container, path)
                if stat.get("mode", 0) & GO_MODE_DIR:
                    stream.close()  # a directory: do not transfer it
                    return None
                data = b"".join(stream)
        except EngineError as e:
            if isinstance(e.__cause__, docker.errors.NotFound):
                return None
            raise
        name = path.rstrip("/").rsplit("/", 1)[-1]
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive:
                if member.name.rstrip("/") != name:
                    continue
                if member.issym() or member.islnk():
                    return ("->" + member.linkname).encode()
                handle = archive.extractfile(member) if member.isfile() else None
                return handle.read(limit) if handle else None
        return None

    @contextlib.contextmanager
    def scratch(self, ref: str, command: list[str] | None = None, **options) -> Iterator[str]:
        """A labelled container made from `ref` (not started), removed afterwards whatever happens."""
        with self._engine._translated(ref):
            created = self._engine._client.api.create_container(
                ref, command=command, labels={LABEL: "check"}, **options
            )
        try:
            yield created["Id"]
        finally:
            with contextlib.suppress(LabkitError):
                self.remove(created["Id"])

    def run(
        self, ref: str, command: list[str] | None = None, timeout: float = 60, env: dict[str, str] | None = None
    ) -> tuple[int | None, str]:
        """Run `command` (or the image's own) in a throwaway container, with `env`; (exit code, output).

        The exit code is None when it did not finish within `timeout` (it is then killed)."""
        options = {"environment": env} if env else {}
        with self.scratch(ref, command=command, **options) as container:
            with self._engine._translated(ref):
                self._engine._client.api.start(container)
                try:
                    status = self._engine._client.api.wait(container, timeout=timeout)["StatusCode"]
                except requests.exceptions.ReadTimeout:
                    status = None
                output = self._engine._client.api.logs(container, stdout=True, stderr=True).decode(errors="replace")
        return status, output

    def start_published(self, ref: str, port: str) -> tuple[str, int]:
        """Start a labelled container of `ref` with `port` published on 127.0.0.1; (id, host port)."""
        with self._engine._translated(ref):
            host_config = self._engine._client.api.create_host_config(port_bindings={port: ("127.0.0.1", None)})
            created = self._engine._client.api.create_container(
                ref, labels={LABEL: "check"}, ports=[port], host_config=host_config
            )
            self._engine._client.api.start(created["Id"])
            binding = self._engine._client.api.port(created["Id"], port)
        return created["Id"], int(binding[0]["HostPort"])

    def create_service(
        self,
        name: str,
        ref: str,
        command: list[str],
        port: int,
        inside: str,
        volume: str,
        at: str,
        labels: dict[str, str],
        files: dict[str, bytes],
    ) -> None:
        """A long-running container of the lab's own (a registry): `inside` published on 127.0.0.1:`port`,
        the named `volume` at `at`, restarted with the engine until stopped, `files` ({path: content},
        mode 0600) put in before it first starts. Created, not started."""
        with self._engine._translated(ref):
            host_config = self._engine._client.api.create_host_config(
                port_bindings={inside: ("127.0.0.1", port)},
                binds={volume: {"bind": at, "mode": "rw"}},
                restart_policy={"Name": "unless-stopped"},
            )
            created = self._engine._client.api.create_container(
                ref,
                command=command[1:],
                entrypoint=command[:1],
                name=name,
                labels=labels,
                ports=[inside],
                host_config=host_config,
                volumes=[at],
            )
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w") as tar:
                for path, content in files.items():
                    member = tarfile.TarInfo(path.lstrip("/"))
                    member.size, member.mode, member.mtime = len(content), 0o600, int(time.time())
                    tar.addfile(member, io.BytesIO(content))
            self._engine._client.api.put_archive(created["Id"], "/", archive.getvalue())

    def start(self, name: str) -> None:
        with self._engine._translated(name):
            self._engine._client.api.start(name)

    def stop(self, name: str, timeout: int = 10) -> None:
        with self._engine._translated(name):
            self._engine._client.api.stop(name, timeout=timeout)

    def logs(self, container: str) -> str:
        with self._engine._translated(container):
            return self._engine._client.api.logs(container, stdout=True, stderr=True).decode(errors="replace")


class Volumes:
    """The engine's volumes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[dict]:
        with self._engine._translated():
            return self._engine._client.api.volumes().get("Volumes") or []

    def remove(self, name: str) -> None:
        with self._engine._translated(name):
            self._engine._client.api.remove_volume(name)


class Registry:
    """The engine's side of a registry: push and pull, each a stream whose failure is raised."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def push(self, ref: str, auth: dict | None = None, progress: Progress | None = None) -> str:
        """Push `ref`; returns the manifest digest. A failed push raises, even though the API says 200."""
        repo, tag = _split(ref)
        digest = ""
        with self._engine._translated(ref):
            for event in self._engine._client.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth):
                _raise_if_failed(event)
                if progress and event.get("status"):
                    progress(f"{event.get('id', '')} {event['status']}".strip())
                digest = (event.get("aux") or {}).get("Digest", digest)
        return digest

    def pull(self, ref: str, progress: Progress | None = None) -> str:
        repo, tag = _split(ref)
        with self._engine._translated(ref):
            for event in self._engine._client.api.pull(repo, tag=tag, stream=True, decode=True):
                _raise_if_failed(event)
                if progress and event.get("status"):
                    progress(f"{event.get('id', '')} {event['status']}".strip())
        return self._engine.images.id(ref) or ""


def _raise_if_failed(event: dict, log_tail: str = "") -> None:
    """A build, push, pull or load answers HTTP 200 and reports failure inside its stream."""
    if "error" in event or "errorDetail" in event:
        detail = (event.get("errorDetail") or {}).get("message") or event.get("error", "")
        raise StreamFailed(detail, log_tail)


def _with_tag(ref: str) -> str:
    """`nginx` → `nginx:latest` (ids and digests unchanged): one cache key per image name."""
    if ref.startswith("sha256:") or "@" in ref or ":" in ref.rsplit("/", 1)[-1]:
        return ref
    return f"{ref}:latest"


def _split(ref: str) -> tuple[str, str]:
    """`repo:tag` → (repo, tag); a port in the registry part is not a tag."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag
