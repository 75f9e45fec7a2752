"""One submission on its way through the grader: what each stage of `pipeline.STAGES` reads and adds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..lab import FreshLab
    from .supply import LabSupply
    from .validate import Submission


@dataclass(frozen=True)
class Limits:
    cell_timeout: int  # seconds one cell may run
    notebook_timeout: int  # seconds the whole notebook may run


@dataclass
class Job:
    path: Path  # the grader's own copy of the notebook
    who: dict  # its names (source, name, learner, learner_id, lms, key: see submissions.Entry)
    supply: LabSupply  # where its lab comes from
    more: bool  # another submission follows: the next lab may start now
    limits: Limits
    out: Path  # the reports' folder (its graded copy goes to out/graded/)
    started: float = field(default_factory=time.monotonic)
    sub: Submission | None = None  # read and validate
    lab: FreshLab | None = None  # make the lab (given back by "give the lab back")
    row: dict = field(default_factory=dict)  # score: its row of the reports
