"""Where the lab keeps its files.

``LABKIT_HOME`` (default: the user's data folder, ``~/.local/share/labkit``) holds the
state file, the managed engine's data, the registries' storage and logs.
``LABKIT_CACHE`` (default ``~/.cache/labkit``) holds what can be rebuilt: the Debian
root filesystem and the built base images, so a second lab starts fast.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / default


def packages_store(cache: Path) -> Path:
    """The Debian package source's store (`registries.package_source`) of the lab whose cache is `cache`: filled online
    once, or from a bundle; rebuildable, so in the cache (shared by the labs of one cache)."""
    return cache / "packages"


@dataclass(frozen=True)
class LabPaths:
    home: Path
    cache: Path

    @classmethod
    def from_env(cls) -> "LabPaths":
        home = os.environ.get("LABKIT_HOME")
        cache = os.environ.get("LABKIT_CACHE")
        return cls(
            home=Path(home).expanduser().resolve() if home else _xdg("XDG_DATA_HOME", ".local/share") / "labkit",
            cache=Path(cache).expanduser().resolve() if cache else _xdg("XDG_CACHE_HOME", ".cache") / "labkit",
        )

    @property
    def key(self) -> str:
        """A short name unique to this lab home (for bridges, namespaces, exec roots)."""
        return hashlib.sha256(str(self.home).encode()).hexdigest()[:8]

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.home / "lab.lock"

    @property
    def engine_dir(self) -> Path:
        return self.home / "engine"

    def registry_dir(self, name: str) -> Path:
        return self.home / name

    @property
    def packages_dir(self) -> Path:
        return packages_store(self.cache)

    @property
    def password_file(self) -> Path:
        return self.home / "registry" / "password"
