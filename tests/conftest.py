"""Shared fixtures: one real lab (managed dockerd, course registry, mirror) per test session.

A test that needs the engine never skips: if the lab cannot be brought up, the test
fails with what `labkit up` said. `make test` installs everything the lab needs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LABKIT = [sys.executable, "-m", "labkit"]


@dataclass
class Lab:
    """A running lab and the environment that points commands at it."""

    home: Path
    env: dict[str, str]
    status: dict = field(default_factory=dict)
    start_output: str = ""  # what `labkit up` said when the lab was started

    def labkit(
        self, *args: str, check: bool = True, env: dict | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        return run([*LABKIT, *args], env={**self.env, **(env or {})}, check=check, timeout=timeout)

    def docker(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        return run(["docker", *args], env=self.env, check=check, input=input, timeout=timeout)

    @property
    def host(self) -> str:
        return self.status["engine"]["details"]["host"]

    @property
    def registry(self) -> str:
        return self.status["registry"]["details"]["url"]

    @property
    def mirror(self) -> str:
        return self.status["mirror"]["details"]["url"]

    @property
    def password(self) -> str:
        return Path(self.status["registry"]["details"]["password_file"]).read_text().strip()

    def refresh(self) -> dict:
        result = self.labkit("status", "--json", check=False)
        import json

        self.status = json.loads(result.stdout)
        return self.status


def run(argv, env, check=True, input=None, timeout=600) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, input=input, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def lab_environment(home: Path, docker_config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "LABKIT_"))}
    env.update(
        LABKIT_HOME=str(home),
        # Built base images are cached across test runs (the cache is rebuildable, never state).
        LABKIT_CACHE=os.environ.get("LABKIT_CACHE", str(REPO / ".cache" / "labkit")),
        LABKIT_OFFLINE="1",  # never probe Docker Hub from the tests
        **(
            {"LABKIT_DOCKERD": os.environ["LABKIT_DOCKERD"]} if os.environ.get("LABKIT_DOCKERD") else {}
        ),  # `make test`'s second run
        DOCKER_CONFIG=str(docker_config),
        PYTHONPATH=str(REPO),
    )
    return env


def start_lab(home: Path, docker_config: Path, *up_args: str, env: dict[str, str] | None = None) -> Lab:
    lab = Lab(home, {**lab_environment(home, docker_config), **(env or {})})
    result = lab.labkit("up", *up_args, check=False, timeout=900)
    lab.start_output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(
            "`labkit up` failed, so the tests that need a real engine cannot run "
            f"(CI must never skip them):\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    lab.refresh()
    lab.env.update(lab_shell(lab))  # as a learner's shell after `eval "$(labkit env)"`: the lab's docker CLI first
    return lab


def lab_shell(lab: Lab) -> dict[str, str]:
    """The variables `labkit env` exports (DOCKER_HOST; for a lab of its own engine, its CLI's PATH and config)."""
    said = lab.labkit("env").stdout
    exports = [shlex.split(line.removeprefix("export "))[0] for line in said.splitlines() if line.startswith("export ")]
    return dict(item.split("=", 1) for item in exports)


def stop_lab(lab: Lab) -> None:
    lab.labkit("down", check=False, env={"DOCKER_HOST": ""})
    data = lab.home / "engine" / "data"
    if data.exists():
        shutil.rmtree(data, ignore_errors=True)


#: The engines this session's labs ran, for the last lines of the run (`make test` runs twice).
ENGINES: list[str] = []


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    """The session's lab: labkit's own engine (LABKIT_DOCKERD's, where set), the course registry and the mirror."""
    base = tmp_path_factory.mktemp("lab")
    lab = start_lab(base / "home", base / "docker-config", "--managed")
    engine = lab.status["engine"]
    ENGINES.append(f"{engine['summary']} ({engine['details']['host']})")
    yield lab
    stop_lab(lab)


@pytest.fixture
def ctx(lab, tmp_path):
    """A check context on the session's lab, with a fresh workspace and the lab's docker config."""
    from labkit.course import LabContext
    from labkit.home import LabPaths, State

    paths = LabPaths(home=lab.home, cache=Path(lab.env["LABKIT_CACHE"]))
    context = LabContext(paths, State.load(paths), tmp_path / "workspace", Path(lab.env["DOCKER_CONFIG"]))
    context.workspace.mkdir()
    yield context
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that took screenshots (the browser tests) lists them in its report; one that named
    logs (`item.failure_logs`: a function giving paths) shows their ends, as their folders go with it."""
    outcome = yield
    report = outcome.get_result()
    shots = getattr(item, "screenshots", None)
    if report.failed and shots:
        report.sections.append(("screenshots", "\n".join(str(path) for path in shots)))
    logs = getattr(item, "failure_logs", None)
    if report.failed and logs:
        from labkit.machine import processes

        for path in logs():
            report.sections.append((f"end of {path}", processes.log_tail(path, 60)))


def pytest_terminal_summary(terminalreporter) -> None:
    for engine in ENGINES:
        terminalreporter.write_line(f"the session lab's engine: {engine}")
