"""`labkit grade`: grade a class's notebooks, each in a fresh lab of its own, in parallel if asked.

    grade(find(items), options) → GradeRun   (report.csv, report.json, report.html, graded/… in out)

`find` (submissions.py) names each notebook in what the teacher gave by its path under the folder
given (`ann/08-capstone`) and its learner, and refuses what is not a notebook (links, FIFOs, files
too big) without opening it.

A run (run.py) takes each submission through the stages of `pipeline.STAGES` (read and validate,
make the lab, run the notebook, verify from outside, give the lab back, score), each in a sandbox
of its own, then writes the reports (report.py).
"""

from __future__ import annotations

from .. import _startup  # noqa: F401  (first: a grading worker imports this package before anything else)

# isort: split
from .._faces import face

__all__ = ["Entry", "GradeRun", "Options", "class_lab", "failed_only", "find", "grade", "grade_one", "origins"]
__getattr__, __dir__ = face(
    __name__,
    {
        "Entry": "submissions",
        "find": "submissions",
        "origins": "submissions",
        "GradeRun": "run",
        "Options": "run",
        "class_lab": "run",
        "failed_only": "run",
        "grade": "run",
        "grade_one": "pipeline",
    },
)
