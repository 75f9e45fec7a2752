"""A sandbox: a throwaway unprivileged user with its own rootless engine, course registry and view of
the class's mirror, in a cgroup (memory, processes), on a disk of its own, in namespaces that show it
only what it is allowed (an allow-list of the machine). A graded submission and a hub learner's lab
each run in one. Root only: making users, cgroups and mounts needs it."""

from .._faces import face

__all__ = [
    "BASE",
    "Limits",
    "PREFIX",
    "Sandbox",
    "Spec",
    "clean_leftovers",
    "engine_tree",
    "hideable",
    "make",
    "missing",
    "names_of_runs",
    "rootless_script",
    "take_down",
    "view_script",
]
__getattr__, __dir__ = face(__name__, {name: "_box" for name in __all__})
