"""pyproject.toml and environment.yml declare the same dependencies; CI runs `make test`."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: conda-forge names that differ from the pip names of pyproject.toml.
CONDA_TO_PIP = {"docker-py": "docker"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")


def _bound(spec: str) -> tuple[str, str]:
    match = REQUIREMENT.match(spec)
    assert match, f"{spec!r} has no plain `name>=version` lower bound"
    return match.group(1).lower(), match.group(2)


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_specs(pyproject: dict) -> list[str]:
    return list(pyproject["project"]["dependencies"]) + list(pyproject["project"]["optional-dependencies"]["test"])


def _conda_specs(environment: dict) -> list[str]:
    return [dep for dep in environment["dependencies"] if isinstance(dep, str)]


def _conda_bounds(environment: dict) -> dict[str, str]:
    bounds = {}
    for spec in _conda_specs(environment):
        if spec.strip() in ("pip", "python") or spec.startswith("python"):
            continue
        name, version = _bound(spec)
        bounds[CONDA_TO_PIP.get(name, name)] = version
    return bounds


def test_every_pyproject_dependency_has_a_lower_bound(pyproject):
    specs = _pip_specs(pyproject)
    assert specs, "pyproject.toml lists no dependencies"
    names = [_bound(spec)[0] for spec in specs]
    assert len(names) == len(set(names)), f"a dependency is listed twice: {names}"


def test_every_conda_dependency_has_a_lower_bound(environment):
    bounds = _conda_bounds(environment)
    assert bounds, "environment.yml lists no dependencies"
    assert all(bounds.values())


def test_pyproject_and_environment_agree(pyproject, environment):
    pip = dict(_bound(spec) for spec in _pip_specs(pyproject))
    conda = _conda_bounds(environment)
    missing_in_conda = sorted(set(pip) - set(conda))
    missing_in_pip = sorted(set(conda) - set(pip))
    assert not missing_in_conda, f"in pyproject.toml but not environment.yml: {missing_in_conda}"
    assert not missing_in_pip, f"in environment.yml but not pyproject.toml: {missing_in_pip}"
    differ = {name: (pip[name], conda[name]) for name in pip if pip[name] != conda[name]}
    assert not differ, f"lower bounds differ (pyproject, environment): {differ}"


def test_python_bound_matches_requires_python(pyproject, environment):
    python = [spec for spec in _conda_specs(environment) if re.match(r"^python\b", spec)]
    assert python == ["python>=3.11"]
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert "pip" in _conda_specs(environment)


def test_environment_installs_the_project_itself(environment):
    pip_sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    assert len(pip_sections) == 1
    assert "-e ." in pip_sections[0]


def _commands(script: str) -> list[list[str]]:
    """The shell commands of a script, without comments, blank lines and shell set-up."""
    commands = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] in ("set", "cd"):
            continue
        if words[0] == "exec":
            words = words[1:]
        commands.append(words)
    return commands


def test_ci_runs_exactly_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.startswith("#!")
    assert _commands(script) == [["make", "test"]]
    assert "set -euo pipefail" in script


def _recipe(makefile: str, target: str) -> list[str]:
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}\s*:(?!=)", line))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_test_runs_pytest():
    recipe = _recipe((ROOT / "Makefile").read_text(), "test")
    assert recipe, "the Makefile's test target has no recipe"
    assert any(re.search(r"(^|\s|/)(python\S*\s+-m\s+)?pytest(\s|$)", line) for line in recipe), recipe
