"""A sandbox: a throwaway unprivileged user with its own rootless engine, course registry and view of
the class's mirror, in a cgroup (memory, processes), on a disk of its own, in namespaces that show it
only what it is allowed (an allow-list of the machine). A graded submission and a hub learner's lab
each run in one. Root only: making users, cgroups and mounts needs it.

One module a concern: the sandbox as data (`_sandbox`), made and taken down (`_box`), its user (`_users`),
its disk (`_disk`), its view of the machine (`_view`), its rootless engine (`_engine`), what its
lab serves it (`_services`: registries, package source, the cut from the internet), its cgroup
(`_cgroups`), and what they all use (`_basics`)."""

from .._faces import face

__all__ = [
    "BASE",
    "Health",
    "Limits",
    "Running",
    "PREFIX",
    "Sandbox",
    "adopt",
    "Spec",
    "clean_leftovers",
    "engine_path",
    "engine_tree",
    "health",
    "hideable",
    "keep",
    "make",
    "missing",
    "names_of_runs",
    "rootless_script",
    "storage_args",
    "take_down",
    "view_script",
]
__getattr__, __dir__ = face(
    __name__,
    {
        "BASE": "_basics",
        "PREFIX": "_basics",
        "Limits": "_sandbox",
        "Sandbox": "_sandbox",
        "Running": "_sandbox",
        "adopt": "_box",
        "keep": "_box",
        "Health": "_box",
        "health": "_box",
        "Spec": "_sandbox",
        "make": "_box",
        "take_down": "_box",
        "clean_leftovers": "_box",
        "names_of_runs": "_box",
        "engine_path": "_basics",
        "engine_tree": "_basics",
        "missing": "_engine",
        "rootless_script": "_engine",
        "storage_args": "_engine",
        "hideable": "_view",
        "view_script": "_view",
    },
)
