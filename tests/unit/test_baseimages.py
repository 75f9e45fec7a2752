"""Static-ELF detection and the slim trimming of a Debian root filesystem."""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import pytest

from labkit.registries.base_images import DPKG_EXCLUDES, is_static_elf, trim

PT_LOAD, PT_INTERP, PT_DYNAMIC = 1, 3, 2


def _elf(path: Path, segment_types: list[int], elf_class: int = 2) -> Path:
    """A minimal little-endian ELF file with program headers of the given types."""
    phentsize = 56
    header = struct.pack(
        "<16sHHIQQQIHHHHHH",
        b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9),
        2,
        62,
        1,
        0x401000,
        64,
        0,
        0,
        64,
        phentsize,
        len(segment_types),
        0,
        0,
        0,
    )
    table = b"".join(struct.pack("<II", kind, 0) + bytes(phentsize - 8) for kind in segment_types)
    path.write_bytes(header + table)
    return path


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static is not installed")
def test_busybox_static_is_static():
    assert is_static_elf(Path("/bin/busybox"))


def test_python_is_dynamically_linked():
    assert not is_static_elf(Path(os.path.realpath(sys.executable)))


def test_text_file_is_not_static_elf(tmp_path):
    text = tmp_path / "script.sh"
    text.write_text("#!/bin/sh\necho hello, this is not an ELF file at all\n")
    assert not is_static_elf(text)


def test_synthetic_elf_with_and_without_interpreter(tmp_path):
    assert is_static_elf(_elf(tmp_path / "static", [PT_LOAD, PT_LOAD]))
    assert not is_static_elf(_elf(tmp_path / "dynamic", [PT_LOAD, PT_INTERP, PT_DYNAMIC]))
    assert not is_static_elf(_elf(tmp_path / "elf32", [PT_LOAD], elf_class=1))


# --- trim --------------------------------------------------------------------------
MIRROR = "http://deb.example/debian"


def _fake_root(root: Path) -> Path:
    files = {
        "usr/share/doc/pkg/copyright": "Copyright: someone\n",
        "usr/share/doc/pkg/changelog.gz": "gz",
        "usr/share/man/man1/x.1.gz": "man",
        "usr/share/locale/de/x.mo": "mo",
        "var/lib/apt/lists/some_Packages": "Package: x\n",
        "var/cache/apt/pkgcache.bin": "bin",
        "etc/apt/sources.list": "deb http://old.example/debian bookworm main\n",
        "etc/resolv.conf": "nameserver 10.0.0.1\n",
        "var/log/dpkg.log": "2024-01-01 install x\n" * 20,
        "dev/null": "",
        "etc/hostname": "builder\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "etc/apt/apt.conf.d").mkdir(parents=True)
    return root


@pytest.fixture
def trimmed(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("LABKIT_DEBIAN_SECURITY_MIRROR", raising=False)
    root = _fake_root(tmp_path / "rootfs")
    trim(root, MIRROR)
    return root


def test_trim_keeps_copyright_only(trimmed):
    assert (trimmed / "usr/share/doc/pkg/copyright").read_text() == "Copyright: someone\n"
    assert not (trimmed / "usr/share/doc/pkg/changelog.gz").exists()
    assert not (trimmed / "usr/share/man/man1").exists()
    assert not (trimmed / "usr/share/locale/de").exists()


def test_trim_drops_apt_lists_and_caches(trimmed):
    assert not (trimmed / "var/lib/apt/lists/some_Packages").exists()
    assert (trimmed / "var/lib/apt/lists/partial").is_dir()
    assert not (trimmed / "var/cache/apt/pkgcache.bin").exists()


def test_trim_writes_deb822_sources_for_the_mirror(trimmed):
    assert not (trimmed / "etc/apt/sources.list").exists()
    sources = (trimmed / "etc/apt/sources.list.d/debian.sources").read_text()
    uris = [line.split(":", 1)[1].strip() for line in sources.splitlines() if line.startswith("URIs:")]
    assert uris == [MIRROR, MIRROR + "-security"]
    assert "Suites: bookworm bookworm-updates" in sources
    assert "Suites: bookworm-security" in sources


def test_trim_security_mirror_can_be_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DEBIAN_SECURITY_MIRROR", "http://sec.example/debian-security")
    root = _fake_root(tmp_path / "rootfs")
    trim(root, MIRROR)
    sources = (root / "etc/apt/sources.list.d/debian.sources").read_text()
    assert "URIs: http://sec.example/debian-security" in sources
    assert f"URIs: {MIRROR}-security" not in sources


def test_trim_tells_dpkg_and_apt_to_stay_slim(trimmed):
    dpkg = (trimmed / "etc/dpkg/dpkg.cfg.d/docker").read_text()
    assert dpkg == DPKG_EXCLUDES
    assert "path-exclude /usr/share/doc/*" in dpkg.splitlines()
    assert "path-include /usr/share/doc/*/copyright" in dpkg.splitlines()
    clean = trimmed / "etc/apt/apt.conf.d/docker-clean"
    assert clean.is_file() and 'Dir::Cache::pkgcache "";' in clean.read_text()
    assert (trimmed / "etc/apt/apt.conf.d/docker-no-languages").is_file()


def test_trim_empties_logs_and_host_files(trimmed):
    log = trimmed / "var/log/dpkg.log"
    assert log.is_file() and log.stat().st_size == 0
    assert not (trimmed / "etc/resolv.conf").exists()
    assert not (trimmed / "etc/hostname").exists()
    assert (trimmed / "etc/machine-id").read_text() == ""
    assert (trimmed / "dev").is_dir() and not (trimmed / "dev/null").exists()


def test_is_static_elf_refuses_truncated_and_odd_files(tmp_path):
    from labkit.registries.base_images import is_static_elf

    for name, data in (("magic-only", b"\x7fELF"), ("empty", b""), ("garbage", b"\x7fELF" + b"\xff" * 60)):
        path = tmp_path / name
        path.write_bytes(data)
        assert is_static_elf(path) is False
