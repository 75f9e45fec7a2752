"""A workshop without internet: lessons 04 and 06 install curl inside containers (a Dockerfile's RUN,
and `docker run … apt-get install`), from the lab's own Debian package source, with every way to
Debian's archive closed: the containers' traffic out of the lab's bridge refused, and the package
source's own way to the archive leading nowhere."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from test_notebooks import nbval

from labkit.course.reset import reset

NOWHERE = {
    "http_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "no_proxy": "127.0.0.1,localhost",
    "NO_PROXY": "127.0.0.1,localhost",
}


def _state(lab) -> dict:
    return json.loads((lab.home / "state.json").read_text())


def _restart_package_source(lab, env: dict[str, str]) -> dict:
    pid = _state(lab)["packages"]["pid"]
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.05)
    lab.labkit("up", env=env)
    return _state(lab)["packages"]


@pytest.fixture
def closed(lab):
    """The lab with Debian's archive out of reach, for the test's length."""
    bridge = _state(lab)["engine"]["bridge"]
    rule = ["FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "REJECT"]
    subprocess.run(["iptables", "-w", "-I", *rule[:1], "1", *rule[1:]], check=True)
    try:
        packages = _restart_package_source(lab, NOWHERE)
        yield packages
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=False)
        _restart_package_source(lab, {})


@pytest.mark.course  # on both engines: BuildKit and the legacy builder both pass the proxy on
def test_lessons_04_06_and_10_install_from_the_lab_with_debian_out_of_reach(lab, ctx, closed):
    direct = lab.docker(
        "run",
        "--rm",
        "busybox",
        "wget",
        "-q",
        "-T",
        "5",
        "-O",
        "/dev/null",
        "http://deb.debian.org/debian/",
        check=False,
    )
    assert direct.returncode != 0  # the containers cannot reach Debian's archive themselves
    url = f"http://{closed['address']}:{closed['port']}"
    lab.docker("pull", "-q", "debian:bookworm-slim")
    fresh = lab.docker(
        "run",
        "--rm",
        "-e",
        f"http_proxy={url}",
        "debian:bookworm-slim",
        "sh",
        "-c",
        "apt-get update -q >/dev/null 2>&1; apt-get download -q hello 2>&1 || true",
        check=False,
    )
    assert "404" in fresh.stdout + fresh.stderr  # nor can the package source: what it does not hold is not there
    for name in ("04-layers", "06-try-it", "10-multi-stage"):  # curl; markdown and its perl
        notebook = REPO / "notebooks" / f"{name}.ipynb"
        shutil.copy(notebook, ctx.workspace / notebook.name)
        reset(ctx)
        result = nbval(lab, ctx.workspace, notebook)
        assert result.returncode == 0, (
            f"{name} without Debian's archive:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )


def test_a_machine_with_no_network_gets_everything_from_a_bundle(lab, tmp_path):
    """The workshop's path: a bundle saved with --wheels where there is internet; on a machine with no
    network at all (a network namespace of its own), `make venv BUNDLE=…` installs labkit from it and
    `labkit up --bundle …` brings up a lab (labkit's own engine) whose mirror and package source hold
    everything the course needs, nothing built, nothing fetched."""
    from labkit.registries.bundles import contents

    bundle = tmp_path / "course-bundle.tar"
    saved = lab.labkit("mirror", "save", str(bundle), "--wheels", timeout=1200)
    said = contents(bundle)
    assert said["packages"] > 10 and any(w.startswith("jupyterlab-") for w in said["wheels"]), saved.stdout
    checkout = tmp_path / "checkout"  # a learner's clone: the project's files, no .venv, no cache
    subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(tmp_path / "src.tar"), "HEAD"], check=True
    )
    checkout.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "src.tar"), "-C", str(checkout)], check=True)
    for path in ("labkit", "scripts", "Makefile", "pyproject.toml"):  # what is being tested, committed or not
        target = checkout / path
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        (shutil.copytree if (REPO / path).is_dir() else shutil.copy)(REPO / path, target)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "engine").symlink_to(Path(lab.env["LABKIT_CACHE"]) / "engine")  # the engine (a machine's own: installed)
    home = tmp_path / "home"
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "LABKIT_HOME": str(home),
        "LABKIT_CACHE": str(cache),
        "PYTHON": str(python),
        "LABKIT_OFFLINE": "1",
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_FIND_LINKS": "",
    }
    offline = [
        "unshare",
        "--net",
        "--",
        "sh",
        "-c",
        f"ip link set lo up && make -C {checkout} venv BUNDLE={bundle}"
        f" && {checkout}/.venv/bin/labkit up --bundle {bundle}"
        f" && {checkout}/.venv/bin/labkit status --json > {tmp_path}/status.json; status=$?;"
        f" {checkout}/.venv/bin/labkit down; exit $status",
    ]
    done = subprocess.run(offline, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert f"installing Python packages from {bundle} (no PyPI)" in done.stdout + done.stderr
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["ok"] and sorted(status["mirror"]["details"]["images"])[:3] == [
        "busybox:latest",
        "debian:bookworm-slim",
        "nginx:latest",
    ]
    assert (cache / "packages").is_dir() and any((cache / "packages").rglob("curl_*.deb"))
    assert any((cache / "packages").rglob("markdown_*.deb"))  # lesson 10's builder stage, offline
    assert "built from Debian packages" not in done.stdout and "Docker Hub" not in done.stdout
