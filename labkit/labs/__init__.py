"""A lab as a unit: an engine, a course registry and the mirror, with its state in a lab home.
`lifecycle` brings a learner's lab up and down and says how it is; `fresh` makes a lab of one's own
for a graded submission or a hub learner (a sandbox, or a managed engine beside the class's mirror);
`jupyter` starts JupyterLab on a workspace with a lab's variables; `space` watches free space.
Grading and the classroom both stand on this room, neither on the other. It is `labs`, never `lab`:
`from labkit import lab` is the notebook API, which a subpackage of that name would hide."""

from .._faces import face

__all__ = ["FreshLab", "Sandboxing", "fresh", "jupyter", "lifecycle", "space"]
__getattr__, __dir__ = face(__name__, {"FreshLab": "fresh", "Sandboxing": "fresh"})
