"""The docker command line the lab gives its kernels, terminals and shells (`labkit env`).

A managed lab runs an engine that labkit unpacked: its docker CLI goes first on PATH, and the
lab's client configuration (DOCKER_CONFIG: the one set where labkit runs, else a folder of the
lab's own, never ~/.docker) names the folder of its buildx plugin (`cliPluginsExtraDirs`), so
`docker build` there is BuildKit's, as with Docker Engine 28 at home. An installed engine older
than 23 (LABKIT_DOCKERD's 20.10) is offered the cached engine's buildx plugin the same way, for
`docker buildx` (a multi-platform push, lesson 11), while `docker build` stays the legacy builder
that engine's own CLI used (DOCKER_BUILDKIT=0, as Docker CE 20.10 came: buildx bundled, not the
default). The rest of that config.json (a `docker login`'s credentials) is left as it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..home import EngineState, LabPaths

PLUGIN_DIRS = "cliPluginsExtraDirs"


def docker_config_dir() -> Path:
    """Where the docker CLI of this process keeps its config.json (DOCKER_CONFIG, else ~/.docker)."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def config_dir(paths: LabPaths, engine: EngineState) -> Path | None:
    """The client configuration the lab's commands use; None: the docker CLI's own choice."""
    if os.environ.get("DOCKER_CONFIG"):
        return Path(os.environ["DOCKER_CONFIG"])
    return paths.home / "docker-config" if engine.programs or engine.plugins else None


def plugin_dir(engine: EngineState) -> Path | None:
    """The buildx plugin folder the lab offers its CLI: the unpacked engine's, else the one offered to an older one."""
    if engine.programs:
        return Path(engine.programs) / "usr/libexec/docker/cli-plugins"
    return Path(engine.plugins) if engine.plugins else None


def variables(paths: LabPaths, engine: EngineState, base_path: str | None = None) -> dict[str, str]:
    """PATH and DOCKER_CONFIG for a process that should run the lab's own docker CLI (for an older engine
    offered buildx: DOCKER_CONFIG, and DOCKER_BUILDKIT=0 for the legacy `docker build` it had)."""
    if not engine.programs:
        if engine.plugins:
            return {"DOCKER_CONFIG": str(config_dir(paths, engine)), "DOCKER_BUILDKIT": "0"}
        return {}
    root = Path(engine.programs)
    ours = [str(root / "usr/sbin"), str(root / "usr/bin")]
    rest = (base_path or os.environ.get("PATH", os.defpath)).split(os.pathsep)
    path = os.pathsep.join([*ours, *(d for d in rest if d not in ours)])  # once, however often it is asked
    return {"PATH": path, "DOCKER_CONFIG": str(config_dir(paths, engine))}


def offer_plugins(folder: Path | None, engine: EngineState) -> None:
    """Name the unpacked engine's CLI plugins (buildx) in the client configuration in `folder`."""
    offered = plugin_dir(engine)
    if folder is None or offered is None:
        return
    plugins = str(offered)

    def change(config: dict) -> None:
        extra = [
            d
            for d in config.get(PLUGIN_DIRS) or []
            if isinstance(d, str) and not d.endswith("/usr/libexec/docker/cli-plugins")
        ]
        config[PLUGIN_DIRS] = [plugins, *extra]

    _edit(folder, change)


#: Addresses no container's request goes through the package source for.
NO_PROXY = "localhost,127.0.0.1,::1"


def offer_packages(folder: Path | None, url: str) -> None:
    """Name the lab's Debian package source (`registries.package_source`) in the client configuration in `folder`: the
    docker CLI then gives every container it runs and every build `http_proxy` (and HTTP_PROXY), and
    apt inside fetches through it. Plain HTTP only (apt's sources are http://); "" takes it out."""
    if folder is None:
        return

    def change(config: dict) -> None:
        proxies = config.get("proxies") if isinstance(config.get("proxies"), dict) else {}
        default = proxies.get("default") if isinstance(proxies.get("default"), dict) else {}
        if url:
            default.update(httpProxy=url, noProxy=NO_PROXY)
        else:
            default.pop("httpProxy", None), default.pop("noProxy", None)
        proxies["default"] = default
        config["proxies"] = {k: v for k, v in proxies.items() if v}
        if not config["proxies"]:
            del config["proxies"]

    _edit(folder, change)


def _edit(folder: Path, change) -> None:
    """config.json in `folder`, changed by `change(config)` and written back whole; one that is not
    ours to repair (not JSON, not an object) is left as it is: the CLI says what is wrong with it."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        config = {}
    except (OSError, ValueError):
        return
    if not isinstance(config, dict):
        return
    change(config)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".labkit-tmp")
    tmp.write_text(json.dumps(config, indent="\t") + "\n")
    os.replace(tmp, path)


#: Where the docker CLI looks for its plugins besides its configuration's folders (docker/cli's
#: cli-plugins/manager, Linux).
SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def builder(paths: LabPaths, engine: EngineState) -> str:
    """What `docker build` uses with the lab's CLI: BuildKit where the CLI finds its buildx plugin (in
    its configuration's folder, the folders that configuration names, or the system's), else the
    legacy builder, which today's CLI calls deprecated. Read from the files, not by running docker."""
    if os.environ.get("DOCKER_BUILDKIT") == "0" or (engine.plugins and not engine.programs):
        return "legacy builder"
    folder = config_dir(paths, engine) or docker_config_dir()
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    named = config.get(PLUGIN_DIRS) if isinstance(config, dict) else None
    dirs = [
        folder / "cli-plugins",
        *map(Path, named if isinstance(named, list) else []),
        *map(Path, SYSTEM_PLUGIN_DIRS),
    ]
    found = any(os.access(d / "docker-buildx", os.X_OK) for d in dirs)
    return "BuildKit" if found else "legacy builder"
