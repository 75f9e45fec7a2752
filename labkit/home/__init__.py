"""The lab home: where a lab keeps its files (`LabPaths`: LABKIT_HOME and LABKIT_CACHE) and the state
file `labkit up` writes there (`State`, made of each part's record), read and written under the
lab's lock. Every room above reads a lab through these."""

from .._faces import face

__all__ = [
    "EngineState",
    "LabPaths",
    "PackagesState",
    "RegistryState",
    "State",
    "ensure_dir",
    "locked",
    "packages_store",
]
__getattr__, __dir__ = face(
    __name__,
    {
        "LabPaths": "_paths",
        "packages_store": "_paths",
        "EngineState": "_state",
        "PackagesState": "_state",
        "RegistryState": "_state",
        "State": "_state",
        "ensure_dir": "_state",
        "locked": "_state",
    },
)
