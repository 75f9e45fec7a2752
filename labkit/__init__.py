"""Docker Images Lab: the helper library of the course notebooks.

    from labkit import lab
    lab.check("start.pull")

The package is a house of rooms, imports pointing one way and each room entered through its
face (docs/architecture.md): machine, home, engines, registries, sandbox, lab (the running lab),
course (what is taught and checked), ui (what a person sees), grading and classroom side by side,
and the command line on top; `errors` holds every labkit exception. `lab` is made on first use,
so importing labkit (or a `CheckResult`) does not import the Docker SDK.
"""

from .course import CheckResult
from .errors import LabkitError

__version__ = "0.1.0"
__all__ = ["CheckResult", "LabkitError", "lab", "__version__"]


def __getattr__(name: str):
    if name == "lab":
        from .ui import lab

        return lab
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
