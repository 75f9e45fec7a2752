"""The base images come from the lab's mirror, and they work like the official ones."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from labkit.registries import RegistryClient

BASES = ["busybox:latest", "debian:bookworm-slim", "nginx:latest"]


@pytest.mark.parametrize("ref", BASES)
def test_docker_pull_comes_from_the_mirror(lab, ref):
    name, tag = ref.split(":")
    mirror_digest = RegistryClient(lab.mirror).manifest_digest(f"library/{name}", tag)
    assert mirror_digest, f"the mirror has no {ref}"
    lab.docker("rmi", ref, check=False)
    pulled = lab.docker("pull", ref)
    assert mirror_digest in pulled.stdout  # offline (LABKIT_OFFLINE, no Docker Hub): only the mirror has it
    repo_digests = json.loads(lab.docker("image", "inspect", ref, "--format", "{{json .RepoDigests}}").stdout)
    assert f"{name}@{mirror_digest}" in repo_digests


def test_nginx_answers_http_on_a_published_port(lab):
    lab.docker("pull", "nginx")
    lab.docker("rm", "-f", "labkit-test-web", check=False)
    lab.docker("run", "-d", "--name", "labkit-test-web", "-p", "127.0.0.1::80", "nginx")
    try:
        port = lab.docker("port", "labkit-test-web", "80/tcp").stdout.split(":")[-1].strip()
        body = _get(f"http://127.0.0.1:{port}/")
        assert "Welcome to nginx!" in body
        config = json.loads(lab.docker("image", "inspect", "nginx", "--format", "{{json .Config}}").stdout)
        assert config["Cmd"] == ["nginx", "-g", "daemon off;"]
        assert "80/tcp" in config["ExposedPorts"]
        logs = lab.docker("logs", "labkit-test-web")
        assert "GET / HTTP/1.1" in logs.stdout + logs.stderr  # access log goes to stdout, like the official image
    finally:
        lab.docker("rm", "-f", "labkit-test-web", check=False)


def _get(url: str, attempts: int = 50) -> str:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def test_debian_slim_installs_packages_with_apt(lab):
    lab.docker("pull", "debian:bookworm-slim")
    result = lab.docker(
        "run",
        "--rm",
        "debian:bookworm-slim",
        "sh",
        "-c",
        "apt-get update && apt-get install -y curl && curl --version && "
        "echo extra-docs=$(find /usr/share/doc /usr/share/man /usr/share/locale -type f ! -name copyright | wc -l)",
        timeout=600,
    )
    assert "curl 7" in result.stdout or "curl 8" in result.stdout
    assert "extra-docs=0" in result.stdout  # dpkg keeps docs, man pages and locales out, as in the official slim
    size = int(lab.docker("image", "inspect", "debian:bookworm-slim", "--format", "{{.Size}}").stdout)
    assert size <= 100 * 1000 * 1000


def test_mirror_save_and_load_move_the_base_images_as_one_bundle(lab, tmp_path):
    from labkit.engines import Engine
    from labkit.home import LabPaths, RegistryState
    from labkit.machine import Watcher
    from labkit.registries.bundles import names as bundle_names
    from labkit.registries.programs import MIRROR, ensure, stop
    from labkit.registries.seeding import load, present

    bundle = tmp_path / "bundle.tar"
    saved = lab.labkit("mirror", "save", str(bundle))
    assert "Wrote" in saved.stdout
    assert sorted(bundle_names(bundle)) == [*BASES, "registry:2"]  # the registries' image travels with them

    # An empty mirror of another lab home takes the bundle in.
    paths = LabPaths(home=tmp_path / "other", cache=tmp_path / "cache")
    part, _notes = ensure(paths, MIRROR, RegistryState())
    try:
        empty = RegistryClient(part.address)
        assert present(empty) == {}
        with Engine(lab.host) as engine:
            assert sorted(load(engine, empty, bundle, Watcher())) == [*BASES, "registry:2"]
        ours = present(RegistryClient(lab.mirror))
        assert present(empty) == ours  # same manifests, byte for byte
    finally:
        stop(paths, MIRROR, part)


def test_mirror_load_of_a_file_that_is_not_a_bundle_says_what_to_do(lab, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image archive")
    result = lab.labkit("mirror", "load", str(junk), check=False)
    assert result.returncode == 1
    assert "is not a usable image bundle" in result.stderr
    assert "Next:" in result.stderr and "Traceback" not in result.stderr


def test_building_the_base_images_leaves_no_image_behind(lab, tmp_path, monkeypatch):
    """A cold `labkit up` builds the base images with the classic builder (an image per step),
    pushes them to the mirror, and gives their names back: on the containerd store the steps
    stayed as `<none>` images, the first thing a learner's `docker images` showed."""
    from labkit.engines import Engine
    from labkit.home import LabPaths, RegistryState
    from labkit.machine import Watcher
    from labkit.registries.programs import MIRROR, ensure, stop
    from labkit.registries.seeding import seed

    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    paths = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    cached_root = next((Path(lab.env["LABKIT_CACHE"]) / "debian").glob("*.tar"), None)
    if cached_root is not None:  # the session lab's debootstrap, to spare another
        (paths.cache / "debian").mkdir(parents=True)
        try:
            os.link(cached_root, paths.cache / "debian" / cached_root.name)
        except OSError:  # another file system (a container's /tmp): a copy
            shutil.copy(cached_root, paths.cache / "debian" / cached_root.name)

    def images() -> set[str]:
        return set(lab.docker("images", "-a", "-q", "--no-trunc").stdout.split())

    before = images()
    part, _notes = ensure(paths, MIRROR, RegistryState())
    try:
        with Engine(lab.host) as engine:
            sources = seed(engine, RegistryClient(part.address), paths, Watcher())
        assert set(sources.values()) == {"built from Debian packages"}
        assert images() == before
    finally:
        stop(paths, MIRROR, part)
