"""labkit's house: four parts whose imports point one way, and a CheckResult that needs no engine.

    errors  <-  infra  <-  course  <-  ui  <-  grading  <-  classroom  <-  cli
(an arrow reads "is imported by"). A module may import its own part and any part to its left,
never one to its right: the running lab knows nothing of the course, the course nothing of how
it is shown. Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import labkit

PACKAGE = Path(labkit.__file__).parent
RANK = {"errors": 0, "_lean": 0, "infra": 1, "course": 2, "ui": 3, "grading": 4, "classroom": 5, "cli": 6, "__main__": 7}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    bits = module.split(".")
    return bits[1] if len(bits) > 1 else "labkit"  # "labkit": the package's face, which may import anything


def _imports(path: Path, source: str | None = None) -> list[tuple[str, int]]:
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "labkit" or target.startswith("labkit."):
                names = [target] if node.module else [f"{target}.{alias.name}" for alias in node.names]
                found += [(name, node.lineno) for name in names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("labkit")]
    return found


def test_every_module_belongs_to_a_part():
    parts = {_part(_module(path)) for path in PACKAGE.rglob("*.py")}
    assert parts <= set(RANK) | {"labkit"}, parts - set(RANK)


def test_imports_point_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _part(_module(path))
        if mine == "labkit":
            continue
        for target, line in _imports(path):
            theirs = _part(target)
            if theirs != "labkit" and RANK[theirs] > RANK[mine]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports {target} ({theirs})")
            if theirs == "labkit":
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports the package's face ({target})")
    assert wrong == []


def test_the_walk_sees_an_import_inside_a_function():
    source = "def f():\n    from ..ui._render import result_text\n"
    assert _imports(PACKAGE / "course" / "probe.py", source) == [("labkit.ui._render", 2)]


def _loads(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m for m in ('docker', 'requests', 'ipywidgets') if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split()  # the modules, printed last


def test_a_check_result_and_its_rendering_need_no_docker_sdk():
    assert _loads("import labkit.course") == []
    assert _loads("from labkit import CheckResult; print(str(CheckResult.ok('fine')), CheckResult.ok('x')._repr_html_())") == []


def test_the_notebook_api_is_still_one_import_away():
    assert "docker" in _loads("from labkit import lab; print(type(lab).__name__)")
