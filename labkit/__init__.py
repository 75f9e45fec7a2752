"""Docker Images Lab: the helper library of the course notebooks.

    from labkit import lab
    lab.check("start.pull")
"""

from ._errors import LabkitError
from ._notebook import lab
from ._results import CheckResult

__version__ = "0.1.0"
__all__ = ["CheckResult", "LabkitError", "lab", "__version__"]
