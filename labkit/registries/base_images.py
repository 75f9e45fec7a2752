"""Build the course's base images from Debian packages, for a lab with no internet.

- busybox: the static busybox of Debian's busybox-static, with a link per applet, FROM scratch.
- debian:bookworm-slim: a debootstrap minbase root filesystem trimmed the way the
  official slim image is (no docs, man pages, locales or apt lists; dpkg and apt told
  to keep it so), added FROM scratch. The trimmed root filesystem is cached.
- nginx: Debian's nginx on that base, set up like the official image: logs to
  stdout/stderr, ``daemon off;``, port 80, the default page in /usr/share/nginx/html.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from ..engines import Engine
from ..errors import BuildError, DebootstrapFailed, MissingProgram, StreamFailed
from ..machine import Update, debian_mirror, processes

SUITE = "bookworm"
#: Bump when the trimming changes, so a cached root filesystem is rebuilt.
TRIM_VERSION = "1"
LABEL = "io.labkit.base"


# --- busybox -------------------------------------------------------------------------
def build_busybox(engine: Engine, tag: str, progress: Update) -> str:
    program = Path(shutil.which("busybox") or "/bin/busybox")
    if not program.exists() or not is_static_elf(program):
        raise MissingProgram("busybox (static)", "busybox-static", "to build the busybox base image offline")
    with tempfile.TemporaryDirectory(prefix="labkit-busybox-") as tmp:
        root = Path(tmp) / "rootfs"
        for folder in ("bin", "etc", "root", "tmp", "home", "var/spool/mail", "var/www", "usr/sbin"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "tmp", 0o1777)
        os.chmod(root / "root", 0o700)
        shutil.copy2(program, root / "bin" / "busybox")
        applets = subprocess.run([str(program), "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet != "busybox" and "/" not in applet:
                (root / "bin" / applet).symlink_to("busybox")
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
            "www-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n")
        _dockerfile(Path(tmp), ["FROM scratch", "COPY rootfs/ /", f'LABEL {LABEL}="busybox"', 'CMD ["sh"]'])
        return _build(engine, Path(tmp), tag, progress)


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable with no program interpreter (statically linked)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
            return False
        order = "<" if head[5] == 1 else ">"
        if head[4] == 2:  # 64-bit
            (phoff,) = struct.unpack_from(order + "Q", head, 0x20)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 0x36)
        else:
            (phoff,) = struct.unpack_from(order + "I", head, 0x1C)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 0x2A)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    if phentsize < 4 or len(table) < phentsize * phnum:
        return False
    return all(struct.unpack_from(order + "I", table, i * phentsize)[0] != 3 for i in range(phnum))  # 3: PT_INTERP


# --- debian:bookworm-slim ---------------------------------------------------------------
def build_debian(engine: Engine, tag: str, cache: Path, progress: Update) -> str:
    rootfs_tar = debian_rootfs(cache, progress)
    with tempfile.TemporaryDirectory(prefix="labkit-debian-", dir=rootfs_tar.parent) as tmp:
        os.link(rootfs_tar, Path(tmp) / "rootfs.tar")
        _dockerfile(Path(tmp), ["FROM scratch", "ADD rootfs.tar /", f'LABEL {LABEL}="debian"', 'CMD ["bash"]'])
        return _build(engine, Path(tmp), tag, progress)


def debian_rootfs(cache: Path, progress: Update) -> Path:
    """A trimmed bookworm minbase root filesystem as a tar, built once and cached."""
    mirror = debian_mirror()
    key = hashlib.sha256(f"{SUITE}|{mirror}|{platform.machine()}|{TRIM_VERSION}".encode()).hexdigest()[:12]
    folder = cache / "debian"
    target = folder / f"{SUITE}-slim-{key}.tar"
    if target.exists():
        progress(f"using the cached Debian root filesystem {target.name}")
        return target
    if not shutil.which("debootstrap"):
        raise MissingProgram("debootstrap", "debootstrap", "to build debian:bookworm-slim offline")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "debootstrap.log"
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=folder) as tmp:
        root = Path(tmp) / "rootfs"
        _debootstrap(root, mirror, log, progress)
        progress("trimming it like the official slim image")
        trim(root, mirror)
        partial = target.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True)
        os.replace(partial, target)
    return target


def _debootstrap(root: Path, mirror: str, log: Path, progress: Update) -> None:
    argv = ["debootstrap", "--variant=minbase", SUITE, str(root), mirror]
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if line.startswith("I: "):
                progress(line[3:].strip())
        status = proc.wait()
    if status != 0:
        tail = processes.log_tail(log, 12)
        errors = [line for line in tail.splitlines() if line.startswith(("E:", "W: Failure"))]
        reason = errors[-1][2:].strip() if errors else f"it exited with status {status}"
        raise DebootstrapFailed(mirror, reason, log, tail)


#: What the official images keep out, in dpkg's words (debuerreotype's slimify list).
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""

APT_CONF = {
    "docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
    ),
    "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
    "docker-no-languages": 'Acquire::Languages "none";\n',
    "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n',
}


def trim(root: Path, mirror: str) -> None:
    """Trim a Debian root filesystem the way the official slim image is trimmed."""
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
    for name, text in APT_CONF.items():
        (root / "etc/apt/apt.conf.d" / name).write_text(text)
    for pattern in (
        "usr/share/info/*",
        "usr/share/linda/*",
        "usr/share/lintian/overrides/*",
        "usr/share/locale/*",
        "usr/share/man/*",
        "var/lib/apt/lists/*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/cache/debconf/*-old",
        "var/lib/dpkg/*-old",
        "dev/*",
        "proc/*",
        "sys/*",
        "run/*",
        "tmp/*",
    ):
        for path in root.glob(pattern):
            _remove(path)
    for doc in (root / "usr/share/doc").glob("*"):
        for path in doc.iterdir() if doc.is_dir() and not doc.is_symlink() else []:
            if path.name != "copyright":
                _remove(path)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    for log in (root / "var/log").rglob("*"):
        if log.is_file():
            log.write_bytes(b"")
    for name in ("etc/resolv.conf", "etc/hostname", "etc/apt/sources.list"):
        (root / name).unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")
    security = os.environ.get("LABKIT_DEBIAN_SECURITY_MIRROR", mirror + "-security")
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# --- nginx -----------------------------------------------------------------------------
NGINX_CONF = """\
server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""

NGINX_INDEX = """\
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto; font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and working.</p>
<p>This image was built by the Docker Images Lab from Debian's nginx package.
Replace /usr/share/nginx/html/index.html with your own page.</p>
</body>
</html>
"""

NGINX_50X = """\
<!DOCTYPE html>
<html><head><title>Error</title></head>
<body><h1>An error occurred.</h1><p>Sorry, the page you are looking for is currently unavailable.</p></body>
</html>
"""


def build_nginx(engine: Engine, tag: str, base: str, progress: Update) -> str:
    with tempfile.TemporaryDirectory(prefix="labkit-nginx-") as tmp:
        ctx = Path(tmp)
        (ctx / "default.conf").write_text(NGINX_CONF)
        (ctx / "index.html").write_text(NGINX_INDEX)
        (ctx / "50x.html").write_text(NGINX_50X)
        _dockerfile(
            ctx,
            [
                f"FROM {base}",
                "RUN set -eux; apt-get update; "
                "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx; "
                "rm -rf /var/lib/apt/lists/*; rm -f /etc/nginx/sites-enabled/default; "
                "mkdir -p /usr/share/nginx/html; "
                "ln -sf /dev/stdout /var/log/nginx/access.log; ln -sf /dev/stderr /var/log/nginx/error.log",
                "COPY default.conf /etc/nginx/conf.d/default.conf",
                "COPY index.html 50x.html /usr/share/nginx/html/",
                f'LABEL {LABEL}="nginx"',
                "EXPOSE 80",
                "STOPSIGNAL SIGQUIT",
                'CMD ["nginx", "-g", "daemon off;"]',
            ],
        )
        return _build(engine, ctx, tag, progress)


def build_registry(engine: Engine, tag: str, base: str, progress: Update) -> str:
    """Docker Distribution as an image, from the docker-registry program the lab's own registries run
    (Debian's build links only the C library, which the debian base has); run as `registry serve CONFIG`,
    as Docker Hub's registry:2 is."""
    program = shutil.which("docker-registry")
    if not program:
        raise MissingProgram("docker-registry", "docker-registry", "to build the registry image a lab bundle carries")
    with tempfile.TemporaryDirectory(prefix="labkit-registry-") as tmp:
        ctx = Path(tmp)
        shutil.copy(program, ctx / "registry")
        _dockerfile(
            ctx,
            [
                f"FROM {base}",
                "COPY registry /bin/registry",
                f'LABEL {LABEL}="registry"',
                'VOLUME ["/var/lib/registry"]',
                "EXPOSE 5000",
                'ENTRYPOINT ["registry"]',
                'CMD ["serve", "/etc/docker/registry/config.yml"]',
            ],
        )
        return _build(engine, ctx, tag, progress)


# --- shared ------------------------------------------------------------------------------
def _dockerfile(ctx: Path, lines: list[str]) -> None:
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")


def _build(engine: Engine, ctx: Path, tag: str, progress: Update) -> str:
    try:
        return engine.images.build(ctx, tag, progress)
    except StreamFailed as e:
        raise BuildError(tag, e.detail.strip(), log_tail=e.log_tail) from e
