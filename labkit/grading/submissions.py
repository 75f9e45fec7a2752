"""Finding the submissions in what a teacher gives `labkit grade`: notebook files, folders of them (a
class collected from the hub, an LMS export unpacked) and zip files (an LMS export as downloaded),
each named by who it is. Nothing in there is trusted.

    entries = find([Path("collected/20261204-1000")])   # every notebook found, and every thing refused
    entries[0].name, entries[0].learner                 # "ann/08-capstone", "ann"
    entries[0].copy_to(Path("work/0.ipynb"))            # its bytes, read once ("" or why not)

A submission is named by its path under the folder given, without `.ipynb` (`ann/08-capstone`), so
two learners' `08-capstone.ipynb` are two rows, two graded copies, two Gradescope folders. Files
named one by one are named under the folder they share (`labkit grade collected/*/08-capstone.ipynb`
names them `ann/08-capstone` and `ben/08-capstone`). Its learner is the student an LMS's file name
gives (`LMS_NAMES`), else the folder it is in, else its file name.

Never followed, never opened, each reported as not a notebook: a link (wherever it points), a
FIFO, a device or a socket named `*.ipynb`, a folder named `*.ipynb`, a file over `MAX_BYTES`, a
zip member that is a link or whose path climbs out of the zip. Nothing is read through a link: a
file is opened beneath the folder given, one component at a time, none of them a link
(`O_NOFOLLOW`), and not at all if it is not a regular file by then (`O_NONBLOCK`: a FIFO swapped in
cannot hang the grader).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabkitError

#: The most a notebook may weigh: a bigger file is reported, never read.
MAX_BYTES = 50 * 2**20
SUFFIX = ".ipynb"
#: Folders and files an export or a notebook server adds that are nobody's submission.
SKIPPED_FOLDERS = {".ipynb_checkpoints", "__MACOSX", ".git"}


@dataclass(frozen=True)
class LmsName:
    """How one LMS names a student's file or folder in its export: `pattern` has the groups
    `learner` (the student's name as the LMS writes it) and, where the LMS gives one, `id`."""

    lms: str
    pattern: re.Pattern


#: The usual LMS exports' names (docs/grading.md lists them), tried in order on the folder a notebook
#: is in, then on its file name.
LMS_NAMES: tuple[LmsName, ...] = (
    # Moodle, "Download all submissions": a folder per participant ("Ann Smith_1234_assignsubmission_file",
    # with a trailing _ before Moodle 4.1), or flat with that as a prefix of each file's name; the
    # number is the participant's in that assignment (Moodle's assign_user_mapping), not a user id.
    LmsName("moodle", re.compile(r"^(?P<learner>.+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)(?:_|$)")),
    # Canvas, "Download Submissions": "smithann_12345_67890_08-capstone.ipynb": the sortable name
    # lower case with everything but letters, digits and _ taken out, LATE when late, the user id, the
    # file's attachment id, its own name (a resubmission's: "08-capstone-1.ipynb"); with anonymous
    # grading "anon_<anonymous id>_67890_…".
    LmsName("canvas", re.compile(r"^(?P<learner>anon_[A-Za-z0-9]+)_\d+_.+")),
    LmsName("canvas", re.compile(r"^(?P<learner>\w+?)_(?:LATE_|late_)?(?P<id>\d+)_\d+_.+")),
    # Blackboard, "Download assignment": "Lab 8_asmith_attempt_2026-12-04-10-00-00_08-capstone.ipynb".
    LmsName("blackboard", re.compile(r"^.+?_(?P<learner>[^_]+)_attempt_\d{4}(?:-\d\d){5}(?:_.+)?$")),
    # Brightspace (D2L), as exports are seen (no documentation of it was found): a folder or a prefix
    # "123456-789012 - Ann Smith - Dec 4, 2026 1000 AM".
    LmsName(
        "brightspace",
        re.compile(r"^(?P<id>\d+-\d+) - (?P<learner>.+?) - [A-Z][a-z]{2} \d{1,2}, \d{4} \d{3,4} [AP]M(?: - .+)?$"),
    ),
)


def learner_of(parts: tuple[str, ...]) -> tuple[str, str, str]:
    """(the learner, their id in the LMS or "", the LMS or "") of a submission at `parts` (its path
    under the folder given, the file name last): an LMS's name of the folder it is in or of its file,
    else that folder's name, else the file's name without `.ipynb`."""
    folder = parts[-2] if len(parts) > 1 else ""
    for text in (folder, parts[-1]):
        for name in LMS_NAMES:
            if text and (found := name.pattern.match(text)):
                return found["learner"].strip(), (found.groupdict().get("id") or ""), name.lms
    return (folder or _stem(parts[-1])), "", ""


@dataclass
class Entry:
    """One thing found that is, or is named as, a notebook."""

    name: str  # its path under the folder given, without .ipynb ("ann/08-capstone"): the report's row
    learner: str  # who it is (see learner_of)
    source: str  # where it was found, for the report: a path, or "class.zip:ann/08-capstone.ipynb"
    key: str = ""  # a safe relative path, unique in the run, for its files in --out (graded/KEY.ipynb)
    learner_id: str = ""  # the LMS's id of the learner, where its file name gives one
    lms: str = ""  # the LMS whose export named it ("canvas", "moodle", …; "" for none)
    problem: str = ""  # why it is not read as a notebook ("" when it is)
    _base: Path | None = field(default=None, repr=False)  # the folder given (a file: its folder)
    _parts: tuple[str, ...] = field(default=(), repr=False)  # its path under _base
    _zip: Path | None = field(default=None, repr=False)  # the zip file it is a member of
    _member: str = field(default="", repr=False)

    def copy_to(self, target: Path) -> str:
        """Write its bytes to `target` (the grader's own copy); "" when done, else why it could not be
        read. Reads at most MAX_BYTES, never through a link, never from anything but a regular file."""
        try:
            data, problem = self._read_zip() if self._zip is not None else _read_beneath(self._base, self._parts)
        except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError) as e:
            return f"cannot be read: {type(e).__name__}: {e}"
        if problem:
            return problem
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return ""

    def _read_zip(self) -> tuple[bytes, str]:
        with zipfile.ZipFile(self._zip) as archive, archive.open(self._member) as member:
            return _capped(member)


def find(items: list[Path], exclude: Path | None = None) -> list[Entry]:
    """Every notebook in `items` (files, folders, zip files), named and keyed; and every thing that is
    named as one but is not (a link, a FIFO, a folder, too big), with its problem. Nothing in the
    folder `exclude` (the reports' own, graded copies and all) is taken."""
    groups: list[tuple[str, list[Entry]]] = []
    loose = [item for item in items if _is_loose(item)]
    if loose:
        base = Path(os.path.commonpath([os.path.abspath(item.parent) for item in loose]))
        entries = []
        for item in loose:
            parts = Path(os.path.abspath(item)).relative_to(base).parts
            entries.append(_file_entry(base, parts, os.lstat(item) if os.path.lexists(item) else None))
        groups.append((base.name, entries))
    for item in items:
        if item.is_dir():
            skip = Path(os.path.abspath(exclude)) if exclude else None
            found = [e for e in _walk(item) if not (skip and Path(e.source).is_relative_to(skip))]
            groups.append((item.name or str(item), sorted(found, key=lambda e: e.name)))
        elif _is_zip(item):
            groups.append((_stem(item.name), sorted(_zip_entries(item), key=lambda e: e.name)))
    entries = _named_apart(groups)
    _key(entries)
    return entries


def origins(items: list[Path]) -> tuple[Path, ...]:
    """The folders the submissions come from, which no sandbox may see: each folder given, each zip's
    folder, the folder that files given one by one share. Only what the teacher typed is resolved,
    never a link found inside."""
    folders = {item if item.is_dir() else item.parent for item in items if not _is_loose(item)}
    loose = [item for item in items if _is_loose(item)]
    if loose:
        folders.add(Path(os.path.commonpath([os.path.abspath(item.parent) for item in loose])))
    return tuple(sorted({Path(os.path.realpath(f)) for f in folders}))


def _is_loose(item: Path) -> bool:
    return not item.is_dir() and not _is_zip(item)


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and not path.is_symlink() and path.is_file()


def _file_entry(base: Path, parts: tuple[str, ...], st: os.stat_result | None) -> Entry:
    """An entry for the file at base/parts, from its lstat (None: it does not exist)."""
    name = "/".join((*parts[:-1], _stem(parts[-1])))
    learner, learner_id, lms = learner_of(parts)
    entry = Entry(
        name=name,
        learner=learner,
        learner_id=learner_id,
        lms=lms,
        source=str(base.joinpath(*parts)),
        _base=base,
        _parts=parts,
    )
    entry.problem = _not_a_notebook(st)
    return entry


def _not_a_notebook(st: os.stat_result | None) -> str:
    """Why what `st` describes is not read as a notebook ("" when it may be one)."""
    if st is None:
        return "cannot be read: there is no such file"
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "is a link, not a notebook: links in a submissions folder are never followed"
    if stat.S_ISDIR(mode):
        return "is a folder, not a notebook"
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        return f"is {kind}, not a notebook: it was not opened"
    if st.st_size > MAX_BYTES:
        return _too_big(st.st_size)
    return ""


def _too_big(size: int | None = None) -> str:
    """Why a file over MAX_BYTES is not read (`size`: its size where known, not read)."""
    known = f" ({size / 2**20:.0f} MB)" if size else ""
    return f"is over {MAX_BYTES // 2**20} MB{known}, more than a notebook of this course holds: it was not read"


def _walk(folder: Path):
    """The entries of a folder given, depth first, without following any link."""
    base = Path(os.path.abspath(folder))
    stack: list[tuple[str, ...]] = [()]
    while stack:
        parts = stack.pop()
        try:
            with os.scandir(base.joinpath(*parts)) as listing:
                children = sorted(listing, key=lambda e: e.name, reverse=True)
        except OSError as e:
            yield Entry(
                name="/".join(parts) or base.name,
                learner="",
                source=str(base.joinpath(*parts)),
                problem=f"is a folder that cannot be read ({e.strerror})",
            )
            continue
        for child in children:
            path = (*parts, child.name)
            st = child.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) and not _named_notebook(child.name):
                if child.name not in SKIPPED_FOLDERS:
                    stack.append(path)
            elif _named_notebook(child.name) or stat.S_ISLNK(st.st_mode):
                if not child.name.startswith("._"):  # macOS's resource forks ("._08-capstone.ipynb")
                    yield _file_entry(base, path, st)


def _named_notebook(name: str) -> bool:
    return name.lower().endswith(SUFFIX)


def _zip_entries(path: Path):
    """The entries of a zip file given: each member named *.ipynb, read only as a regular file
    within the zip's own tree."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise LabkitError(
            f"{path} cannot be read as a zip file ({type(e).__name__}: {e}).",
            "download the export again, or unpack it and give `labkit grade` the folder.",
        ) from e
    for info in members:
        raw = info.filename.replace("\\", "/")
        parts = tuple(p for p in raw.split("/") if p not in ("", "."))
        if info.is_dir() or not parts or any(p in SKIPPED_FOLDERS for p in parts[:-1]) or parts[-1].startswith("._"):
            continue
        mode = info.external_attr >> 16
        if not _named_notebook(parts[-1]) and not stat.S_ISLNK(mode):
            continue
        learner, learner_id, lms = learner_of(parts)
        entry = Entry(
            name="/".join((*parts[:-1], _stem(parts[-1]))),
            learner=learner,
            learner_id=learner_id,
            lms=lms,
            source=f"{path}:{info.filename}",
            _zip=path,
            _member=info.filename,
        )
        if raw.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", raw):
            entry.problem = "has a path that climbs out of the zip file: it was not unpacked"
        elif stat.S_ISLNK(mode):
            entry.problem = "is a link, not a notebook: links in a submissions folder are never followed"
        elif mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            entry.problem = "is not a regular file in the zip, not a notebook: it was not unpacked"
        elif info.flag_bits & 0x1:
            entry.problem = "is encrypted in the zip file: it cannot be read"
        elif info.file_size > MAX_BYTES:
            entry.problem = _too_big(info.file_size)
        yield entry


def _read_beneath(base: Path, parts: tuple[str, ...]) -> tuple[bytes, str]:
    """(the bytes of base/parts, "") opened one component at a time from `base`, no link followed; or
    (b"", why not) when what is there is not a notebook by now."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    return b"", "is in a folder that is now a link: it was not read"
                raise
            os.close(fd)
            fd = inner
        try:
            file = os.open(parts[-1], flags | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP:  # a link by now
                return b"", _not_a_notebook(os.lstat(parts[-1], dir_fd=fd))
            raise
    finally:
        os.close(fd)
    with os.fdopen(file, "rb") as handle:
        if problem := _not_a_notebook(os.fstat(handle.fileno())):
            return b"", problem
        return _capped(handle)


def _capped(stream) -> tuple[bytes, str]:
    """What `stream` holds, if no more than MAX_BYTES."""
    data = stream.read(MAX_BYTES + 1)
    return (b"", _too_big()) if len(data) > MAX_BYTES else (data, "")


def _stem(file_name: str) -> str:
    return file_name[: -len(SUFFIX)] if _named_notebook(file_name) else file_name


def _named_apart(groups: list[tuple[str, list[Entry]]]) -> list[Entry]:
    """The entries of every item given, in order; where two items would give two submissions one
    name, each is named with its item's name in front (`class1/ann/08-capstone`), and a name still
    taken gets a number (`ann/08-capstone (2)`)."""
    counts: dict[str, int] = {}
    for _label, entries in groups:
        for e in entries:
            counts[e.name] = counts.get(e.name, 0) + 1
    clash = {name for name, n in counts.items() if n > 1}
    named: list[Entry] = []
    taken: set[str] = set()
    for label, entries in groups:
        for e in entries:
            if e.name in clash and len(groups) > 1:
                e.name = f"{label}/{e.name}"
            name, n = e.name, 1
            while e.name in taken:
                n += 1
                e.name = f"{name} ({n})"
            taken.add(e.name)
            named.append(e)
    return named


def _key(entries: list[Entry]) -> None:
    """Each entry's key: its name made safe for a file system (each component a-z A-Z 0-9 _ . -, no
    component `..` or hidden), unique in the run."""
    taken: set[str] = set()
    for e in entries:
        parts = [re.sub(r"[^A-Za-z0-9_.-]+", "-", p).strip("-.")[:80] or "submission" for p in e.name.split("/")]
        key, n = "/".join(parts), 1
        while key.lower() in taken:
            n += 1
            key = "/".join(parts) + f"-{n}"
        taken.add(key.lower())
        e.key = key
