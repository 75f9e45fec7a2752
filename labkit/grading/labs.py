"""Make the lab, give it back: a fresh lab of the submission's own (`labkit.labs.fresh`), its registry
seeded with the base layers of the repositories the course pushes to; and, once its notebook has
run, what it left running stopped and the limits its sandbox ran into noted."""

from __future__ import annotations

from pathlib import Path

from ..course import catalog
from ..home import RegistryState
from ..labs import FreshLab, Sandboxing, fresh
from .job import Job, Submission

__all__ = [
    "Sandboxing",
    "dismantle",
    "give_back",
    "make",
    "note_limits",
    "prepare",
    "seeded_registry",
    "stop_leftovers",
]


def make(job: Job) -> None:
    """Stage "make the lab": the lab made ahead for it, or a new one (`supply.LabSupply`)."""
    job.lab = job.supply.take(job.more)
    job.sub.sandboxed = job.lab.sandbox is not None


def give_back(job: Job) -> None:
    """Stage "give the lab back": taken down in the background, whatever happened in it."""
    if job.lab is not None:
        job.supply.give_back(job.lab)
        job.lab = None


def prepare(
    home: Path, mirror: RegistryState, cache: Path, seeded=None, sandboxing: Sandboxing | None = None
) -> FreshLab:
    """A fresh lab for one submission (`labkit.labs.fresh.prepare`), its registry seeded for the course."""
    return fresh.prepare(home, mirror, cache, catalog.registry_repositories, seeded, sandboxing)


def seeded_registry(home: Path, mirror: RegistryState, cache: Path) -> Path:
    """The registry storage every lab of a run starts from (`labkit.labs.fresh.seeded_registry`)."""
    return fresh.seeded_registry(home, mirror, cache, catalog.registry_repositories)


dismantle = fresh.dismantle


def stop_leftovers(sub: Submission, lab: FreshLab) -> None:
    """Stop what the notebook left running after its kernel ended (`!cmd &`, `nohup …`): nothing of a
    submission may change its lab once its cells are done, nor outlive its grading."""
    if count := fresh.kill_leftovers(lab):
        sub.events.append(f"the notebook left {count} process(es) running after its last cell: they were stopped")


def note_limits(sub: Submission, lab: FreshLab) -> None:
    """What the submission's sandbox ran into (memory, processes, disk), and the most memory it used."""
    if lab.sandbox is None:
        return
    hit = lab.sandbox.limits_hit()
    sub.events += [f"the submission {words}: its sandbox stopped it there" for words in hit]
    sub.limits_hit += hit
    sub.peak_memory = lab.sandbox.peak_memory()
