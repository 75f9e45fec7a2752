"""labkit's house: rooms whose imports point one way, each entered through its face, and a
CheckResult that needs no engine.

    errors  <-  machine  <-  home  <-  engines  <-  registries  <-  sandbox  <-  labs  <-  course
            <-  ui  <-  grading | classroom  <-  cli
(an arrow reads "is imported by"). A module may import its own room and any room to its left,
never one to its right: the engines know nothing of a lab, the course nothing of how it is shown;
grading and the classroom stand side by side, neither on the other. Every import counts, also one
inside a function. From another room, a module imports a room's face (`labkit.engines`) or one
of its public modules (`labkit.engines.dockerd`), never a `_private` one, and only names the face
lists in `__all__`.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import labkit

PACKAGE = Path(labkit.__file__).parent
RANK = {
    "errors": 0,
    "_startup": 0,
    "_faces": 0,
    "machine": 1,
    "home": 2,
    "engines": 3,
    "registries": 4,
    "sandbox": 5,
    "labs": 6,
    "course": 7,
    "ui": 8,
    "grading": 9,
    "classroom": 9,
    "cli": 10,
    "__main__": 11,
}
GROUND = {"errors", "_startup", "_faces"}  # modules, not rooms: anything may import their names


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
    parts = {_part(_module(path)) for path in PACKAGE.rglob("*.py")}  # every room, and every ground module
    assert parts <= set(RANK) | {"labkit"}, parts - set(RANK)


def test_imports_point_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _part(_module(path))
        if mine == "labkit":
            continue
        for target, line in _imports(path):
            theirs = _part(target)
            if theirs != "labkit" and theirs != mine and RANK[theirs] >= RANK[mine]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports {target} ({theirs})")
            if theirs == "labkit":
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports the package's face ({target})")
    assert wrong == []


def test_rooms_are_entered_through_their_faces():
    """Across rooms: a face's name (in its `__all__`) or a public module, never a `_private` module."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _part(_module(path))
        for target, line in _imports(path):
            theirs = _part(target)
            if theirs in (mine, "labkit") or theirs in GROUND:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            inside = target.split(".")[2:]
            if any(bit.startswith("_") for bit in inside):
                wrong.append(f"{where}: a private module of {theirs}")
            elif len(inside) == 1 and not _is_module(f"labkit.{theirs}.{inside[0]}"):
                face = importlib.import_module(f"labkit.{theirs}")
                if inside[0] not in getattr(face, "__all__", ()):
                    wrong.append(f"{where}: not named in labkit.{theirs}.__all__")
    assert wrong == []


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None if name.count(".") else True
    except (ModuleNotFoundError, AttributeError):  # a name inside a module, not a module
        return False


def test_every_face_names_only_what_it_has():
    for room in [r for r in RANK if (PACKAGE / r / "__init__.py").exists()]:
        face = importlib.import_module(f"labkit.{room}")
        missing = [
            name
            for name in getattr(face, "__all__", ())
            if not hasattr(face, name) and importlib.util.find_spec(f"labkit.{room}.{name}") is None
        ]
        assert missing == [], f"labkit.{room}.__all__ names what it does not have"


def test_the_walk_sees_an_import_inside_a_function():
    source = "def f():\n    from ..ui.render import result_text\n"
    assert _imports(PACKAGE / "course" / "probe.py", source) == [("labkit.ui.render", 2)]


def _loads(code: str) -> list[str]:
    heavy = "('docker', 'requests', 'ipywidgets')"
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m for m in {heavy} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split()  # the modules, printed last


def test_a_check_result_and_its_rendering_need_no_docker_sdk():
    assert _loads("import labkit.course") == []
    shown = (
        "from labkit import CheckResult; from labkit.ui import render; print(render.result_html(CheckResult.ok('x')))"
    )
    assert _loads(shown) == []


def test_a_check_result_is_shown_by_ui_without_being_told_at_import():
    """Rendering lives in ui.render, called where a result is shown; nothing registers it on import."""
    probe = (
        "import sys, labkit; from labkit import CheckResult; "
        "print(str(CheckResult.ok('fine')), 'labkit.ui' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["passed:", "fine", "False"], result.stderr


def test_no_room_shadows_the_notebook_api():
    """`from labkit import lab` is the notebook API, whatever rooms were imported before (a room named
    `lab` would be the attribute `labkit.lab` once imported, and the notebooks' first line would break)."""
    rooms = "; ".join(f"import labkit.{room}" for room in RANK if (PACKAGE / room / "__init__.py").exists())
    probe = f"{rooms}; import labkit.labs.fresh; from labkit import lab; print(type(lab).__name__)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["Lab"], result.stderr
    assert "lab" not in RANK


def test_the_notebook_api_is_still_one_import_away():
    assert "docker" in _loads("from labkit import lab; print(type(lab).__name__)")


#: What the integration tests and benchmarks may reach behind a face, and why: a sandbox's cgroup is
#: read from outside it, to prove its limits and that nothing of a run is left over.
INTERNALS_OUTSIDE_UNIT_TESTS = {"labkit.sandbox._cgroups"}


def test_integration_tests_and_benchmarks_use_the_faces():
    """Unit tests may test a module's own internals; the rest of the tests and the benchmarks go in
    through the faces, as labkit's own rooms do."""
    root = PACKAGE.parent
    wrong = []
    for path in sorted([*(root / "tests" / "integration").glob("*.py"), *(root / "bench").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("labkit")]
            for name in names:
                private = any(bit.startswith("_") for bit in name.split(".")[2:])
                if private and name not in INTERNALS_OUTSIDE_UNIT_TESTS and _is_module(name):
                    wrong.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    assert wrong == []
