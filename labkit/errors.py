"""Errors of labkit, every one of them: each says what went wrong and what to do next.

    LabkitError
    ├── EngineError               the Docker engine could not do what was asked
    │   ├── EngineUnreachable     an engine was named or expected and does not answer
    │   ├── EngineStartFailed     the managed dockerd exited or never answered
    │   ├── EngineFetchFailed     today's engine could not be fetched from Debian's archive
    │   ├── ImageMissing          an image that must be there is not
    │   └── StreamFailed          a build, push, pull or load reported an error
    ├── RegistryError             a registry answered with an error status
    │   ├── RegistryUnreachable   a registry does not answer HTTP
    │   ├── RegistryStartFailed   Docker Distribution exited or never answered
    │   └── CredentialsRefused    the registry refused the lab's account
    ├── BuildError                a base image could not be built
    │   └── DebootstrapFailed     debootstrap could not fetch or unpack Debian
    ├── BundleError               a file is not a usable image bundle
    ├── MissingProgram            a system program the lab needs is not installed
    ├── SandboxUnavailable        this machine cannot make grading sandboxes (what it lacks, how to get it)
    ├── SandboxFailed             a grading sandbox could not be made
    ├── StateError                the lab's state file is unreadable
    │   └── LabNotUp              the lab has not been started
    ├── UnknownExercise           no exercise has that id (close matches listed; `labkit check` exits 3)
    ├── UnknownLesson             no lesson has that name
    ├── PictureError              a layer picture cannot be drawn
    ├── ProgressError             the progress store cannot be used
    └── ReleaseError              a notebook cannot be released, or no course notebook has that name

Errors from outside (docker-py, requests) become these at one boundary, `outside_errors`,
through one table, `OUTSIDE`: what the table does not name is raised as it is. The table
names the outside classes by module and name, so importing labkit imports no Docker SDK.

The command line prints ``str(error)`` (message, then the next step) and exits 1.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator


class LabkitError(Exception):
    """Root of every labkit error: a message and the next step to take."""

    def __init__(self, message: str, next_step: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step

    def __str__(self) -> str:
        if self.next_step:
            return f"{self.message}\n  Next: {self.next_step}"
        return self.message


class EngineError(LabkitError):
    """Something is wrong with the Docker engine."""


class EngineUnreachable(EngineError):
    def __init__(self, host: str, reason: str, next_step: str = "") -> None:
        self.host = host
        self.reason = reason
        super().__init__(
            f"The Docker engine is not reachable at {host}: {reason}",
            next_step or "start it, or run `labkit up` to let labkit start its own engine.",
        )


def _tail_text(log_tail: str) -> str:
    if not log_tail.strip():
        return ""
    lines = "\n".join("    " + line for line in log_tail.rstrip().splitlines())
    return f"\n  Last lines of the log:\n{lines}"


class NoEngine(EngineError):
    """No engine the user may use answers, and labkit may not start one (not root)."""

    def __init__(self, tried: list[tuple[str, str]], docker_host: str = "") -> None:
        self.tried = tried
        listed = "\n".join(f"  - {host}: {reason}" for host, reason in tried)
        where = f"DOCKER_HOST is {docker_host}" if docker_host else "DOCKER_HOST is not set"
        if any("ermission denied" in reason for _host, reason in tried):
            step = (
                "your user may not use that engine: join the `docker` group (`sudo usermod -aG docker $USER`, "
                "then log in again), or run Docker as yourself (rootless: `dockerd-rootless-setuptool.sh install`), "
                "then `labkit up` again."
            )
        else:
            step = (
                "start Docker (Docker Desktop; Docker CE: `sudo systemctl start docker`; rootless: "
                "`systemctl --user start docker`) or point DOCKER_HOST at it, then `labkit up` again. "
                "labkit starts an engine of its own only as root (dockerd needs root for its networks and mounts): "
                "`sudo make lab`."
            )
        super().__init__(f"No Docker engine you may use is reachable ({where}). Tried:\n{listed}", step)


class EngineStartFailed(EngineError):
    def __init__(self, reason: str, log_path: Path | None, log_tail: str = "", next_step: str = "") -> None:
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        where = f" (log: {log_path})" if log_path else ""
        super().__init__(
            f"The lab's Docker engine (dockerd) did not start: {reason}{where}{_tail_text(log_tail)}",
            next_step or "read the log above; dockerd needs root, and `labkit down` clears a half-started lab.",
        )


class EngineFetchFailed(EngineError):
    def __init__(self, archive: str, reason: str) -> None:
        self.archive = archive
        self.reason = reason
        super().__init__(
            f"Docker Engine 28 or newer could not be fetched from Debian's archive {archive}: {reason}.",
            "check that this machine reaches that archive (or name another with LABKIT_DEBIAN_MIRROR), "
            "then run `labkit up` again.",
        )


class RegistryError(LabkitError):
    """Something is wrong with the course registry or the mirror."""


class RegistryUnreachable(RegistryError):
    def __init__(self, url: str, reason: str, next_step: str = "") -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"The registry at {url} is not reachable: {reason}",
            next_step or "run `labkit up` to (re)start the lab's registries.",
        )


class RegistryStartFailed(RegistryError):
    def __init__(self, name: str, reason: str, log_path: Path | None, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        where = f" (log: {log_path})" if log_path else ""
        super().__init__(
            f"The {name} (Docker Distribution) did not start: {reason}{where}{_tail_text(log_tail)}",
            "read the log above, then run `labkit up` again; `labkit down` clears a half-started lab.",
        )


class BuildError(LabkitError):
    """A base image could not be built from Debian packages."""

    def __init__(self, image: str, reason: str, next_step: str = "", log_tail: str = "") -> None:
        self.image = image
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(
            f"Building the base image {image} failed: {reason}{_tail_text(log_tail)}",
            next_step
            or "check that this machine and its containers reach a Debian package mirror, "
            "or load an image bundle with `labkit mirror load FILE`.",
        )


class DebootstrapFailed(BuildError):
    def __init__(self, mirror: str, reason: str, log_path: Path | None, log_tail: str = "") -> None:
        self.mirror = mirror
        self.log_path = log_path
        where = f" (full log: {log_path})" if log_path else ""
        super().__init__(
            "debian:bookworm-slim",
            f"debootstrap could not install Debian from the package source {mirror}: {reason}{where}",
            f"check that {mirror} is reachable from this machine, or choose another Debian mirror "
            "with LABKIT_DEBIAN_MIRROR=http://…/debian, or load an image bundle with `labkit mirror load FILE`.",
            log_tail,
        )


class MissingProgram(LabkitError):
    def __init__(self, program: str, package: str, purpose: str) -> None:
        self.program = program
        self.package = package
        super().__init__(
            f"`{program}` is not installed; the lab needs it {purpose}.",
            f"install it (on Debian/Ubuntu: `apt-get install {package}`), or run `make lab`, which installs it.",
        )


class SandboxUnavailable(LabkitError):
    """This machine cannot make a grading sandbox: what it lacks, and how to get each."""

    def __init__(self, lacks: list[tuple[str, str]]) -> None:
        self.lacks = lacks
        listed = "\n".join(f"  - {what}: {how}" for what, how in lacks)
        super().__init__(
            f"Submissions cannot be graded in sandboxes here; this machine lacks:\n{listed}",
            "get what is listed (`make test` installs the packages), or grade with --no-sandbox: then each "
            "submission runs as root on this machine, and the report says so on every row.",
        )


class SandboxFailed(LabkitError):
    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(
            f"A grading sandbox could not be made ({step}): {reason}",
            "run `labkit grade` again (it cleans what a failed sandbox left); if it fails the same way, "
            "grade with --no-sandbox and report this message.",
        )


class StateError(LabkitError):
    """The lab's state is missing or unreadable."""


class LabNotUp(StateError):
    def __init__(self) -> None:
        super().__init__(
            "The lab is not up.", "run `labkit up` in a terminal (or `make lab`), then run this cell again."
        )


class ImageMissing(EngineError):
    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(f"There is no image {ref} in the lab's engine.", f"pull or build {ref} first.")


class StreamFailed(EngineError):
    """The engine reported an error inside a streamed answer (build, push, pull, load)."""

    def __init__(self, detail: str, log_tail: str) -> None:
        self.detail = detail
        self.log_tail = log_tail
        super().__init__(f"The Docker engine reported: {detail.strip()}")


class CredentialsRefused(RegistryError):
    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"The registry at {url} refused the lab's credentials.",
            "run `labkit up` again: it rewrites the registry's account from the password file.",
        )


class BundleError(LabkitError):
    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(
            f"{path} is not a usable image bundle: {reason}",
            "make one with `labkit mirror save FILE` on a lab that is up, or with "
            "`docker save busybox debian:bookworm-slim nginx -o FILE`.",
        )


class LabImagesMissing(LabkitError):
    """The learner's engine lacks images the lab needs, and Docker Hub cannot be reached."""

    def __init__(self, refs: list[str], purpose: str) -> None:
        self.refs = refs
        super().__init__(
            f"The lab needs {', '.join(refs)} {purpose}, your engine does not have "
            f"{'it' if len(refs) == 1 else 'them'}, and Docker Hub cannot be reached.",
            "load the course's bundle with `labkit mirror load FILE` (an instructor makes one with "
            "`labkit mirror save FILE` on a lab that is up), then `labkit up` again; or connect to the internet.",
        )


class UnknownExercise(LabkitError):
    def __init__(self, exercise: object, matches: list[str]) -> None:
        self.exercise = exercise
        self.matches = matches
        close = f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        super().__init__(
            f"There is no exercise {exercise!r}.{close}",
            "use an id from the exercise's check cell; `labkit progress` lists them all.",
        )


class UnknownLesson(LabkitError):
    def __init__(self, lesson: str, known: list[str]) -> None:
        self.lesson = lesson
        super().__init__(f"There is no lesson {lesson!r}.", f"use one of: {', '.join(known)}.")


class PictureError(LabkitError):
    """A picture cannot be drawn as asked: the container is not there, or not of that image."""

    def __init__(self, message: str, next_step: str, ref: str = "", container: str = "") -> None:
        self.ref = ref
        self.container = container
        super().__init__(message, next_step)


class ProgressError(LabkitError):
    """The progress database cannot be used."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"The progress store {path} cannot be used: {reason}",
            f"move {path} aside (e.g. rename it to {path.name}.broken) and run the check again; "
            "a new, empty store is made and the old file keeps the history.",
        )


class ReleaseError(LabkitError):
    """Notebooks could not be released."""

    def __init__(self, message: str, next_step: str, paths: tuple[Path, ...] = ()) -> None:
        self.paths = paths
        super().__init__(message, next_step)

    @classmethod
    def invalid(cls, path: Path, reason: str) -> "ReleaseError":
        return cls(
            f"The notebook {path} cannot be released: {reason}",
            "fix the source notebook (open and save it in JupyterLab, or check it with "
            "`python -m json.tool FILE`), then release again.",
            (path,),
        )

    @classmethod
    def unknown(cls, name: str, known: list[str]) -> "ReleaseError":
        return cls(
            f"There is no course notebook {name!r}.", f"name one of: {', '.join(known)} (or a lesson, like layers)."
        )

    @classmethod
    def existing(cls, dst: Path, paths: list[Path]) -> "ReleaseError":
        names = ", ".join(p.name for p in paths)
        return cls(
            f"Learner notebooks already exist in {dst}: {names}; nothing was written.", FORCE_ADVICE, tuple(paths)
        )


#: What `labkit release` says when learner copies exist: it never overwrites one unless told.
FORCE_ADVICE = "use --force to replace them (the learner's edits in them would be lost)"


# --- the boundary: errors from outside become labkit errors -------------------------------

#: What answered an outside error: an engine's host, an image ref, a registry's URL.
Where = dict

#: Not reaching the engine, as docker-py words it when it cannot ask the engine its API version.
_NO_API_VERSION = "Error while fetching server API version"


def _short(error: BaseException) -> str:
    text = str(error)
    for marker in ("Connection refused", "No such file or directory", "Permission denied", "timed out"):
        if marker in text:
            return marker.lower()
    return text if len(text) < 200 else text[:200] + "…"


def _docker_exception(error: Exception, where: Where) -> LabkitError:
    """docker-py's root error: the engine was not reached only when docker-py says so; anything
    else (an invalid argument, a build error, a bad context) is an answer of the engine's side."""
    if str(error).startswith(_NO_API_VERSION):
        return EngineUnreachable(where["host"], _short(error))
    return EngineError(
        f"The Docker engine at {where['host']} could not do that: {_short(error)}",
        "run `labkit status`; if the lab is up, the request itself was wrong (report it with this message).",
    )


#: The one table: for each side, (outside error as module.Name, what it becomes), first match
#: wins (an error matches its class and every base class).
OUTSIDE: dict[str, list[tuple[str, Callable[[Exception, Where], LabkitError]]]] = {
    "engine": [
        ("docker.errors.ImageNotFound", lambda e, w: ImageMissing(w.get("ref") or str(e))),
        (
            "docker.errors.APIError",
            lambda e, w: EngineError(
                f"The Docker engine at {w['host']} refused: {getattr(e, 'explanation', None) or e}"
            ),
        ),
        ("requests.exceptions.ConnectionError", lambda e, w: EngineUnreachable(w["host"], _short(e))),
        ("requests.exceptions.Timeout", lambda e, w: EngineUnreachable(w["host"], _short(e))),
        (
            "docker.errors.StreamParseError",
            lambda e, w: EngineError(f"The Docker engine at {w['host']} sent an unreadable answer: {e}"),
        ),
        ("docker.errors.DockerException", _docker_exception),
    ],
    "registry": [
        ("requests.exceptions.RequestException", lambda e, w: RegistryUnreachable(w["url"], type(e).__name__)),
    ],
}


def translated(side: str, error: Exception, where: Where) -> LabkitError | None:
    """The labkit error `error` becomes on `side`, per `OUTSIDE`; None when the table does not name it."""
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(error).__mro__}
    for name, make in OUTSIDE[side]:
        if name in names:
            return make(error, where)
    return None


@contextlib.contextmanager
def outside_errors(side: str, **where: str) -> Iterator[None]:
    """The boundary: an outside error raised inside becomes its labkit error (chained with `from`);
    a labkit error, or one the table does not name, goes on as it is."""
    try:
        yield
    except LabkitError:
        raise
    except Exception as e:
        mapped = translated(side, e, where)
        if mapped is None:
            raise
        raise mapped from e


def registry_status(url: str, status: int, request: str) -> RegistryError | None:
    """An error status of a registry's answer as a labkit error (None below 400)."""
    if status == 401:
        return CredentialsRefused(url)
    if status >= 400:
        return RegistryError(
            f"The registry at {url} answered {status} to {request}.",
            "run `labkit status` to see whether the lab's registries are up.",
        )
    return None
