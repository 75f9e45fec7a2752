"""Debian's archive, where labkit takes what it builds from (base images, the fetched engine, the lab's
package source): Debian's own, or the one LABKIT_DEBIAN_MIRROR names."""

from __future__ import annotations

import os

DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"


def debian_mirror() -> str:
    return os.environ.get("LABKIT_DEBIAN_MIRROR", DEFAULT_DEBIAN_MIRROR).rstrip("/")
