"""Errors of labkit: every one says what went wrong and what to do next.

    LabkitError
    ├── EngineError
    │   ├── EngineUnreachable     an engine was named or expected and does not answer
    │   ├── EngineStartFailed     the managed dockerd exited or never answered
    │   ├── ImageMissing          (_docker) an image that must be there is not
    │   └── StreamFailed          (_docker) a build, push, pull or load reported an error
    ├── RegistryError
    │   ├── RegistryUnreachable   a registry does not answer HTTP
    │   ├── RegistryStartFailed   Docker Distribution exited or never answered
    │   └── CredentialsRefused    (_registry_api) the registry refused the lab's account
    ├── BuildError                a base image could not be built
    │   └── DebootstrapFailed     debootstrap could not fetch or unpack Debian
    ├── BundleError               (_mirror) a file is not a usable image bundle
    ├── MissingProgram            a system program the lab needs is not installed
    ├── StateError                the lab's state file is unreadable
    │   └── LabNotUp              (_context) the lab has not been started
    ├── UnknownExercise           (_catalog) no exercise has that id (close matches listed; `labkit check` exits 3)
    ├── UnknownLesson             (_catalog) no lesson has that name
    ├── PictureError              (_pictures) a layer picture cannot be drawn
    ├── ProgressError             (_progress) the progress store cannot be used
    └── ReleaseError              (_release) a notebook cannot be released, or no course notebook has that name

The command line prints ``str(error)`` (message, then the next step) and exits 1.
"""

from __future__ import annotations

from pathlib import Path


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
            next_step or "check that this machine and its containers reach a Debian package mirror, "
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


class StateError(LabkitError):
    """The lab's state is missing or unreadable."""
