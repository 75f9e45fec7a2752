"""One submission on its way through the grader: what each stage of `pipeline.STAGES` reads and adds
(`Job`), and what the grader found of it (`Submission`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import nbformat

from ..course import CheckResult
from ..labs import FreshLab


class Supply(Protocol):
    """Where a submission's lab comes from (`supply.LabSupply`)."""

    def take(self, more: bool) -> FreshLab: ...

    def give_back(self, lab: FreshLab) -> None: ...


@dataclass
class Submission:
    path: Path  # where it came from (a path, or "class.zip:member")
    name: str  # its path under the folder given, without .ipynb (submissions.find)
    learner: str = ""  # who it is (submissions.learner_of)
    learner_id: str = ""  # their id in the LMS, where the file's name gives it
    lms: str = ""  # that LMS
    key: str = ""  # its files' safe relative path in --out (graded/KEY.ipynb)
    notebook: nbformat.NotebookNode | None = None
    problem: str = ""  # why it could not be graded ("" when it was)
    infrastructure: bool = False  # the problem was the lab's, not the submission's
    events: list[str] = field(default_factory=list)  # what happened while it ran, in words
    results: dict[str, CheckResult] = field(default_factory=dict)
    answers: dict[str, object] = field(default_factory=dict)  # per exercise: the answer= it was checked with
    timings: dict[str, dict] = field(
        default_factory=dict
    )  # per exercise: its checkpoint cell, how long it and the check took
    seconds: float = 0.0
    sandboxed: bool = False  # ran in a sandbox of its own (see labkit.sandbox)
    limits_hit: list[str] = field(default_factory=list)  # the limits it ran into (its sandbox's, its time), in words
    peak_memory: int | None = None  # the most memory its sandbox used at once, in bytes

    @property
    def graded(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class Limits:
    cell_timeout: int  # seconds one cell may run
    notebook_timeout: int  # seconds the whole notebook may run


@dataclass
class Job:
    path: Path  # the grader's own copy of the notebook
    who: dict  # its names (source, name, learner, learner_id, lms, key: see submissions.Entry)
    supply: Supply  # where its lab comes from
    more: bool  # another submission follows: the next lab may start now
    limits: Limits
    out: Path  # the reports' folder (its graded copy goes to out/graded/)
    started: float = field(default_factory=time.monotonic)
    sub: Submission | None = None  # read and validate
    lab: FreshLab | None = None  # make the lab (given back by "give the lab back")
    row: dict = field(default_factory=dict)  # score: its row of the reports
