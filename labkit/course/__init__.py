"""What is taught and checked: the result every check returns (`CheckResult`), what a check may read
(`LabContext`), the check primitives (`checks`), the exercises as data, lesson by lesson (`catalog`),
running one (`exercises`), re-running a lesson's as the learner works (`live`), the progress store
(`ProgressStore`), `reset` and learner copies of the notebooks (`release`). Stands on the lab's
rooms; knows nothing of how a result is shown.
"""

from .._faces import face

__all__ = [
    "ERROR",
    "FAILED",
    "FILE_NAME",
    "PASSED",
    "CheckResult",
    "LabContext",
    "LessonProgress",
    "ProgressStore",
    "catalog",
    "criteria",
    "checks",
    "exercises",
    "first_failure",
    "live",
    "release",
    "reset",
    "run_check",
]
__getattr__, __dir__ = face(
    __name__,
    {
        "CheckResult": "_results",
        "criteria": "_results",
        "first_failure": "_results",
        "ERROR": "_results",
        "FAILED": "_results",
        "PASSED": "_results",
        "LabContext": "_context",
        "ProgressStore": "_progress",
        "LessonProgress": "_progress",
        "FILE_NAME": "_progress",
        "run_check": "exercises",
    },
)
