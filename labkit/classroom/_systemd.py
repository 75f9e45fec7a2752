"""`labkit hub --install-service`: the hub as a systemd service, so it outlives the SSH session it was
started from and comes back after a reboot (the labs it left are taken back or made again: `hub`).

    unit(argv, environment_file) → the unit's text        install(argv, variables) → the unit's path

The unit runs `labkit hub` in the foreground with the options it was given; what must not be in a
command line anyone can read (`ps`, the unit file) goes into an environment file only root reads:
the workshop and admin codes, and the lab's folders. Its output goes to the journal
(`journalctl -u labkit-hub`). Stopped (`systemctl stop`), `labkit hub` takes every lab down first,
as Ctrl-C does: only it is signalled (KillMode=mixed), and it has two minutes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import LabkitError

NAME = "labkit-hub"
UNITS = Path("/etc/systemd/system")
SETTINGS = Path("/etc/labkit")


def available() -> bool:
    """systemd runs this machine (as sd_booted(3) asks) and its systemctl is there."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def unit(argv: list[str], environment_file: Path) -> str:
    command = shlex.join([sys.executable, "-m", "labkit", *argv])
    return f"""[Unit]
Description=Docker Images Lab: the class hub (labkit hub)
Documentation=file://{Path(__file__).resolve().parents[2] / "docs" / "classroom.md"}
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
EnvironmentFile={environment_file}
ExecStart={command}
Restart=on-failure
RestartSec=5
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=120
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
"""


def environment(variables: dict[str, str]) -> str:
    """An EnvironmentFile's text: one NAME="value" a line, quoted as systemd reads it."""
    lines = []
    for name, value in variables.items():
        if "\n" in value:
            raise LabkitError(f"{name} holds a line break, which a service's settings cannot.", "give it on one line.")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{name}="{escaped}"')
    return "\n".join(lines) + "\n"


def install(
    argv: list[str], variables: dict[str, str], units: Path = UNITS, settings: Path = SETTINGS, start: bool = True
) -> Path:
    """The unit written (its settings 0600 beside labkit's), enabled and (`start`) started: its path."""
    settings.mkdir(mode=0o700, parents=True, exist_ok=True)
    environment_file = settings / "hub.env"
    fd = os.open(environment_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(environment(variables))
    os.chmod(environment_file, 0o600)
    units.mkdir(parents=True, exist_ok=True)
    path = units / f"{NAME}.service"
    path.write_text(unit(argv, environment_file))
    if start:
        for step in (["daemon-reload"], ["enable", "--now", f"{NAME}.service"]):
            done = subprocess.run(["systemctl", *step], capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise LabkitError(
                    f"`systemctl {' '.join(step)}` failed: {done.stderr.strip()[-400:]}",
                    f"read `journalctl -u {NAME}`; the unit is {path}.",
                )
    return path


def state() -> str:
    """What systemd says of the service ("" without systemd): active, inactive, failed…"""
    if not available():
        return ""
    done = subprocess.run(["systemctl", "is-active", f"{NAME}.service"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip()
