"""Docker Images Lab: the helper library of the course notebooks.

    from labkit import lab
    lab.check("start.pull")

The package is in four parts, imports pointing one way (docs/architecture.md): `the lab's rooms` (the
running lab), `course` (what is taught and checked), `ui` (what a person sees), `grading`;
and `errors`, every labkit exception. `lab` is made on first use, so importing labkit (or a
`CheckResult`) does not import the Docker SDK.
"""

from .course import CheckResult
from .errors import LabkitError
from .ui import render  # noqa: F401  (a CheckResult shows itself through it)

__version__ = "0.1.0"
__all__ = ["CheckResult", "LabkitError", "lab", "__version__"]


def __getattr__(name: str):
    if name == "lab":
        from .ui import lab

        return lab
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
