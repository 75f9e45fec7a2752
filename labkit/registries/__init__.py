"""The registries and what they serve: the course registry and the mirror as programs (`programs`) or
as containers on a learner's own engine (`containers`), the one HTTP client of the registry API
(`RegistryClient`), the mirror's base images (`seeding`, `base_images`), course bundles (`bundles`),
the lab's Debian package source (`package_source`) and image names as registries hold them (`names`)."""

from .._faces import face

__all__ = [
    "BASE_IMAGES",
    "MIRROR",
    "REGISTRY",
    "RegistryClient",
    "base_images",
    "bundles",
    "containers",
    "seeding",
    "names",
    "package_source",
    "programs",
    "repo_tag",
]
__getattr__, __dir__ = face(
    __name__,
    {
        "RegistryClient": "_http",
        "BASE_IMAGES": "seeding",
        "MIRROR": "programs",
        "REGISTRY": "programs",
        "repo_tag": "names",
    },
)
