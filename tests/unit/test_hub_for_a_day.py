"""A hub left running for a day, its pure parts: which certificate it serves (and when plain HTTP is
allowed), its systemd unit, the inner ports it keeps from one start to the next, the labs its database
names. The hub itself serving HTTPS, taken back after kill -9, restarting a lab: tests/integration/test_hub.py."""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sqlite3
import subprocess
from pathlib import Path

import pytest

from labkit import cli, sandbox
from labkit.classroom import _systemd, _tls, hub
from labkit.errors import LabkitError


def test_plain_http_only_on_loopback_or_when_asked(tmp_path):
    assert hub.certificate(hub.HubOptions(ip="127.0.0.1", home=tmp_path)) is None
    assert hub.certificate(hub.HubOptions(ip="10.0.0.5", plain_http=True, home=tmp_path)) is None
    for ip in ("", "10.0.0.5"):  # every address of the machine, or one the class reaches
        with pytest.raises(LabkitError) as refused:
            hub.certificate(hub.HubOptions(ip=ip, home=tmp_path))
        assert "in clear" in refused.value.message and "--hostname" in refused.value.next_step
    with pytest.raises(LabkitError) as half:
        hub.certificate(hub.HubOptions(tls_cert=tmp_path / "hub.crt", home=tmp_path))
    assert "--tls-key" in half.value.next_step


def test_a_certificate_is_made_for_the_hostname_once_and_again_when_the_name_changes(tmp_path):
    from cryptography import x509

    made = hub.certificate(hub.HubOptions(hostname="lab.example.org", home=tmp_path))
    assert made.made_here and made.cert.is_relative_to(tmp_path / "tls")
    assert oct(made.key.stat().st_mode & 0o777) == "0o600"
    loaded = x509.load_pem_x509_certificate(made.cert.read_bytes())
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["lab.example.org"]
    assert hub.certificate(hub.HubOptions(hostname="lab.example.org", home=tmp_path)) == made  # kept
    assert made.fingerprint in _tls.note(made) and "accept" in _tls.note(made)
    by_address = hub.certificate(hub.HubOptions(hostname="10.0.0.5", home=tmp_path))
    assert by_address.fingerprint != made.fingerprint
    loaded = x509.load_pem_x509_certificate(by_address.cert.read_bytes())
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=_tls.DAYS - 10)
    assert _tls.made_for("10.0.0.5", tmp_path / "tls", now=later).fingerprint != by_address.fingerprint  # renewed


def test_the_instructors_certificate_is_checked_before_the_hub_starts(tmp_path):
    made = _tls.made_for("lab.example.org", tmp_path / "made")
    own = hub.certificate(hub.HubOptions(tls_cert=made.cert, tls_key=made.key, home=tmp_path))
    assert not own.made_here and own.fingerprint == made.fingerprint and _tls.note(own) == ""
    (tmp_path / "not-a-key.pem").write_text("hello\n")
    with pytest.raises(LabkitError) as wrong:
        hub.certificate(hub.HubOptions(tls_cert=made.cert, tls_key=tmp_path / "not-a-key.pem", home=tmp_path))
    assert "PEM" in wrong.value.message
    with pytest.raises(LabkitError) as missing:
        hub.certificate(hub.HubOptions(tls_cert=tmp_path / "nope.crt", tls_key=made.key, home=tmp_path))
    assert "nope.crt" in missing.value.message


def test_the_hub_config_serves_https_with_the_certificate(tmp_path):
    from labkit.home import LabPaths

    made = _tls.made_for("lab.example.org", tmp_path / "tls")
    options = hub.HubOptions(hostname="lab.example.org", home=tmp_path)
    text = hub._config(LabPaths(home=tmp_path / "lab", cache=tmp_path / "cache"), options, "chp", tmp_path, made)
    values: dict = {}
    exec(text.split("\ndef _landing")[0], {"c": _Config(values)})
    assert values["JupyterHub.bind_url"] == "https://0.0.0.0:8000"
    assert values["JupyterHub.ssl_cert"] == str(made.cert) and values["JupyterHub.ssl_key"] == str(made.key)
    assert made.fingerprint in values["WorkshopAuthenticator.certificate_note"]
    assert options.url(made) == "https://lab.example.org:8000/"


class _Config:
    """jupyterhub_config.py's `c`, recording what is set: c.Section.name = value."""

    def __init__(self, values: dict) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, section: str):
        values = self._values

        class Section:
            def __setattr__(self, name, value):
                values[f"{section}.{name}"] = value

        return Section()


def test_the_inner_ports_are_kept_while_free(tmp_path):
    first = hub._ports(tmp_path, ("hub", "proxy_api"))
    assert hub._ports(tmp_path, ("hub", "proxy_api")) == first  # a lab taken back reaches the hub where it did
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first["hub"]))
        taken.listen()
        again = hub._ports(tmp_path, ("hub", "proxy_api"))
    assert again["hub"] != first["hub"] and again["proxy_api"] == first["proxy_api"]
    (tmp_path / "ports.json").write_text('{"hub": 0}')
    assert hub._ports(tmp_path, ("hub",))["hub"] > 0


def test_the_service_unit_runs_the_same_hub_and_keeps_the_codes_out_of_it(tmp_path):
    made = _tls.made_for("lab.example.org", tmp_path / "tls")
    options = hub.HubOptions(
        port=8443, ip="10.0.0.5", code="blue 42", admin_code='te"ach', tls_cert=made.cert, tls_key=made.key
    )
    variables = {"LABKIT_HUB_CODE": options.code, "LABKIT_HUB_ADMIN_CODE": options.admin_code}
    unit = _systemd.install(
        hub.unit_argv(options), variables, units=tmp_path / "units", settings=tmp_path / "etc", start=False
    )
    text = unit.read_text()
    assert "blue 42" not in text and "te" + '"ach' not in text
    settings = tmp_path / "etc" / "hub.env"
    assert oct(settings.stat().st_mode & 0o777) == "0o600"
    assert settings.read_text() == 'LABKIT_HUB_CODE="blue 42"\nLABKIT_HUB_ADMIN_CODE="te\\"ach"\n'
    # systemd reads it without a complaint (it says what it ignores on stderr, and still answers 0)
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert (
        lines["KillMode"] == "mixed" and lines["Restart"] == "on-failure" and lines["EnvironmentFile"] == str(settings)
    )
    argv = shlex.split(lines["ExecStart"])
    assert argv[1:3] == ["-m", "labkit"]
    parser = argparse.ArgumentParser()
    cli.add_hub(parser.add_subparsers())
    args = parser.parse_args(argv[3:])
    assert (args.port, args.ip, args.tls_cert, args.tls_key) == (8443, "10.0.0.5", made.cert, made.key)
    assert (args.memory, args.pids, args.disk) == (options.limits.memory, options.limits.pids, options.limits.disk)
    assert not args.install_service and args.code is None  # the codes come from the environment file


def test_a_unit_refuses_a_setting_of_two_lines(tmp_path):
    with pytest.raises(LabkitError):
        _systemd.environment({"LABKIT_HUB_CODE": "a\nb"})


def test_the_labs_of_a_killed_hub_are_read_from_its_database(tmp_path):
    assert hub.labs_in_database(tmp_path) == frozenset()
    with sqlite3.connect(tmp_path / "jupyterhub.sqlite") as db:
        db.execute("CREATE TABLE spawners (id INTEGER, server_id INTEGER, state TEXT)")
        db.executemany(
            "INSERT INTO spawners VALUES (?, ?, ?)",
            [
                (1, 7, json.dumps({"sandbox": "labkit-sb-41-u2", "pid": 99})),
                (2, None, json.dumps({"sandbox": "labkit-sb-41-u3"})),  # stopped: no server
                (3, 8, None),
                (4, 9, "not json"),
            ],
        )
    assert hub.labs_in_database(tmp_path) == frozenset({"labkit-sb-41-u2"})


def test_a_process_another_run_started_is_polled_as_popen_is(tmp_path):
    done = subprocess.Popen(["true"])
    done.wait()
    assert sandbox.Running(done.pid).poll() == 0
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert sandbox.Running(sleeper.pid).poll() is None
        sleeper.kill()
        import time

        time.sleep(0.2)
        assert sandbox.Running(sleeper.pid).poll() == 0  # a zombie no longer runs
    finally:
        sleeper.wait()
    assert sandbox.adopt(_spec("labkit-sb-1-u999999")) is None  # nothing of it: nothing to take back


def _spec(name: str) -> sandbox.Spec:
    from types import SimpleNamespace

    return sandbox.Spec(name=name, limits=sandbox.Limits(), engine=SimpleNamespace(), mirror_data=Path("/nonexistent"))


def test_without_systemd_install_service_says_so_and_goes_on_in_the_foreground(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_systemd, "available", lambda: False)
    said = []
    monkeypatch.setattr(cli.err, "print", lambda text, *a, **k: said.append(str(text)))

    def start(paths, options, watcher):
        raise LabkitError("started in the foreground", "")

    monkeypatch.setattr(hub, "start", start)
    parser = argparse.ArgumentParser()
    cli.add_hub(parser.add_subparsers())
    args = parser.parse_args(["hub", "--install-service", "--code", "a", "--admin-code", "b"])
    with pytest.raises(LabkitError, match="started in the foreground"):
        args.func(args, None)
    assert any("does not run systemd" in line and "foreground" in line for line in said), said


def test_the_labs_made_ahead_are_sized_from_the_machine():
    from labkit.classroom import _warm

    meminfo = "MemTotal: 24000000 kB\nMemAvailable: {} kB\n"
    assert _warm.default_count(meminfo.format(22_000_000), 2, 512 * 2**20) == 12  # six a core
    assert _warm.default_count(meminfo.format(22_000_000), 16, 512 * 2**20) == 20  # a quarter of the memory
    assert _warm.default_count(meminfo.format(400_000), 2, 512 * 2**20) == 0  # less than the hub keeps free
    assert hub.HubOptions(warm=3).warm_count() == 3
    assert "--warm" not in hub.unit_argv(hub.HubOptions()) and hub.unit_argv(hub.HubOptions(warm=0))[-2:] == [
        "--warm",
        "0",
    ]


def test_install_service_as_another_user_says_it_needs_root(monkeypatch):
    """Before: writing /etc/labkit as an ordinary user ended in a PermissionError's traceback."""
    monkeypatch.setattr(_systemd, "available", lambda: True)
    monkeypatch.setattr(cli.os, "geteuid", lambda: 1000)
    parser = argparse.ArgumentParser()
    cli.add_hub(parser.add_subparsers())
    args = parser.parse_args(["hub", "--install-service", "--code", "a", "--admin-code", "b"])
    with pytest.raises(LabkitError) as refused:
        args.func(args, None)
    assert "needs root" in refused.value.message and refused.value.next_step == "run it with sudo."
