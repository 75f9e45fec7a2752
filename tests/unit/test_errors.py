"""Every labkit error says what went wrong and what to do next; the CLI prints it, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import errors
from labkit.cli import main
from labkit.labs import lifecycle

TAIL = 'level=info msg=starting\nlevel=fatal msg="failed to start daemon"'


def _lines(error: Exception) -> list[str]:
    return str(error).splitlines()


def _next_lines(error: Exception) -> list[str]:
    return [line for line in _lines(error) if line.startswith("  Next:")]


def _has_tail(error: Exception) -> None:
    lines = _lines(error)
    assert "  Last lines of the log:" in lines
    for line in TAIL.splitlines():
        assert "    " + line in lines


def test_engine_unreachable():
    e = errors.EngineUnreachable("unix:///run/x.sock", "connection refused")
    assert _lines(e)[0] == "The Docker engine is not reachable at unix:///run/x.sock: connection refused"
    assert len(_next_lines(e)) == 1 and "labkit up" in _next_lines(e)[0]
    assert (e.host, e.reason) == ("unix:///run/x.sock", "connection refused")


def test_engine_unreachable_with_own_next_step():
    e = errors.EngineUnreachable("tcp://h:2375", "timed out", next_step="ask the teacher")
    assert _next_lines(e) == ["  Next: ask the teacher"]


def test_engine_start_failed_names_log_and_tail(tmp_path):
    log = tmp_path / "dockerd.log"
    e = errors.EngineStartFailed("it exited with status 1", log, TAIL)
    assert _lines(e)[0] == f"The lab's Docker engine (dockerd) did not start: it exited with status 1 (log: {log})"
    _has_tail(e)
    assert len(_next_lines(e)) == 1
    assert _lines(e)[-1].startswith("  Next:")


def test_engine_start_failed_without_log_or_tail():
    e = errors.EngineStartFailed("needs root", None, "   \n")
    assert "log" not in _lines(e)[0]
    assert "Last lines" not in str(e)
    assert len(_next_lines(e)) == 1


def test_registry_start_failed(tmp_path):
    log = tmp_path / "registry.log"
    e = errors.RegistryStartFailed("course registry", "it did not answer within 20 s", log, TAIL)
    assert "course registry" in _lines(e)[0] and "it did not answer within 20 s" in _lines(e)[0]
    assert f"(log: {log})" in _lines(e)[0]
    _has_tail(e)
    assert len(_next_lines(e)) == 1 and "labkit up" in _next_lines(e)[0]


def test_debootstrap_failed(tmp_path):
    log = tmp_path / "debootstrap.log"
    e = errors.DebootstrapFailed("http://deb.example/debian", "Couldn't download Release", log, TAIL)
    assert isinstance(e, errors.BuildError)
    assert "debian:bookworm-slim" in _lines(e)[0]
    assert "http://deb.example/debian" in _lines(e)[0] and "Couldn't download Release" in _lines(e)[0]
    assert f"(full log: {log})" in _lines(e)[0]
    _has_tail(e)
    assert len(_next_lines(e)) == 1
    assert "http://deb.example/debian" in _next_lines(e)[0] and "LABKIT_DEBIAN_MIRROR" in _next_lines(e)[0]


def test_missing_program():
    e = errors.MissingProgram("debootstrap", "debootstrap", "to build debian:bookworm-slim offline")
    assert _lines(e)[0] == "`debootstrap` is not installed; the lab needs it to build debian:bookworm-slim offline."
    assert _next_lines(e) == [
        "  Next: install it (on Debian/Ubuntu: `apt-get install debootstrap`), or run `make lab`, which installs it."
    ]


def test_error_without_next_step_is_just_the_message():
    assert str(errors.LabkitError("plain")) == "plain"


# --- the command line ---------------------------------------------------------------
@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_cli_maps_labkit_error_to_exit_1(home, monkeypatch, capsys):
    def env(paths):
        assert paths.home == home.resolve()
        raise errors.StateError("x", "y")

    monkeypatch.setattr(lifecycle, "env", env)
    assert main(["env"]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["labkit: x", "  Next: y"]
    assert "Traceback" not in captured.err + captured.out
    assert "export" not in captured.out


def test_cli_env_before_up_says_to_run_up(home, capsys):
    assert main(["env"]) == 1
    captured = capsys.readouterr()
    assert "has not been started" in captured.err and "Next: run `labkit up`" in captured.err
    assert captured.out == ""


def test_cli_status_json_on_empty_home(home, capsys):
    assert main(["status", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["ok"] is False
    for part in ("engine", "registry", "mirror"):
        assert status[part]["up"] is False, part
        assert "labkit up" in status[part]["summary"]
    assert status["registry"]["details"]["password_file"] == str(home.resolve() / "registry" / "password")
    assert not (home / "state.json").exists()


def test_cli_status_on_corrupt_state_names_the_file(home, capsys):
    state_file = home / "state.json"
    state_file.write_text("{not json")
    assert main(["status"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.startswith("labkit: ")
    assert "Next:" in captured.err
    assert str(state_file.resolve()) in captured.err


def test_cli_check_of_an_unknown_exercise_exits_3_with_the_close_matches(home, tmp_path, monkeypatch, capsys):
    from fakes import FakeEngine, fake_context

    from labkit import cli

    monkeypatch.setattr(cli, "_context", lambda args: fake_context(FakeEngine(), tmp_path))
    assert main(["check", "layers.cahce"]) == 3
    captured = capsys.readouterr()
    assert captured.err == "labkit: No such exercise `layers.cahce`: did you mean `layers.cache`?\n"
    assert captured.out == ""


def test_cli_check_with_the_lab_down_is_a_lab_problem_exit_2(home, capsys):
    assert main(["check", "start.pull"]) == 2
    captured = capsys.readouterr()
    assert "labkit: The lab is not up." in captured.err and "Next: run `labkit up`" in captured.err


def test_cli_check_help_and_readme_give_every_exit_status():
    from labkit.cli import build_parser

    statuses = "exit 0 passed, 1 not yet, 2 lab problem, 3 no such exercise"
    assert statuses in " ".join(build_parser().format_help().split())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert any(line.startswith(".venv/bin/labkit check ") and statuses in line for line in readme.splitlines())


def test_notebook_check_of_an_unknown_exercise_says_no_such_exercise(tmp_path, monkeypatch):
    """The learner's typo, shown plainly with the close matches: not a lab problem, nothing recorded."""
    from fakes import FakeEngine, fake_context

    from labkit.course import ProgressStore
    from labkit.ui import _notebook

    lab = _notebook.Lab()
    ctx = fake_context(FakeEngine(), tmp_path)
    monkeypatch.setattr(lab, "_context", lambda: ctx)
    text = "No such exercise `layers.cahce`: did you mean `layers.cache`?"
    for shown in (lab.check("layers.cahce"), lab.hint("layers.cahce")):
        bundle = shown._repr_mimebundle_()
        assert bundle["text/plain"] == repr(shown) == text
        assert "LAB PROBLEM" not in bundle["text/html"] and "layers.cache" in bundle["text/html"]
    assert ProgressStore.for_paths(ctx.paths).history() == []


def test_cli_error_keeps_a_long_path_on_one_line(tmp_path, monkeypatch, capsys):
    """Regression: errors went through rich, which wrapped them at 80 columns and split paths."""
    home = tmp_path / ("a-long-lab-home-" * 6) / ("nested-" * 12)
    home.mkdir(parents=True)
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    state_file = (home / "state.json").resolve()
    state_file.write_text("{not json")
    assert main(["status"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"labkit: The lab's state file {state_file} cannot be read")
    assert lines[-1].startswith("  Next:") and str(state_file) in lines[-1]


# ---------------------------------------------------------------- the one boundary for outside errors


def _through_boundary(side: str, error: Exception, **where: str) -> BaseException:
    from labkit.errors import outside_errors

    try:
        with outside_errors(side, **where):
            raise error
    except BaseException as e:  # noqa: BLE001  (what came out is the point)
        return e
    raise AssertionError("nothing was raised")


def test_only_not_reaching_the_engine_is_called_unreachable():
    import docker.errors
    import requests.exceptions

    from labkit.errors import EngineError, EngineUnreachable, ImageMissing

    host = "unix:///run/lab.sock"
    no_version = docker.errors.DockerException("Error while fetching server API version: Connection refused")
    assert type(_through_boundary("engine", no_version, host=host)) is EngineUnreachable
    assert (
        type(_through_boundary("engine", requests.exceptions.ConnectionError("refused"), host=host))
        is EngineUnreachable
    )
    for answer in (docker.errors.InvalidArgument("bad mount"), docker.errors.BuildError("RUN false failed", [])):
        mapped = _through_boundary("engine", answer, host=host)
        assert type(mapped) is EngineError and mapped.__cause__ is answer, mapped
        assert "not reachable" not in str(mapped) and "could not do that" in str(mapped)
    missing = _through_boundary("engine", docker.errors.ImageNotFound("no such image"), host=host, ref="nginx")
    assert isinstance(missing, ImageMissing) and missing.ref == "nginx"


def test_the_boundary_raises_what_its_table_does_not_name():
    from labkit.errors import LabkitError, RegistryUnreachable

    bug = ValueError("a bug of labkit's own")
    assert _through_boundary("engine", bug, host="h") is bug
    ours = LabkitError("already ours")
    assert _through_boundary("registry", ours, url="u") is ours
    import requests.exceptions

    assert (
        type(_through_boundary("registry", requests.exceptions.ReadTimeout("slow"), url="http://r"))
        is RegistryUnreachable
    )


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """`labkit status --json | head -1`: the reader is gone before labkit has written everything."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as on most machines
    env["LABKIT_HOME"] = str(tmp_path / "home")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "labkit", "status", "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141
