"""The Docker engines: which one a lab uses (`choice`), the dockerd labkit runs itself (`dockerd`), the
engine it fetches from Debian's packaging (`fetched`), the docker command line it gives kernels and
shells (`docker_cli`), and the one boundary with the Docker SDK (`Engine`), where the SDK's errors
become labkit's."""

from .._faces import face

__all__ = [
    "Engine",
    "EngineInfo",
    "FetchedEngine",
    "LABEL",
    "THROWAWAY_GOGC",
    "choice",
    "docker_cli",
    "docker_config_dir",
    "fetched",
    "dockerd",
]
__getattr__, __dir__ = face(
    __name__,
    {
        "Engine": "_sdk",
        "EngineInfo": "_sdk",
        "LABEL": "_sdk",
        "FetchedEngine": "fetched",
        "THROWAWAY_GOGC": "dockerd",
        "docker_config_dir": "docker_cli",
    },
)
