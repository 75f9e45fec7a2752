"""The course registry's password file, config file and htpasswd account."""

from __future__ import annotations

import json
import stat

import bcrypt
import pytest
import yaml

from labkit.home import LabPaths
from labkit.registries import events, programs
from labkit.registries.programs import MIRROR, REGISTRY, USER, _write_config, password


@pytest.fixture
def paths(tmp_path) -> LabPaths:
    return LabPaths(home=tmp_path / "h", cache=tmp_path / "c")


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_password_is_made_once_in_a_0600_file(paths):
    first = password(paths)
    assert paths.password_file.is_file()
    assert _mode(paths.password_file) == 0o600
    assert _mode(paths.password_file.parent) == 0o700
    assert len(first) >= 20
    assert password(paths) == first
    assert paths.password_file.read_text() == first + "\n"


def _config(paths: LabPaths, kind, port: int) -> dict:
    path = _write_config(paths, kind, port)
    assert path == programs.config_path(paths, kind)
    return yaml.safe_load(path.read_text())


def _account(config: dict) -> tuple[str, bytes]:
    htpasswd = config["auth"]["htpasswd"]["path"]
    user, _, hashed = open(htpasswd).read().strip().partition(":")
    return user, hashed.encode()


def test_registry_config_listens_on_loopback_with_htpasswd(paths):
    config = _config(paths, REGISTRY, 5999)
    assert config["http"]["addr"] == "127.0.0.1:5999"
    assert config["auth"]["htpasswd"]["realm"] == "labkit"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(paths.registry_dir("registry") / "data")
    user, hashed = _account(config)
    assert user == USER == "learner"
    assert hashed.startswith(b"$2")
    assert bcrypt.checkpw(password(paths).encode(), hashed)
    assert not bcrypt.checkpw(b"not-the-password", hashed)


def test_second_config_keeps_the_htpasswd(paths):
    config = _config(paths, REGISTRY, 5999)
    htpasswd = config["auth"]["htpasswd"]["path"]
    before = open(htpasswd).read()
    secret_before = (paths.registry_dir("registry") / "http-secret").read_text()
    again = _config(paths, REGISTRY, 6001)
    assert again["http"]["addr"] == "127.0.0.1:6001"
    assert open(again["auth"]["htpasswd"]["path"]).read() == before  # a new bcrypt salt would change it
    assert (paths.registry_dir("registry") / "http-secret").read_text() == secret_before
    assert again["http"]["secret"] == secret_before


def test_htpasswd_follows_a_new_password_file(paths):
    config = _config(paths, REGISTRY, 5999)
    paths.password_file.write_text("a-new-password\n")
    _write_config(paths, REGISTRY, 5999)
    user, hashed = _account(config)
    assert user == USER
    assert bcrypt.checkpw(b"a-new-password", hashed)


def test_mirror_config_has_no_auth(paths):
    config = _config(paths, MIRROR, 5998)
    assert config["http"]["addr"] == "127.0.0.1:5998"
    assert "auth" not in config
    assert not (paths.registry_dir("mirror") / "htpasswd").exists()
    assert config["storage"]["filesystem"]["rootdirectory"] == str(paths.registry_dir("mirror") / "data")


def test_the_learners_course_registry_posts_its_manifest_events_to_one_kept_port(paths):
    assert programs.events_port(paths, choose=False) is None
    told = yaml.safe_load(_write_config(paths, REGISTRY, 5001, notify=True).read_text())["notifications"]
    (endpoint,) = told["endpoints"]
    port = programs.events_port(paths, choose=False)
    assert endpoint["url"] == f"http://127.0.0.1:{port}{events.PATH}" == programs.events_url(paths)
    assert endpoint["ignoredmediatypes"] == ["application/octet-stream"]  # layers are no news to a check
    assert endpoint["backoff"] == programs.EVENTS_BACKOFF
    again = yaml.safe_load(_write_config(paths, REGISTRY, 5002, notify=True).read_text())["notifications"]
    assert again == told  # the port is kept: a restart does not move where the events go
    assert "notifications" not in yaml.safe_load(_write_config(paths, REGISTRY, 5001).read_text())  # a grader's


def test_the_registrys_listener_keeps_pushes_and_deletes_as_lines_and_turns_the_file_over(tmp_path):
    envelope = json.dumps(
        {
            "events": [
                {"action": "push", "target": {"repository": "learner/app", "tag": "v1", "digest": "sha256:a"}},
                {"action": "pull", "target": {"repository": "learner/app"}},
                {"action": "delete", "target": {"repository": "learner/app", "digest": "sha256:a"}},
                "odd",
            ]
        }
    ).encode()
    lines = events.told(envelope)
    assert [(line["action"], line["repository"]) for line in lines] == [
        ("push", "learner/app"),
        ("delete", "learner/app"),
    ]
    assert events.told(b"not json") == events.told(b"[1]") == []
    out = tmp_path / "events.jsonl"
    events.keep(lines, out, limit=100)
    assert len(out.read_text().splitlines()) == 2
    events.keep(lines, out, limit=100)  # past the limit: the file so far becomes .1
    assert len(out.read_text().splitlines()) == 2 and (tmp_path / "events.jsonl.1").exists()
