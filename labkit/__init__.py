"""Docker Images Lab: the helper library of the course notebooks."""

from ._errors import LabkitError

__version__ = "0.1.0"
__all__ = ["LabkitError", "__version__"]
