"""`labkit hub`: JupyterHub for a class on one machine, run as root.

    start(paths, options) → the running hub's process      stop(options) → what was taken down

The class lab (labkit's own engine, the course registry, the mirror) is brought up first: its mirror
serves every learner's lab. JupyterHub's own parts do the rest: its configurable-http-proxy (from
npm, installed into the lab's cache on first use), `WorkshopAuthenticator` (`_auth`) and
`SandboxSpawner` (`_spawner`). The hub's folder (`LABKIT_HUB_HOME`, default
/var/lib/labkit/hub) holds its database, the names taken, and each learner's kept work; it is
hidden from every learner's lab, as are the class lab, the course's sources and solutions.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import sandbox
from ..course import catalog
from ..errors import LabkitError, SandboxUnavailable
from ..home import LabPaths, State
from ..labs import fresh, lifecycle
from ..machine import Watcher, processes
from ..registries import programs
from . import _tls, _warm

REPO = Path(__file__).resolve().parents[2]
PROXY_PACKAGE = "configurable-http-proxy@4"


def hub_home() -> Path:
    return Path(os.environ.get("LABKIT_HUB_HOME") or "/var/lib/labkit/hub")


@dataclass
class HubOptions:
    port: int = 8000
    ip: str = ""  # "" : every address of the machine (the class reaches it)
    code: str = ""
    admin_code: str = ""
    limits: sandbox.Limits = field(
        default_factory=lambda: sandbox.Limits(memory=1536 * 2**20, pids=1000, disk=4 * 2**30)
    )
    home: Path = field(default_factory=hub_home)
    keep_free: int = 512 * 2**20  # memory the machine keeps: no lab starts when less is available
    tls_cert: Path | None = None  # the instructor's certificate and key (PEM)
    tls_key: Path | None = None
    hostname: str = ""  # the name learners open; without a certificate of the instructor's, one is made for it
    plain_http: bool = False  # asked for: codes and PINs cross the network in clear
    warm: int | None = None  # labs made ahead (None: sized from the machine, `_warm.default_count`)

    def warm_count(self) -> int:
        if self.warm is not None:
            return self.warm
        return _warm.default_count(Path("/proc/meminfo").read_text(), os.cpu_count() or 1, self.keep_free)

    def url(self, certificate: _tls.Certificate | None) -> str:
        where = self.hostname or self.ip or "THIS-MACHINE"
        return f"{'https' if certificate else 'http'}://{where}:{self.port}/"


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def certificate(options: HubOptions) -> _tls.Certificate | None:
    """The hub's certificate; None where plain HTTP is allowed: asked for, or the hub on loopback only."""
    if options.tls_cert or options.tls_key:
        if not (options.tls_cert and options.tls_key):
            raise LabkitError(
                "A certificate needs its key, and a key its certificate.",
                "give both --tls-cert FILE and --tls-key FILE.",
            )
        return _tls.own(options.tls_cert, options.tls_key)
    if options.hostname:
        return _tls.made_for(options.hostname, options.home / "tls")
    if options.plain_http or options.ip in LOOPBACK:
        return None
    raise LabkitError(
        "Over plain HTTP, the workshop code, your admin code and every PIN would cross the network in clear.",
        "give --hostname NAME (the name or address learners open: a certificate is made for it), or your own "
        "--tls-cert FILE --tls-key FILE; --plain-http only on a network that is yours alone.",
    )


def _ports(home: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The hub's inner ports, the same from one start to the next while they are free: a lab taken back
    after a hub was killed still reaches the hub's API where it did."""
    record = home / "ports.json"
    try:
        kept = {k: int(v) for k, v in json.loads(record.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        kept = {}
    ports = {
        name: kept[name] if kept.get(name) and processes.port_is_free(kept[name]) else processes.free_port()
        for name in names
    }
    record.write_text(json.dumps(ports))
    return ports


def proxy_program(cache: Path, watcher: Watcher) -> str:
    """configurable-http-proxy: the machine's, else installed with npm into the cache once."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    prefix = cache / "hub-proxy"
    program = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if program.exists():
        return str(program)
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise LabkitError(
            "JupyterHub's proxy (configurable-http-proxy) runs on Node.js, which is not installed.",
            "install it (Debian: `apt-get install nodejs npm`), then run `labkit hub` again.",
        )
    with watcher.step(f"Installing {PROXY_PACKAGE} from npm into {prefix}"):
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), PROXY_PACKAGE],
            capture_output=True,
            text=True,
            timeout=600,
        )
    if result.returncode != 0 or not program.exists():
        raise LabkitError(
            f"npm could not install {PROXY_PACKAGE}: {result.stderr.strip()[-400:]}",
            "check that this machine reaches the npm registry (or install configurable-http-proxy), then try again.",
        )
    return str(program)


def _config(
    paths: LabPaths, options: HubOptions, proxy: str, seeded: Path, certificate: _tls.Certificate | None = None
) -> str:
    """jupyterhub_config.py: every value set here, from the class lab's state."""
    home = options.home
    hide = [str(home), str(paths.home), str(REPO / "notebooks"), str(REPO / "authoring"), str(REPO / "tests")]
    ports = _ports(home, ("hub", "proxy_api", "class"))
    values = {
        "c.JupyterHub.bind_url": f"{'https' if certificate else 'http'}://{options.ip or '0.0.0.0'}:{options.port}",
        "c.JupyterHub.hub_ip": "127.0.0.1",
        "c.JupyterHub.hub_port": ports["hub"],
        "c.JupyterHub.db_url": f"sqlite:///{home / 'jupyterhub.sqlite'}",
        "c.JupyterHub.cookie_secret_file": str(home / "cookie_secret"),
        "c.JupyterHub.pid_file": str(home / "jupyterhub.pid"),
        "c.JupyterHub.cleanup_servers": True,
        "c.JupyterHub.implicit_spawn_seconds": 2,  # a lab gone with a killed hub starts again when its learner comes
        "c.JupyterHub.authenticator_class": "labkit.classroom._auth.WorkshopAuthenticator",
        "c.WorkshopAuthenticator.code": options.code,
        "c.WorkshopAuthenticator.admin_code": options.admin_code,
        "c.WorkshopAuthenticator.claims_file": str(home / "names.json"),
        "c.WorkshopAuthenticator.certificate_note": _tls.note(certificate) if certificate else "",
        "c.JupyterHub.spawner_class": "labkit.classroom._spawner.SandboxSpawner",
        "c.SandboxSpawner.hub_home": str(home),
        "c.SandboxSpawner.cache": str(paths.cache),
        "c.SandboxSpawner.mirror_data": str(programs.data_dir(paths, programs.MIRROR)),
        "c.SandboxSpawner.seeded": str(seeded),
        "c.SandboxSpawner.notebooks": str(REPO / "notebooks"),
        "c.SandboxSpawner.hide": os.pathsep.join(hide),
        "c.SandboxSpawner.memory": options.limits.memory,
        "c.SandboxSpawner.pids": options.limits.pids,
        "c.SandboxSpawner.disk": options.limits.disk,
        "c.SandboxSpawner.min_free": options.keep_free,
        "c.Spawner.start_timeout": 120,
        "c.Spawner.http_timeout": 60,
        "c.ConfigurableHTTPProxy.command": [proxy],
        "c.ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{ports['proxy_api']}",  # not 8001: two hubs may run
        "c.ConfigurableHTTPProxy.pid_file": str(home / "proxy.pid"),
        "c.JupyterHub.services": [
            {  # the instructor's class view (only the admin holds access:services)
                "name": "class",
                "url": f"http://127.0.0.1:{ports['class']}",
                "display": True,
                "oauth_no_confirm": True,
                "command": [sys.executable, "-m", "labkit.classroom._service"],
                "environment": {
                    "LABKIT_HUB_HOME": str(home),
                    "LABKIT_HOME": str(paths.home),
                    "LABKIT_CACHE": str(paths.cache),
                    "LABKIT_HUB_LAB_MEMORY": str(options.limits.memory),
                },
            }
        ],
        # the class view restarts a learner's lab and reads which sandbox is whose
        "c.JupyterHub.load_roles": [
            {"name": "class-view", "services": ["class"], "scopes": ["list:users", "read:users", "admin:servers"]}
        ],
    }
    if certificate:
        values["c.JupyterHub.ssl_cert"] = str(certificate.cert)
        values["c.JupyterHub.ssl_key"] = str(certificate.key)
    lab = {name: values[f"c.SandboxSpawner.{name}"] for name in _warm.LabSettings.__dataclass_fields__}
    warm = f"""
from labkit.classroom import _warm
_warm.POOL.start({options.warm_count()}, _warm.LabSettings(**{lab!r}), record={str(home / "warm.json")!r})
"""
    return "\n".join(f"{name} = {value!r}" for name, value in values.items()) + "\n" + DEFAULT_URL + warm


#: The instructor lands on the class view after signing in; a learner on their own lab (JupyterHub's default).
DEFAULT_URL = """
def _landing(handler):
    user = handler.current_user
    return "/services/class/" if user is not None and user.admin else ""


c.JupyterHub.default_url = _landing
"""


def start(paths: LabPaths, options: HubOptions, watcher: Watcher) -> subprocess.Popen:
    """Bring the class lab up and start JupyterHub (in the background); returns its process once it answers."""
    if os.geteuid() != 0:
        raise LabkitError(
            "`labkit hub` needs root: it makes a user, a cgroup and a sandbox for each learner's lab.",
            "run it with sudo (the learners' labs never run as root).",
        )
    if importlib.util.find_spec("jupyterhub") is None:
        raise LabkitError(
            "`labkit hub` runs JupyterHub, which is not installed in this environment.",
            "run `make classroom` (JupyterHub, and Node.js for its proxy), then `labkit hub` again.",
        )
    if not options.code or not options.admin_code:
        raise LabkitError(
            "A hub needs a workshop code for the learners and an admin code for you.",
            "give both: `labkit hub --code CODE --admin-code CODE`.",
        )
    engine = fresh.sandbox_engine(paths.cache)
    if lacks := sandbox.missing(engine):
        raise SandboxUnavailable(lacks)
    home = options.home
    if running_pid(home):
        raise LabkitError(
            f"A hub already runs from {home} (pid {running_pid(home)}).", "stop it first: `labkit hub --stop`."
        )
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o711)
    tls = certificate(options)
    killed = _pid_file(home)  # a hub that ended without its stop (kill -9, a crash, a reboot): its labs are taken back
    if killed:  # what it left that its database names for no learner: made ahead, or being made when it died
        with watcher.step(f"Taking down what the hub killed before (pid {killed}) left and no learner's lab holds"):
            sandbox.clean_leftovers(killed, keep=labs_in_database(home))
    (home / "learners").mkdir(exist_ok=True)
    os.chmod(home / "learners", 0o711)
    lifecycle.mirror_takes_pushes(paths, True)  # a hub stopped without `--stop` left it closed
    lifecycle.up(paths, managed=True, watcher=watcher)
    with watcher.step("Closing the mirror to pushes while the class runs"):
        lifecycle.mirror_takes_pushes(paths, False)
    state = State.load(paths)
    proxy = proxy_program(paths.cache, watcher)
    with watcher.step("Preparing the base layers every learner's registry starts with"):
        seed_home = home / "seed"
        shutil.rmtree(seed_home, ignore_errors=True)
        seeded = fresh.seeded_registry(seed_home, state.mirror, paths.cache, catalog.registry_repositories)
    config = home / "jupyterhub_config.py"
    config.write_text(_config(paths, options, proxy, seeded, tls))
    os.chmod(config, 0o600)
    log = open(home / "jupyterhub.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        cwd=home,
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "LABKIT_HOME": str(paths.home)},
    )
    log.close()
    base = f"{'https' if tls else 'http'}://{'[::1]' if options.ip == '::1' else '127.0.0.1'}:{options.port}"
    with watcher.step(f"Starting JupyterHub on port {options.port}"):
        failure = processes.wait_ready(lambda: healthy(base), proc, 60)
        if failure:
            proc.terminate()
            raise LabkitError(
                f"JupyterHub did not start: {failure}.\n{processes.log_tail(home / 'jupyterhub.log')}",
                f"read {home / 'jupyterhub.log'}; `labkit hub --stop` clears a half-started hub.",
            )
    (home / "hub.json").write_text(
        json.dumps({"url": options.url(tls), "fingerprint": tls.fingerprint if tls else "", "pid": proc.pid})
    )
    return proc


def healthy(base: str) -> bool:
    """The hub at `base` (http(s)://HOST:PORT) answers its health check (its certificate unchecked: this
    asks whether it runs, on this machine)."""
    import requests
    import urllib3

    try:
        with urllib3.warnings.catch_warnings():
            urllib3.warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return requests.get(f"{base}/hub/health", timeout=2, verify=False).status_code == 200
    except requests.RequestException:
        return False


def _pid_file(home: Path) -> int | None:
    try:
        return int((home / "jupyterhub.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(home: Path) -> int | None:
    pid = _pid_file(home)
    return pid if processes.is_running(pid, Path(sys.executable).name, "jupyterhub") else None


def labs_in_database(home: Path) -> frozenset[str]:
    """The sandboxes JupyterHub's database names as learners' running labs (`SandboxSpawner.get_state`)."""
    database = home / "jupyterhub.sqlite"
    if not database.exists():
        return frozenset()
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
            rows = db.execute("SELECT state FROM spawners WHERE server_id IS NOT NULL").fetchall()
    except sqlite3.Error:
        return frozenset()
    names = set()
    for (state,) in rows:
        try:
            names.add(json.loads(state or "{}").get("sandbox", ""))
        except (ValueError, AttributeError):
            continue
    return frozenset(names - {""})


def stop(options: HubOptions, paths: LabPaths) -> list[str]:
    """Every learner's lab taken down (their work kept), then the hub and its proxy; the class lab's
    mirror takes pushes again."""
    home, said = options.home, []
    pid = running_pid(home)
    if pid:
        os.kill(pid, signal.SIGTERM)  # JupyterHub stops every server (cleanup_servers), then itself
        deadline = time.monotonic() + 60
        while running_pid(home) and time.monotonic() < deadline:
            time.sleep(0.2)
        said.append(f"JupyterHub (pid {pid}) and every learner's lab")
        said += [f"left over: {what}" for what in sandbox.clean_leftovers(pid)]
    try:
        proxy = int((home / "proxy.pid").read_text().strip())
        if processes.is_running(proxy, "node", "configurable-http-proxy"):
            os.kill(proxy, signal.SIGTERM)
            said.append(f"the proxy (pid {proxy})")
    except (OSError, ValueError):
        pass
    lifecycle.mirror_takes_pushes(paths, True)
    return said


def unit_argv(options: HubOptions) -> list[str]:
    """`labkit hub`'s arguments for `options`, as its service runs it (the codes come from its settings)."""
    limits = options.limits
    argv = ["hub", "--port", str(options.port), "--memory", str(limits.memory), "--pids", str(limits.pids)]
    argv += ["--disk", str(limits.disk), "--keep-free", str(options.keep_free)]
    if options.ip:
        argv += ["--ip", options.ip]
    if options.tls_cert and options.tls_key:
        argv += ["--tls-cert", str(options.tls_cert.resolve()), "--tls-key", str(options.tls_key.resolve())]
    if options.hostname:
        argv += ["--hostname", options.hostname]
    if options.plain_http:
        argv.append("--plain-http")
    if options.warm is not None:
        argv += ["--warm", str(options.warm)]
    return argv


@dataclass
class Status:
    pid: int | None  # JupyterHub's, while it runs
    since: float | None  # when it started (seconds since the epoch)
    labs: int  # learners' labs running
    url: str
    fingerprint: str  # of a certificate made here ("" otherwise)
    warm: tuple[int, int] = (0, 0)  # labs made ahead: (ready now, how many it keeps)


def status(options: HubOptions) -> Status:
    home = options.home
    pid = running_pid(home)
    try:
        said = json.loads((home / "hub.json").read_text())
    except (OSError, ValueError):
        said = {}
    try:
        since = (home / "jupyterhub.pid").stat().st_mtime if pid else None
    except OSError:
        since = None
    labs = len(labs_in_database(home)) if pid else 0
    try:
        pool = json.loads((home / "warm.json").read_text()) if pid else {}
    except (OSError, ValueError):
        pool = {}
    warm = (int(pool.get("ready", 0)), int(pool.get("count", 0)))
    return Status(pid, since, labs, said.get("url", ""), said.get("fingerprint", ""), warm)
