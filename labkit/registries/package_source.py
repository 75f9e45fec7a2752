"""The lab's Debian package source: what the course's containers install (`curl`, lessons 04 and 06;
`markdown`, lesson 10's builder stage),
served by the lab itself, so a class without internet gets through every lesson.

An HTTP proxy for apt, run as a program of labkit's (`python -m labkit.registries.package_source`). The lab's
docker client configuration names it (`proxies` in config.json), so the docker CLI gives every
container it runs and every build the variables `http_proxy` and `HTTP_PROXY`, and apt inside asks
it for `http://deb.debian.org/debian/…`. It answers from its store (a folder: one file per URL,
`<host>/<path>`), which it fills as it passes what Debian's archive answers on: an index
(`dists/…`) is asked of the archive first and the stored one served when the archive cannot be
reached; a package (`pool/…`) or an index by its hash (`by-hash/…`) never changes, and is taken
from the store when there. With `--offline` (a grading sandbox, cut from the internet) it only
serves its store. What it does not hold, offline, is a 404 that says so; a request for another
site is passed on online and refused offline.

    labkit up        starts it (labkit's own engine: on the engine's bridge; a sandbox: in its
                     network namespace) and fills its store once, online, by installing the
                     course's packages in a throwaway container (`COURSE_PACKAGES`)
    labkit mirror save / load   carry the store in the bundle

The store holds Debian's own files, checked by apt against the keys in the image, as apt checks
any mirror's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: What the course's containers install with apt (lessons 04 and 06, their Dockerfiles and `docker run`;
#: lesson 10's builder stage: markdown, and the perl it brings).
COURSE_PACKAGES = ("curl", "markdown")
#: An apt archive's files: its indices (mutable) and its packages (never changed once published).
ARCHIVE = re.compile(r"^/(?:[\w.+~-]+/)*(?P<kind>dists|pool)/")
UPSTREAM_TIMEOUT = 15
CHUNK = 1 << 16


def store_path(store: Path, host: str, path: str) -> Path | None:
    """Where the store keeps http://`host``path`; None for a name that could climb out of it."""
    parts = [p for p in unquote(path).split("/") if p]
    if (
        not re.fullmatch(r"[A-Za-z0-9.-]+(?::\d+)?", host)
        or any(p in (".", "..") or "\0" in p for p in parts)
        or not parts
    ):
        return None
    return store.joinpath(host.lower(), *parts)


def debian(host: str) -> bool:
    """Whether `host` is Debian's archive (deb.debian.org, security.debian.org, a country's mirror, or
    LABKIT_DEBIAN_MIRROR's): only what it serves is kept."""
    name = host.lower().split(":")[0]
    mirror = urlsplit(os.environ.get("LABKIT_DEBIAN_MIRROR", "")).hostname or ""
    return name == "debian.org" or name.endswith(".debian.org") or (bool(mirror) and name == mirror.lower())


def immutable(path: str) -> bool:
    """A package, or an index asked for by its hash: what a URL names never changes."""
    match = ARCHIVE.match(path)
    return bool(match) and (match["kind"] == "pool" or "/by-hash/" in path)


def holds(store: Path, package: str) -> bool:
    """Whether the store holds a .deb of `package` (filled, or loaded from a bundle)."""
    return any(store.glob(f"*/**/pool/**/{package}_*.deb"))


def holds_course(store: Path) -> bool:
    """Whether the store holds every package of COURSE_PACKAGES (a store filled before one was added does not)."""
    return all(holds(store, package) for package in COURSE_PACKAGES)


# --- the program, as the lab runs it ------------------------------------------------------------
HEALTH = "/labkit-packages"  # a request for it is answered 200 by the package source itself
START_TIMEOUT = 20.0


def command(store: Path, address: str, port: int, offline: bool = False, shared: Path | None = None) -> list[str]:
    return [
        sys.executable,
        "-m",
        "labkit.registries.package_source",
        "--store",
        str(store),
        "--listen",
        f"{address}:{port}",
        *(["--shared", str(shared)] if shared else []),
        *(["--offline"] if offline else []),
    ]


def answers(address: str, port: int) -> bool:
    import requests

    try:
        return (
            requests.get(f"http://{address}:{port}{HEALTH}", timeout=1, proxies={"http": "", "https": ""}).status_code
            == 200
        )
    except requests.RequestException:
        return False


def is_running(pid: int | None) -> bool:
    from ..machine import processes

    return processes.is_running(pid, os.path.basename(sys.executable), "labkit.registries.package_source")


def start(
    store: Path,
    address: str,
    port: int,
    log: Path,
    offline: bool = False,
    wrap=None,
    shared: Path | None = None,
    namespace_of: int = 0,
):
    """Start the package source on address:port; its process once it answers. A sandbox runs it in its
    network namespace (its command line through `wrap`, the namespace the one of process
    `namespace_of`), reading the class's store `shared`: it is ready once it listens there."""
    from ..errors import LabkitError
    from ..machine import processes

    argv = command(store, address, port, offline, shared)
    proc = processes.spawn(wrap(argv) if wrap else argv, log)
    ready = (lambda: listens(namespace_of, port)) if namespace_of else (lambda: answers(address, port))
    failure = processes.wait_ready(ready, proc, START_TIMEOUT)
    if failure is not None:
        proc.kill()
        proc.wait()
        raise LabkitError(
            f"The lab's Debian package source did not start on {address}:{port}: {failure}.\n{processes.log_tail(log)}",
            f"read {log}; `labkit up` tries again.",
        )
    return proc


def listens(pid: int, port: int) -> bool:
    """Whether something listens on TCP `port` in the network namespace of process `pid` (read from its
    /proc/PID/net/tcp: no process needs to enter the namespace to ask)."""
    try:
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(len(f := line.split()) > 3 and f[1].endswith(f":{port:04X}") and f[3] == "0A" for line in table)


def stop(pid: int | None) -> bool:
    from ..machine import processes

    return (
        bool(pid)
        and is_running(pid)
        and processes.stop(pid, os.path.basename(sys.executable), "labkit.registries.package_source")
    )


def fill(
    engine, url: str, image: str = "debian:bookworm-slim", packages: tuple[str, ...] = COURSE_PACKAGES
) -> tuple[bool, str]:
    """Install the course's packages once in a throwaway container of `image` through the package source
    at `url` (online), which keeps every file apt fetched; (whether it worked, apt's last words)."""
    script = f"apt-get update -q && apt-get install -y -q --download-only {' '.join(packages)}"
    status, output = engine.containers.run(
        image, ["sh", "-c", script], timeout=600, env={"http_proxy": url, "HTTP_PROXY": url}
    )
    return status == 0, output.strip().splitlines()[-1] if output.strip() else ""


class Handler(BaseHTTPRequestHandler):
    server_version = "labkit-packages"
    store: Path  # where it keeps what it fetches
    shared: tuple[Path, ...] = ()  # stores it only reads (a sandbox's: the class's)
    offline: bool

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def do_CONNECT(self) -> None:  # noqa: N802
        self._say(405, "The lab's package source passes on plain HTTP only (apt's http:// sources).")

    def _answer(self, body: bool) -> None:
        url = urlsplit(self.path)
        host = url.netloc or self.headers.get("Host", "")
        path = url.path or "/"
        if not url.netloc and path == HEALTH:
            self._say(200, "the lab's Debian package source")
        elif ARCHIVE.match(path):
            self._archive(host, path, body)
        elif self.offline:
            self._say(
                502,
                f"This lab has no internet: its package source serves Debian's packages the course "
                f"installs, not http://{host}{path}.",
            )
        else:
            self._relay(f"http://{host}{path}{'?' + url.query if url.query else ''}", body, None)

    def _archive(self, host: str, path: str, body: bool) -> None:
        target = store_path(self.store, host, path)
        if target is None:
            self._say(400, "That is not a file of an apt archive.")
            return
        if not debian(host):  # another site's: passed on, never kept (the store is Debian's archive)
            if self.offline:
                self._say(502, f"This lab has no internet: its package source serves Debian's archive, not {host}.")
            else:
                self._relay(f"http://{host}{path}", body, None)
            return
        held = next((p for p in (target, *(store_path(s, host, path) for s in self.shared)) if p and p.is_file()), None)
        if held is not None and (immutable(path) or self.offline):
            self._send_file(held, body)
            return
        if not self.offline and self._relay(f"http://{host}{path}", body, target):
            return
        if held is not None:  # the archive cannot be reached: the index stored last serves
            self._send_file(held, body)
            return
        self._say(
            404,
            f"The lab's package source does not hold http://{host}{path}"
            + (" (and has no internet to fetch it)." if self.offline else ", and Debian's archive did not give it."),
        )

    def _relay(self, url: str, body: bool, keep: Path | None) -> bool:
        """Pass `url` on from the internet; with `keep`, stored there whole first and served from the
        store (so a second request finds it); False when it cannot be had."""
        import requests

        try:
            upstream = requests.request(
                "GET" if body or keep else "HEAD",
                url,
                stream=True,
                timeout=UPSTREAM_TIMEOUT,
                headers={"User-Agent": self.headers.get("User-Agent", "labkit"), "Accept-Encoding": "identity"},
            )
        except requests.RequestException:
            if keep is None:
                self._say(502, f"{url} cannot be reached from this lab.")
            return False
        with upstream:
            if keep is not None:
                return upstream.status_code == 200 and self._keep(upstream, keep, body)
            self.send_response(upstream.status_code)
            for name in ("Content-Type", "Content-Length", "Last-Modified", "ETag"):
                if name in upstream.headers:
                    self.send_header(name, upstream.headers[name])
            self.end_headers()
            if body:
                for chunk in upstream.iter_content(CHUNK):
                    self.wfile.write(chunk)
        return True

    def _keep(self, upstream, keep: Path, body: bool) -> bool:
        import requests

        keep.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=keep.parent, prefix=f".{keep.name}.", delete=False) as part:
            try:
                for chunk in upstream.iter_content(CHUNK):
                    part.write(chunk)
            except requests.RequestException:
                part.close()
                os.unlink(part.name)
                return False
        os.replace(part.name, keep)
        self._send_file(keep, body)
        return True

    def _send_file(self, path: Path, body: bool) -> None:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if body:
                shutil.copyfileobj(handle, self.wfile, CHUNK)

    def _say(self, status: int, text: str) -> None:
        data = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def server(store: Path, address: str, port: int, offline: bool, shared: tuple[Path, ...] = ()) -> ThreadingHTTPServer:
    handler = type("StoreHandler", (Handler,), {"store": store, "offline": offline, "shared": shared})
    made = ThreadingHTTPServer((address, port), handler)
    made.daemon_threads = True
    return made


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.registries.package_source", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--listen", required=True, metavar="ADDRESS:PORT")
    parser.add_argument("--shared", type=Path, action="append", default=[], help="a store it only reads (repeatable)")
    parser.add_argument("--offline", action="store_true", help="serve the stores only; never reach the internet")
    args = parser.parse_args(argv)
    address, port = args.listen.rsplit(":", 1)
    args.store.mkdir(parents=True, exist_ok=True)
    serving = server(args.store, address, int(port), args.offline, tuple(args.shared))
    threading.current_thread().name = "labkit-packages"
    print(f"serving {args.store} on {args.listen}{' (offline)' if args.offline else ''}", flush=True)
    serving.serve_forever()


if __name__ == "__main__":
    main()
