"""What a check returns: a plain result object, rendered in one place (`render`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

PASSED, FAILED, ERROR = "passed", "failed", "error"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    `status` is "passed", "failed" (the exercise is not done yet: `feedback` says what
    is missing) or "error" (the lab itself is in trouble, e.g. the engine is down: not
    the learner's fault, never a zero score). `observed` and `expected` say, in words,
    what the check saw and what it wanted.
    """

    status: str
    feedback: str
    observed: str = ""
    expected: str = ""
    exercise: str = ""
    title: str = ""
    points: float = 0.0
    possible: float = 0.0
    details: tuple[tuple[str, bool, float], ...] = field(default=())  # (criterion, met, points) for partial credit
    hints_left: int = 0

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @classmethod
    def ok(cls, feedback: str, observed: str = "", expected: str = "") -> "CheckResult":
        return cls(PASSED, feedback, observed, expected)

    @classmethod
    def fail(cls, feedback: str, observed: str = "", expected: str = "") -> "CheckResult":
        return cls(FAILED, feedback, observed, expected)

    @classmethod
    def error(cls, feedback: str) -> "CheckResult":
        return cls(ERROR, feedback)

    def scored(self, exercise: str, title: str, possible: float, hints_left: int = 0) -> "CheckResult":
        """This result as the result of an exercise worth `possible` points."""
        points = self.points if self.details else (possible if self.passed else 0.0)
        return replace(self, exercise=exercise, title=title, possible=possible, points=points, hints_left=hints_left)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "title": self.title,
            "status": self.status,
            "passed": self.passed,
            "points": self.points,
            "possible": self.possible,
            "feedback": self.feedback,
            "observed": self.observed,
            "expected": self.expected,
            "details": [{"criterion": c, "met": m, "points": p} for c, m, p in self.details],
        }

    def __str__(self) -> str:
        """The result in one line, as data: a person is shown it through `labkit.ui.render` (the notebook
        API's results, `labkit check`, the grader's graded copies), the one place output is made."""
        return f"{self.status}: {self.feedback}"


def first_failure(*steps: Callable[[], CheckResult]) -> CheckResult:
    """Run check steps (callables returning CheckResult) in order; the first failure, or the last pass."""
    result = CheckResult.fail("nothing was checked")
    for step in steps:
        result = step()
        if not result.passed:
            return result
    return result


def criteria(items: list[tuple[str, float, Callable[[], CheckResult]]]) -> CheckResult:
    """Partial credit: each (criterion, points, step) earns its points when its step passes.

    A step that ends in a lab problem (status "error") makes the whole result that
    error: a broken lab is never scored as zero."""
    if not items:  # nothing was checked: that proves nothing, and is the course's fault, not the learner's
        return CheckResult.error("This exercise has no criteria to check: the course is broken here (report it).")
    details, feedback, earned = [], [], 0.0
    for name, points, step in items:
        result = step()
        if result.status == ERROR:
            return result
        details.append((name, result.passed, points if result.passed else 0.0))
        earned += points if result.passed else 0.0
        if not result.passed:
            feedback.append(f"{name}: {result.feedback}")
    total = sum(points for _, points, _ in items)
    if not feedback:
        return replace(CheckResult.ok("Every criterion is met."), details=tuple(details), points=earned, possible=total)
    return replace(
        CheckResult.fail("\n".join(feedback), observed=f"{earned:g} of {total:g} points"),
        details=tuple(details),
        points=earned,
        possible=total,
    )
