"""Fresh labs for one grading worker, made one ahead.

Every submission is graded in a lab of its own (a new engine and registry), which costs
seconds to start and to take down. A worker's `LabSupply` hides that: while one submission
runs, the next one's lab starts beside it, and a used lab is taken down in the background.

    supply = LabSupply(root, mirror, cache, seeded)   # seeded: see labs.seeded_registry (or a Future of it)
    supply.start_first()           # optional: the first lab starts before anyone takes it
    lab = supply.take(more=True)   # the lab made ahead (or a new one); the next starts now
    ...                            # grade in it
    supply.give_back(lab)          # taken down in the background
    supply.close()                 # waits; a lab made ahead and never used is taken down too
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..errors import LabkitError
from ..home import RegistryState
from ..labs import FreshLab
from . import labs

#: Labs that failed to start in a row, after which a worker tries no more (a machine that cannot
#: start one would otherwise make every submission wait for its own failure).
GIVE_UP_AFTER = 3


class LabSupply:
    def __init__(
        self,
        root: Path,
        mirror: RegistryState,
        cache: Path,
        seeded: Path | Future[Path | None] | None = None,
        sandboxing: labs.Sandboxing | None = None,
    ) -> None:
        self._root, self._mirror, self._cache, self._seeded = root, mirror, cache, seeded
        self._sandboxing = sandboxing
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="labkit-grading-lab")
        self._ahead: Future | None = None
        self._numbers = itertools.count()
        self._failures, self._failed = 0, LabkitError("")

    def start_first(self) -> None:
        """Start making the first lab now, before it is taken: while `seeded` is still being made,
        its engine starts (see labs.prepare)."""
        if self._ahead is None:
            self._ahead = self._background.submit(self._make)

    def take(self, more: bool) -> FreshLab:
        """A fresh lab; with `more` (another submission will follow), the next lab starts now.

        A lab that failed to start raises its LabkitError here, for the submission it was for. After
        GIVE_UP_AFTER failures in a row no lab is tried any more: each later submission gets the last
        failure at once, rather than a wait for a lab that will not start either."""
        if self._failures >= GIVE_UP_AFTER:
            raise LabkitError(
                f"{self._failed.message} (the last {self._failures} labs failed to start, so no more were tried)",
                self._failed.next_step,
            )
        made, self._ahead = self._ahead, None
        try:
            lab = made.result() if made is not None else self._make()
        except LabkitError as e:
            self._failures, self._failed = self._failures + 1, e
            if more and self._failures < GIVE_UP_AFTER:
                self._ahead = self._background.submit(self._make)
            raise
        self._failures = 0
        if more:
            self._ahead = self._background.submit(self._make)
        return lab

    def give_back(self, lab: FreshLab) -> None:
        self._background.submit(labs.dismantle, lab)

    def close(self) -> None:
        if isinstance(self._seeded, Future):
            self._seeded.cancel()  # never given (no submission came): a lab waiting for it gives up
        made, self._ahead = self._ahead, None
        if made is not None:
            made.add_done_callback(_dismantle_unused)
        self._background.shutdown(wait=True)

    def _make(self) -> FreshLab:
        # A short home (a lab per process and number): the engine's socket path must stay short.
        home = self._root / "labs" / f"{os.getpid()}-{next(self._numbers)}"
        return labs.prepare(home, self._mirror, self._cache, self._seeded, sandboxing=self._sandboxing)


def _dismantle_unused(made: Future) -> None:
    if made.exception() is None:  # one that failed to start took itself down
        labs.dismantle(made.result())
