"""The machine labkit runs on: its processes and ports (`processes`: start a daemon detached, find it
again, stop only what is ours), and how long work tells its progress (`Watcher`, `Update`), whoever
is watching; and Debian's archive, where labkit takes packages from (`debian_mirror`). Imports
nothing of labkit but `errors`."""

from .._faces import face

__all__ = ["Watcher", "Update", "debian_mirror", "processes"]
__getattr__, __dir__ = face(__name__, {"Watcher": "_updates", "Update": "_updates", "debian_mirror": "_debian"})
