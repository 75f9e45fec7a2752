"""Where labkit looks for the learner's own engine, and the mirror setting it tells them to add."""

from __future__ import annotations

import hashlib
import json

from labkit.engines import EngineInfo
from labkit.engines.choice import DEFAULT_HOST, candidates, mirror_notes, mirror_setting, uses_mirror
from labkit.errors import NoEngine


def _context(config, name: str, host: str) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


def test_docker_host_comes_first(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.2:2375")
    assert candidates() == ["tcp://10.0.0.2:2375"]


def test_the_current_docker_context_is_followed_as_the_cli_does(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    _context(tmp_path, "desktop-linux", "unix:///home/ada/.docker/desktop/docker.sock")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "desktop-linux"}))
    assert candidates() == ["unix:///home/ada/.docker/desktop/docker.sock"]
    monkeypatch.setenv("DOCKER_CONTEXT", "default")  # the variable wins over the file, as in the CLI
    assert candidates()[0] == DEFAULT_HOST


def test_without_a_context_the_default_and_rootless_sockets_are_tried(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setattr("os.getuid", lambda: 1000)
    assert candidates() == [DEFAULT_HOST, "unix:///run/user/1000/docker.sock"]


def _info(**kw) -> EngineInfo:
    return EngineInfo("unix:///x.sock", "28.5.2", "1.51", kw.pop("mirrors", ()), **kw)


def test_the_mirror_setting_names_where_each_kind_of_engine_keeps_it():
    url = "http://127.0.0.1:5001"
    assert "Settings → Docker Engine" in mirror_setting(_info(desktop=True), url)
    assert "~/.config/docker/daemon.json" in mirror_setting(_info(rootless=True), url)
    assert "/etc/docker/daemon.json" in mirror_setting(_info(), url)
    assert f'"registry-mirrors": ["{url}"]' in mirror_setting(_info(), url)
    assert (
        uses_mirror(_info(mirrors=(url + "/",)), url) and mirror_notes("h", url, _info(mirrors=(url,)), hub=False) == []
    )
    assert "will fail" in mirror_notes("h", url, _info(), hub=False)[0]
    assert "fine while you are online" in mirror_notes("h", url, _info(), hub=True)[0]


def test_no_engine_says_what_was_tried_and_what_to_do():
    denied = NoEngine([("unix:///var/run/docker.sock", "Permission denied")])
    assert (
        "DOCKER_HOST is not set" in denied.message
        and "unix:///var/run/docker.sock: Permission denied" in denied.message
    )
    assert "docker` group" in denied.next_step and "rootless" in denied.next_step
    absent = NoEngine([("unix:///var/run/docker.sock", "No such file or directory")], "unix:///y.sock")
    assert "DOCKER_HOST is unix:///y.sock" in absent.message and "sudo make lab" in absent.next_step
