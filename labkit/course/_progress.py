"""The progress store: every check, hint and reset, in SQLite in the lab's home.

Two notebooks (two kernels) may write at the same moment, so the store is built to
lose nothing: the database is in WAL journal mode, each operation opens its own
connection (safe across processes and threads), each write is one short
``BEGIN IMMEDIATE`` transaction, a busy database is waited on (``busy_timeout``) and,
should SQLite still answer "busy" or "locked", the operation is tried again.

Checks, hints and resets share one table, so one id sequence (the order in which the
writes were committed) says what came after a reset, whatever the clocks say.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, TypeVar

from ..errors import ProgressError
from ..home import LabPaths
from ._results import CheckResult

T = TypeVar("T")

FILE_NAME = "progress.sqlite"
BUSY_TIMEOUT_S = 10.0
ATTEMPTS = 5  # tries of one operation when SQLite reports the database busy or locked
RETRY_PAUSE_S = 0.05  # times the attempt number
FEEDBACK_CHARS = 2000  # of a check's feedback kept with it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL,          -- 'check', 'hint' or 'reset'
    lesson   TEXT NOT NULL,
    exercise TEXT,                   -- check, hint
    status   TEXT,                   -- check
    passed   INTEGER,                -- check: 0 or 1
    points   REAL,                   -- check
    possible REAL,                   -- check
    source   TEXT,                   -- check: 'notebook', 'cli', 'grader', ...
    number   INTEGER,                -- hint: 1 for the first hint
    time     REAL NOT NULL,          -- epoch seconds
    feedback TEXT                    -- check: what the learner was told (the class view shows it)
);
CREATE INDEX IF NOT EXISTS events_by_lesson ON events (kind, lesson, id);
CREATE INDEX IF NOT EXISTS events_by_exercise ON events (kind, exercise, id);
CREATE TABLE IF NOT EXISTS made (
    lesson    TEXT NOT NULL,
    container TEXT NOT NULL,         -- the full id of an unnamed container a check saw made in the lesson
    time      REAL NOT NULL,         -- epoch seconds
    PRIMARY KEY (lesson, container)
);
"""


@dataclass(frozen=True)
class Standing:
    """An exercise's standing in the store, as a check reads it: hints shown since its lesson's last
    reset, and since when the lesson's work counts (epoch seconds; 0.0 in a store with no record)."""

    hints_shown: int
    lesson_began: float


# The id of the latest reset of the lesson of the row `e` (0: never reset).
_LAST_RESET_ID = "(SELECT COALESCE(MAX(r.id), 0) FROM events r WHERE r.kind = 'reset' AND r.lesson = e.lesson)"
#: How many distinct hints of an exercise (?) were shown since its lesson's last reset.
_HINTS_SHOWN = (
    "SELECT COUNT(DISTINCT e.number) FROM events e"
    f" WHERE e.kind = 'hint' AND e.exercise = ? AND e.id > {_LAST_RESET_ID}"
)
#: When a lesson (?) was last reset (no row: never).
_LAST_RESET = "SELECT time FROM events WHERE kind = 'reset' AND lesson = ? ORDER BY id DESC LIMIT 1"
#: The time of this lab's first record.
_FIRST_RECORD = "SELECT MIN(time) FROM events"

_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def lesson_of(exercise: str) -> str:
    """The lesson of an exercise id "lesson.slug"."""
    return exercise.split(".", 1)[0]


class _ExerciseLike(Protocol):
    id: str
    lesson: str
    points: float


@dataclass(frozen=True)
class LessonProgress:
    lesson: str
    title: str
    done: int  # exercises whose best check since the lesson's last reset passed
    total: int
    points: float  # sum of the best points of each exercise since the lesson's last reset
    possible: float


class ProgressStore:
    """Checks, hints and resets of one lab, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ProgressError(self.path, f"its folder cannot be created ({e})") from e
        self._run(self._create_schema)

    @classmethod
    def for_paths(cls, paths: LabPaths) -> "ProgressStore":
        """The lab's store: in its home, or in LABKIT_PROGRESS (a folder) where set (a hub learner's, kept
        beside their workspace across their labs)."""
        folder = os.environ.get("LABKIT_PROGRESS")
        return cls((Path(folder) if folder else paths.home) / FILE_NAME)

    # -- writes ------------------------------------------------------------------------

    def record_check(self, result: CheckResult, source: str = "notebook", made: Iterable[str] = ()) -> None:
        """One check, and the unnamed containers it saw made during the lesson (`record_made`), in one
        transaction."""
        row = (
            lesson_of(result.exercise),
            result.exercise,
            result.status,
            int(result.passed),
            float(result.points),
            float(result.possible),
            source,
            time.time(),
            result.feedback[:FEEDBACK_CHARS],
        )
        statements = [
            (
                "INSERT INTO events (kind, lesson, exercise, status, passed, points, possible, source, time, feedback)"
                " VALUES ('check', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        ]
        statements += self._made_rows(lesson_of(result.exercise), made)
        self._write_all(statements)

    def record_hint(self, exercise: str, number: int) -> None:
        self._write(
            "INSERT INTO events (kind, lesson, exercise, number, time) VALUES ('hint', ?, ?, ?, ?)",
            (lesson_of(exercise), exercise, int(number), time.time()),
        )

    def record_reset(self, lesson: str) -> None:
        self._write("INSERT INTO events (kind, lesson, time) VALUES ('reset', ?, ?)", (lesson, time.time()))

    def record_made(self, lesson: str, containers: Iterable[str]) -> None:
        """Unnamed containers a check saw made during the lesson: `labkit reset` may remove them."""
        self._write_all(self._made_rows(lesson, containers))

    @staticmethod
    def _made_rows(lesson: str, containers: Iterable[str]) -> list[tuple[str, tuple]]:
        now = time.time()
        sql = "INSERT OR REPLACE INTO made (lesson, container, time) VALUES (?, ?, ?)"
        return [(sql, (lesson, container, now)) for container in containers]

    # -- reads -------------------------------------------------------------------------

    def made_since_reset(self, lesson: str) -> set[str]:
        """The containers recorded as made during the lesson since its last reset."""
        rows = self._read(
            "SELECT container FROM made WHERE lesson = ? AND time >= ?", (lesson, self.last_reset(lesson))
        )
        return {row[0] for row in rows}

    def standing(self, exercise: str) -> Standing:
        """What a check needs to know of the exercise, in one read: the hints shown since its lesson's
        last reset, and since when the lesson's work counts (its last reset, else the first record of
        this lab)."""
        sql = f"SELECT ({_HINTS_SHOWN}), ({_LAST_RESET}), ({_FIRST_RECORD})"
        shown, reset, first = self._read(sql, (exercise, lesson_of(exercise)))[0]
        return Standing(int(shown), float(reset or first or 0.0))

    def hints_shown(self, exercise: str) -> int:
        """How many distinct hints of the exercise were shown since its lesson's last reset."""
        return int(self._read(_HINTS_SHOWN, (exercise,))[0][0])

    def last_reset(self, lesson: str) -> float:
        """Epoch seconds of the latest reset of the lesson, or 0.0 if it was never reset."""
        rows = self._read(_LAST_RESET, (lesson,))
        return float(rows[0][0]) if rows else 0.0

    def best(self) -> dict[str, tuple[bool, float]]:
        """Each exercise checked since its lesson's last reset: (did a check pass, the most points)."""
        sql = (
            "SELECT e.exercise, MAX(e.passed), MAX(e.points) FROM events e"
            f" WHERE e.kind = 'check' AND e.id > {_LAST_RESET_ID} GROUP BY e.exercise"
        )
        return {exercise: (bool(passed), float(points)) for exercise, passed, points in self._read(sql)}

    def summary(self, exercises: Iterable[_ExerciseLike], titles: dict[str, str] | None = None) -> list[LessonProgress]:
        """One entry per lesson, in the order the lessons first appear in `exercises`."""
        best = self.best()
        titles = titles or {}
        lessons: dict[str, list[_ExerciseLike]] = {}
        for exercise in exercises:
            lessons.setdefault(exercise.lesson, []).append(exercise)
        return [
            LessonProgress(
                lesson=lesson,
                title=titles.get(lesson, lesson),
                done=sum(1 for x in members if best.get(x.id, (False, 0.0))[0]),
                total=len(members),
                points=sum(best.get(x.id, (False, 0.0))[1] for x in members),
                possible=sum(float(x.points) for x in members),
            )
            for lesson, members in lessons.items()
        ]

    def since_reset(self) -> tuple[list[dict], dict[str, int]]:
        """What counts now: every check since its lesson's last reset, oldest first
        ({exercise, passed, feedback, time}), and how many distinct hints of each exercise were shown."""
        checks = self._read(
            "SELECT e.exercise, e.passed, e.feedback, e.time FROM events e"
            f" WHERE e.kind = 'check' AND e.id > {_LAST_RESET_ID} ORDER BY e.id"
        )
        hints = self._read(
            "SELECT e.exercise, COUNT(DISTINCT e.number) FROM events e"
            f" WHERE e.kind = 'hint' AND e.id > {_LAST_RESET_ID} GROUP BY e.exercise"
        )
        keys = ("exercise", "passed", "feedback", "time")
        return (
            [{**dict(zip(keys, row)), "passed": bool(row[1]), "feedback": row[2] or ""} for row in checks],
            {exercise: int(count) for exercise, count in hints},
        )

    def history(self, exercise: str | None = None) -> list[dict]:
        """Every recorded check (of one exercise, or all), oldest first."""
        sql = (
            "SELECT exercise, status, passed, points, possible, source, time, feedback FROM events WHERE kind = 'check'"
        )
        params: tuple = ()
        if exercise is not None:
            sql += " AND exercise = ?"
            params = (exercise,)
        keys = ("exercise", "status", "passed", "points", "possible", "source", "time", "feedback")
        rows = self._read(sql + " ORDER BY id", params)
        return [{**dict(zip(keys, row)), "passed": bool(row[2])} for row in rows]

    # -- the one place that talks to SQLite --------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # In WAL mode NORMAL never corrupts the file; a power cut may lose the last few
            # records, and a commit no longer waits for the disk (a check records one row).
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        conn.execute("BEGIN IMMEDIATE")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
        if "feedback" not in {row[1] for row in conn.execute("PRAGMA table_info(events)")}:  # a store from before
            conn.execute("ALTER TABLE events ADD COLUMN feedback TEXT")
        conn.execute("COMMIT")

    def _write(self, sql: str, params: tuple) -> None:
        self._write_all([(sql, params)])

    def _write_all(self, statements: list[tuple[str, tuple]]) -> None:
        """The statements in one transaction: all of them, or (on an error) none."""
        if not statements:
            return

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")

        self._run(work)

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall())

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened once (and again in a forked child: never shared)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or getattr(local, "conn", None) is None:
            local.conn, local.pid = self._connect(), os.getpid()
        return local.conn

    def _drop_connection(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                conn.close()  # closing inside an unfinished transaction rolls it back

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on this thread's connection; retry when busy; SQLite errors become ProgressError.

        After any error the connection is closed, which rolls back an unfinished
        transaction, so a failed attempt leaves nothing behind.
        """
        attempt = 1
        while True:
            try:
                return work(self._connection())
            except sqlite3.Error as e:
                self._drop_connection()
                if not (_is_busy(e) and attempt < ATTEMPTS):
                    raise ProgressError(self.path, _describe(e)) from e
            time.sleep(RETRY_PAUSE_S * attempt)
            attempt += 1


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BUSY_CODES  # extended codes keep the primary in the low byte


def _describe(error: sqlite3.Error) -> str:
    name = getattr(error, "sqlite_errorname", "")
    return f"{error} ({name})" if name else str(error)
