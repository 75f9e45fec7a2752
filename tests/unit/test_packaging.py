"""pyproject.toml and environment.yml declare the same dependencies; CI runs `make test`; the wheel
carries every module of labkit and no solution."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from authoring.solutions import SOLUTIONS
from labkit.course.catalog import EXERCISES

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
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_test_runs_pytest():
    recipe = _recipe((ROOT / "Makefile").read_text(), "test")
    assert recipe, "the Makefile's test target has no recipe"
    assert any(re.search(r"(^|\s|/)(python\S*\s+-m\s+)?pytest(\s|$)", line) for line in recipe), recipe


#: Tools or flags a stock Mac (BSD userland, bash 3.2) lacks.
GNU_ONLY = [
    r"\btimeout\s",
    r"readlink\s+-f",
    r"sed\s+-i\b",
    r"stat\s+-c",
    r"date\s+-d",
    r"grep\s+-\w*P",
    r"\bnproc\b",
    r"declare\s+-A",
    r"mapfile",
    r"readarray",
    r"\$\{\w+,,\}",
    r"\$\{\w+\^\^\}",
]


def test_make_lab_runs_on_a_mac():
    """`make lab`'s recipes and the scripts they run use no GNU-only tool nor bash 4 (a stock Mac has neither)."""
    makefile = (ROOT / "Makefile").read_text()
    texts = {
        "Makefile (lab, venv)": "\n".join(_recipe(makefile, "lab") + _recipe(makefile, "$(VENV)/.installed")),
        "scripts/install-deps.sh": (ROOT / "scripts/install-deps.sh").read_text(),
        "scripts/install-python.sh": (ROOT / "scripts/install-python.sh").read_text(),
        "scripts/python.sh": (ROOT / "scripts/python.sh").read_text(),
    }
    for name, text in texts.items():
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        found = [pattern for pattern in GNU_ONLY if re.search(pattern, code)]
        assert not found, f"{name} uses {found}"
    assert "install-python.sh" in "".join(_recipe(makefile, "$(VENV)/.installed"))
    assert "scripts/python.sh" in (ROOT / "scripts/install-python.sh").read_text()  # the Python is found, not assumed


def test_make_lab_installs_what_a_learner_needs_only():
    makefile = (ROOT / "Makefile").read_text()
    learner = "\n".join(_recipe(makefile, "$(VENV)/.installed"))
    assert "install-python.sh" in learner and "[test]" not in learner and "[hub]" not in learner
    assert "[test]" in "".join(_recipe(makefile, "$(VENV)/.installed-test"))
    assert "venv-test" in makefile.split("\ntest:")[1].splitlines()[0]


# --- the wheel: what an installed labkit (a learner's kernel, a graded one) imports ----------------
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> dict[str, str]:
    """labkit's wheel, built by pip from a copy of the sources (a build writes build/ and
    *.egg-info next to them), as {name: text} of its files."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT / "labkit", src / "labkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}\n{built.stderr}"
    (path,) = (tmp / "dist").glob("labkit-*.whl")
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode(errors="replace") for name in archive.namelist()}


def test_the_wheel_carries_every_module_of_labkit_and_nothing_else(wheel):
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "labkit").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules - set(wheel) == set()
    packages = {name.rsplit("/", 1)[0] for name in wheel if name.endswith("/__init__.py")}
    rooms = (
        "machine",
        "home",
        "engines",
        "registries",
        "sandbox",
        "labs",
        "course",
        "course/catalog",
        "course/checks",
        "ui",
        "grading",
        "classroom",
    )
    assert {"labkit", *(f"labkit/{room}" for room in rooms)} <= packages
    assert {name.split("/", 1)[0] for name in wheel if ".dist-info/" not in name} == {
        "labkit"
    }  # not authoring/, tests/, …


def _strings(source: str) -> list[str]:
    """A module's string constants as the program sees them (escapes undone; the literal parts of
    f-strings), docstrings included."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


#: What labkit carries on purpose: each exercise's task, setup and hints (the last hint may be the
#: command itself), and the names of what it makes. A solution command found there is no secret;
#: every other one is.
PUBLIC = [
    text
    for e in EXERCISES
    for text in (
        e.task,
        *e.setup,
        *e.hints,
        *e.resources.images,
        *e.resources.containers,
        *e.resources.files,
        *e.resources.repositories,
    )
]
SECRET = sorted({c for s in SOLUTIONS.values() for c in s.commands if not any(c in text for text in PUBLIC)})


def test_the_wheel_gives_no_solution_away(wheel):
    assert "docker commit tryit-box debian-with-curl" in SECRET  # the test looks for something
    assert any("org.opencontainers.image.authors" in c for c in SECRET)  # the capstone's Dockerfile
    found = set()
    for name, text in wheel.items():
        found |= {
            (name, c) for c in SECRET if c in text
        }  # a command as written, in any file (METADATA holds the README)
        if not name.endswith(".py"):
            continue
        strings = _strings(text)
        found |= {(name, c) for c in SECRET if any(c in s for s in strings)}  # a command, as the program sees it
        # a part of one, long enough to be no accident: a Dockerfile kept as a constant, spliced into a command
        found |= {
            (name, s)
            for s in strings
            if len(s) >= 24 and any(s in c for c in SECRET) and not any(s in t for t in PUBLIC)
        }
    assert sorted(found) == []
