"""The course registry: a login is required, and what is pushed is what the API reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.registries import RegistryClient


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


HELPER = """#!/usr/bin/env python3
# A minimal docker credential helper (store/get/erase), keeping logins in a JSON file.
import json, os, sys
path = os.environ["LABKIT_TEST_CREDS"]
data = json.load(open(path)) if os.path.exists(path) else {}
action, given = sys.argv[1], sys.stdin.read()
if action == "store":
    entry = json.loads(given); data[entry["ServerURL"]] = entry
elif action == "get":
    if given.strip() not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(data[given.strip()]))
elif action == "erase":
    data.pop(given.strip(), None)
json.dump(data, open(path, "w"))
"""


def test_a_login_kept_by_a_credential_helper_is_read_and_reset(lab, ctx, tmp_path, monkeypatch):
    from conftest import run

    from labkit.course.checks.registry import logged_in
    from labkit.course.reset import reset

    helpers = tmp_path / "bin"
    helpers.mkdir()
    (helpers / "docker-credential-labkittest").write_text(HELPER)
    (helpers / "docker-credential-labkittest").chmod(0o755)
    store = tmp_path / "creds.json"
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "labkittest"}))
    env = {
        **lab.env,
        "DOCKER_CONFIG": str(config),
        "LABKIT_TEST_CREDS": str(store),
        "PATH": f"{helpers}:{lab.env['PATH']}",
    }
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("LABKIT_TEST_CREDS", str(store))
    ctx.docker_config = config

    assert not logged_in(ctx).passed
    run(["docker", "login", "-u", "learner", "--password-stdin", lab.registry], env=env, input=lab.password + "\n")
    assert lab.registry in json.loads(store.read_text())  # the CLI kept it in the helper, not in config.json
    assert logged_in(ctx).passed

    done = reset(ctx, ["push"])
    assert any("erased the login" in line for line in done)
    assert lab.registry not in json.loads(store.read_text())
    assert not logged_in(ctx).passed
