"""The public surface of labkit is small and pinned; every error has one root."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import labkit
from labkit import errors


def test_exported_names_are_exactly_the_intended_ones():
    assert sorted(labkit.__all__) == sorted(["CheckResult", "LabkitError", "lab", "__version__"])
    for name in labkit.__all__:
        assert hasattr(labkit, name)
    assert labkit.LabkitError is errors.LabkitError
    assert isinstance(labkit.__version__, str) and labkit.__version__


def _exception_classes(module) -> list[type]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
    ]


def test_every_error_of_errors_module_subclasses_labkit_error():
    classes = _exception_classes(errors)
    assert len(classes) >= 11  # the tree in the module docstring
    for cls in classes:
        assert issubclass(cls, labkit.LabkitError), cls


def test_every_error_defined_anywhere_in_labkit_subclasses_labkit_error():
    names = [info.name for info in pkgutil.walk_packages(labkit.__path__, "labkit.") if info.name != "labkit.__main__"]
    found = []
    for name in names:
        found += _exception_classes(importlib.import_module(name))
    assert {"BundleError", "CredentialsRefused", "ImageMissing", "StreamFailed"} <= {c.__name__ for c in found}
    for cls in found:
        assert issubclass(cls, labkit.LabkitError), f"{cls.__module__}.{cls.__name__}"
    assert [f"{c.__module__}.{c.__name__}" for c in found if c.__module__ != "labkit.errors"] == [], (
        "errors live in labkit.errors"
    )
