"""The course registry: a login is required, and what is pushed is what the API reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit._registry_api import RegistryClient


@pytest.fixture
def image(lab):
    """A small image to push, tagged for the course registry; removed afterwards."""
    lab.docker("pull", "busybox")
    ref = f"{lab.registry}/learner/regtest:v1"
    lab.docker("tag", "busybox", ref)
    yield ref
    lab.docker("rmi", ref, check=False)
    lab.docker("logout", lab.registry, check=False)


def test_push_without_login_is_refused(lab, image):
    lab.docker("logout", lab.registry, check=False)
    result = lab.docker("push", image, check=False)
    assert result.returncode != 0
    assert "no basic auth credentials" in result.stdout + result.stderr


def test_login_with_a_wrong_password_is_refused(lab):
    result = lab.docker("login", "-u", "learner", "--password-stdin", lab.registry, input="wrong\n", check=False)
    assert result.returncode != 0
    assert "401" in result.stderr or "unauthorized" in result.stderr.lower()


def test_login_push_pull_and_the_api_digest_matches(lab, image):
    login = lab.docker("login", "-u", "learner", "--password-stdin", lab.registry, input=lab.password + "\n")
    assert "Login Succeeded" in login.stdout
    lab.docker("push", image)
    repo_digests = json.loads(lab.docker("image", "inspect", image, "--format", "{{json .RepoDigests}}").stdout)
    pushed = [d.split("@", 1)[1] for d in repo_digests if d.startswith(f"{lab.registry}/learner/regtest@")]
    assert pushed, repo_digests
    client = RegistryClient(lab.registry, auth=("learner", lab.password))
    assert client.manifest_digest("learner/regtest", "v1") == pushed[0]
    assert client.manifest_digest("learner/regtest", "nope") is None
    assert "v1" in client.tags("learner/regtest")
    assert "learner/regtest" in client.catalog()
    lab.docker("rmi", image)
    lab.docker("pull", image)
    assert lab.docker("image", "inspect", image).returncode == 0


def _listeners(port: int) -> set[str]:
    """The local addresses listening on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_registry_and_mirror_listen_on_loopback_only(lab):
    for address in (lab.registry, lab.mirror):
        listeners = _listeners(int(address.rsplit(":", 1)[1]))
        assert listeners == {"0100007F"}, f"{address} listens on {listeners}"  # 127.0.0.1 only
