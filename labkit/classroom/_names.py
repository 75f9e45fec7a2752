"""The names taken on a class's hub, their PINs, and how often a wrong PIN was tried for each.

One JSON file (`names.json` in the hub's folder, 0600, root's), shared by the hub's authenticator
(`_auth`), which claims names and checks PINs, and the instructor's class view (`_service`), which
unlocks a name and gives it a new PIN. Every change is made under a lock and written whole.

A PIN of four digits falls to a guesser in minutes if wrong tries cost nothing, so they cost time,
then stop counting as tries at all:

- the first `FREE_TRIES` wrong PINs for a name are answered as usual;
- after them, each further try must wait: `FIRST_WAIT` seconds, doubling with each wrong PIN, at
  most `LONGEST_WAIT` (a try inside the wait is refused without its PIN being looked at);
- after `LOCK_AFTER` wrong PINs the name is locked: every sign-in with it is refused until the
  instructor unlocks it on the class view (the instructor's own name is never locked, only made to
  wait, so that nobody can lock the instructor out);
- a right PIN clears the count.

So a guesser gets `LOCK_AFTER` tries per name in some minutes, of 10,000 PINs. Per address
(`AddressGuard`), the hub also refuses a sign-in from an address with `ADDRESS_LIMIT` wrong codes or
PINs in the last `ADDRESS_WINDOW` seconds (a classroom behind one address makes far fewer).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import bcrypt

PIN_DIGITS = 4
BCRYPT_ROUNDS = 8  # one hash per sign-in, not per request
FREE_TRIES = 5
LOCK_AFTER = 10
FIRST_WAIT = 30.0
LONGEST_WAIT = 900.0
ADDRESS_LIMIT = 30
ADDRESS_WINDOW = 600.0

#: What `Names.sign_in` says.
CLAIMED, RIGHT, WRONG, WAIT, LOCKED = "claimed", "right", "wrong", "wait", "locked"


@dataclass(frozen=True)
class Answer:
    verdict: str  # CLAIMED, RIGHT, WRONG, WAIT or LOCKED
    wait: float = 0.0  # WAIT: seconds until the name may be tried again
    failures: int = 0  # wrong PINs in a row for the name


class Names:
    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path, self.clock = Path(path), clock

    @contextmanager
    def _editing(self) -> Iterator[dict]:
        """The names, read and written back under the file's lock (the hub and the class view both write)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            names = self._read()
            yield names
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(names, handle)
            os.replace(tmp, self.path)
        finally:
            os.close(lock)

    def _read(self) -> dict[str, dict]:
        try:
            names = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        if not isinstance(names, dict):
            return {}
        # a hub of an earlier labkit kept {name: the PIN's hash}
        return {name: (entry if isinstance(entry, dict) else {"pin": entry}) for name, entry in names.items()}

    def taken(self) -> dict[str, dict]:
        """{name: {"failures", "locked", "wait"}} for every name taken."""
        now = self.clock()
        return {
            name: {
                "failures": e.get("failures", 0),
                "locked": bool(e.get("locked")),
                "wait": max(0.0, e.get("until", 0) - now),
            }
            for name, e in self._read().items()
        }

    def sign_in(self, name: str, pin: str, lockable: bool = True) -> Answer:
        """Claim `name` with `pin` (the first time), or check `pin` against it."""
        now = self.clock()
        with self._editing() as names:
            entry = names.get(name)
            if entry is None or not entry.get("pin"):
                names[name] = {"pin": _hash(pin)}
                return Answer(CLAIMED)
            if entry.get("locked"):
                return Answer(LOCKED, failures=entry.get("failures", 0))
            if now < entry.get("until", 0):
                return Answer(WAIT, wait=entry["until"] - now, failures=entry.get("failures", 0))
            if bcrypt.checkpw(pin.encode(), entry["pin"].encode()):
                entry.pop("failures", None), entry.pop("until", None)
                return Answer(RIGHT)
            failures = entry["failures"] = entry.get("failures", 0) + 1
            return self._after_wrong(entry, failures, now, lockable)

    def wrong(self, name: str, lockable: bool = True) -> Answer:
        """A wrong secret for `name` checked elsewhere (the instructor's code), counted as a wrong PIN."""
        now = self.clock()
        with self._editing() as names:
            entry = names.setdefault(name, {"pin": ""})
            if now < entry.get("until", 0):
                return Answer(WAIT, wait=entry["until"] - now, failures=entry.get("failures", 0))
            failures = entry["failures"] = entry.get("failures", 0) + 1
            return self._after_wrong(entry, failures, now, lockable)

    def waiting(self, name: str) -> Answer | None:
        """WAIT or LOCKED when `name` may not be tried now, else None."""
        entry = self._read().get(name) or {}
        if entry.get("locked"):
            return Answer(LOCKED, failures=entry.get("failures", 0))
        if self.clock() < entry.get("until", 0):
            return Answer(WAIT, wait=entry["until"] - self.clock(), failures=entry.get("failures", 0))
        return None

    def right(self, name: str) -> None:
        """The instructor's code was right: their count starts again."""
        with self._editing() as names:
            if name in names:
                names[name].pop("failures", None), names[name].pop("until", None)

    @staticmethod
    def _after_wrong(entry: dict, failures: int, now: float, lockable: bool) -> Answer:
        if lockable and failures >= LOCK_AFTER:
            entry["locked"] = True
            return Answer(LOCKED, failures=failures)
        if failures >= FREE_TRIES:
            entry["until"] = now + min(LONGEST_WAIT, FIRST_WAIT * 2 ** (failures - FREE_TRIES))
        return Answer(WRONG, failures=failures)

    def unlock(self, name: str) -> bool:
        """The name may be signed in with again, its count cleared; False if no such name is taken."""
        with self._editing() as names:
            if name not in names:
                return False
            for key in ("locked", "failures", "until"):
                names[name].pop(key, None)
            return True

    def new_pin(self, name: str) -> str | None:
        """A new PIN for a learner who forgot theirs (six digits, shown to the instructor once), the
        name unlocked; None if no such name is taken."""
        pin = f"{secrets.randbelow(10**6):06d}"
        with self._editing() as names:
            if name not in names:
                return None
            names[name] = {"pin": _hash(pin)}
        return pin


def _hash(pin: str) -> str:
    return bcrypt.hashpw(pin.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


class AddressGuard:
    """Wrong codes and PINs per address, in the hub's memory: an address past ADDRESS_LIMIT in the
    last ADDRESS_WINDOW seconds is refused until its oldest wrong try is that old."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._wrong: dict[str, deque[float]] = {}

    def wait(self, address: str) -> float:
        """Seconds until `address` may try again (0: it may now)."""
        tries = self._recent(address)
        if len(tries) < ADDRESS_LIMIT:
            return 0.0
        return tries[0] + ADDRESS_WINDOW - self.clock()

    def wrong(self, address: str) -> None:
        tries = self._recent(address)
        tries.append(self.clock())
        self._wrong[address] = tries

    def _recent(self, address: str) -> deque[float]:
        """The address's wrong tries in the window (an address with none is forgotten)."""
        tries = self._wrong.pop(address, deque())
        while tries and tries[0] <= self.clock() - ADDRESS_WINDOW:
            tries.popleft()
        if tries:
            self._wrong[address] = tries
        return tries
