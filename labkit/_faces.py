"""How a room's face (its `__init__.py`) names what other rooms may use without loading it all.

    __getattr__, __dir__ = face(__name__, {"Engine": "_sdk", "EngineInfo": "_sdk"})

A name is imported from its module the first time it is asked for, so importing a room (or a
`CheckResult`) does not load the Docker SDK, JupyterLab or the grader. Public modules of a room
(`labkit.engines.managed`) are imported as modules, as always.
"""

from __future__ import annotations

from importlib import import_module


def face(package: str, names: dict[str, str]):
    """The `__getattr__` and `__dir__` of the face of `package`, exporting each name from its module."""
    scope = import_module(package).__dict__

    def __getattr__(name: str):
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{where}"), name)
        scope[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(scope) | set(names))

    return __getattr__, __dir__
