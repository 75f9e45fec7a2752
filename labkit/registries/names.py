"""Image names as registries hold them (no client here: a check may import it at no cost)."""

from __future__ import annotations

import platform


def repo_tag(ref: str) -> tuple[str, str]:
    """Where a mirror holds an official image: `nginx` → ("library/nginx", "latest")."""
    name, _, tag = ref.partition(":")
    return f"library/{name}", tag or "latest"


def architecture() -> str:
    """This machine's platform, as registries name it."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)
