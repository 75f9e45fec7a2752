"""A hostile batch: submissions that each try one way out of their sandbox, graded with `--jobs 2`
among normal ones. Each attack is contained and reported on its own submission; the normal
submissions score exactly what they score in a batch without the hostile ones; nothing is left."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import REPO
from nbformat.v4 import new_code_cell
from test_grading import start_here

import labkit
from labkit import sandbox
from labkit.sandbox import _cgroups

TOKEN = secrets.token_hex(4)
PWNED = f"labkit-pwned-{TOKEN}"
OUTSIDE = [
    Path("/tmp") / PWNED,
    Path("/var/tmp") / PWNED,
    Path("/dev/shm") / PWNED,
    Path("/etc") / PWNED,
    Path("/root") / PWNED,
    Path("/run/lock") / PWNED,
]
#: Another checkout of the course on the machine, solutions and all (as a teacher's second clone).
OTHER_CHECKOUT = Path("/opt") / f"labkit-checkout-{TOKEN}"
LABKIT_INIT = Path(labkit.__file__).resolve()


# The other sandboxes' folders, by the names a submission can guess from its own: the run's pid, a
# worker's pid close to its own, a small number.
NEIGHBOURS = """\
import itertools, os
base, mine = os.path.split(os.path.dirname(os.environ['HOME']))
_, _, run, worker = mine.split('-')
wpid, reached = int(worker.split('n')[0]), []
for w, k in itertools.product(range(wpid - 40, wpid + 40), range(12)):
    other = os.path.join(base, f'labkit-sb-{run}-{w}n{k}')
    if other.endswith(mine):
        continue
    for place in ('tmp', 'home', 'run', 'lab', 'shm'):
        try:
            open(os.path.join(other, place, 'x'), 'w').write('x')
            reached.append(other + '/' + place)
        except OSError:
            pass
        try:
            os.listdir(os.path.join(other, place))
            reached.append(other + '/' + place + ' (read)')
        except OSError:
            pass
print('REACHED', reached)
"""


def attacks(subs: Path, out: Path, class_socket: str) -> dict[str, str]:
    """name: the cell a hostile submission adds after its (correct) work."""
    return {
        "write-outside": (
            f"!touch /tmp/{PWNED} /var/tmp/{PWNED} /dev/shm/{PWNED} /etc/{PWNED} /root/{PWNED} /run/lock/{PWNED}; "
            "ls /tmp"
        ),
        "solutions": ""
        f"for p in [{str(REPO / 'notebooks' / '08-capstone.ipynb')!r}, {str(REPO / '.git' / 'HEAD')!r},\n"
        f"          {str(OTHER_CHECKOUT / 'notebooks' / '08-capstone.ipynb')!r}, "
        f"{str(REPO / 'authoring' / 'solutions.py')!r}]:\n"
        "    try:\n"
        "        print('READ', p, len(open(p).read()))\n"
        "    except OSError as e:\n"
        "        print('refused', p, type(e).__name__)\n"
        "import os\nfound = []\nfor top, dirs, files in os.walk('/'):\n"
        "    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ('/proc', '/sys', '/usr', '/dev')]\n"
        "    found += [os.path.join(top, f) for f in files if f.endswith('.ipynb') and 'capstone' in f]\n"
        "print('FOUND', found)",
        "internet": "import os, subprocess, urllib.request\n"
        "child = open(os.environ['XDG_RUNTIME_DIR'] + '/dockerd-rootless/child_pid').read().strip()\n"
        "flushed = subprocess.run(['nsenter', '-U', '--preserve-credentials', '-n', '-t', child, 'iptables', '-F'],"
        " capture_output=True, text=True)\n"
        "print('flushed its own namespace', flushed.returncode)\n"
        "try:\n    urllib.request.urlopen('http://deb.debian.org/debian/', timeout=5)\n    print('KERNEL REACHED')\n"
        "except Exception as e:\n    print('kernel cut', type(e).__name__)\n"
        "!docker run --rm busybox wget -q -T 5 -O /dev/null http://deb.debian.org/debian/"
        " && echo CONTAINER REACHED || echo container cut",
        "read-secrets": "!cat /etc/shadow; echo shadow=$?\n"
        "!cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c '^LABKIT_HOME=' ; ps -eo user,args",
        "tamper": "import glob, os\n"
        f"print('sees', os.listdir({str(subs)!r}) if os.path.exists({str(subs)!r}) else 'nothing')\n"
        f"for p in glob.glob({str(subs)!r} + '/*.ipynb') + glob.glob({str(out)!r} + '/**/*', recursive=True):\n"
        "    try:\n"
        "        open(p, 'w').write('{}')\n"
        "        print('WROTE', p)\n"
        "    except OSError as e:\n"
        "        print('refused', p, e)",
        "host-mount": "!docker run --rm -v /:/host busybox sh -c "
        f"'touch /host/etc/{PWNED} /host/tmp/{PWNED}; cat /host/etc/shadow; ls /host{subs}'\n"
        "!docker run --rm --privileged -v /:/host busybox sh -c "
        f"'touch /host/root/{PWNED}; echo x >> /host{LABKIT_INIT}'",
        "sockets": f"!docker -H {class_socket} run -d --name {PWNED} busybox sleep 300; "
        "docker -H unix:///var/run/docker.sock ps; ls /var/lib/labkit/sandboxes/",
        "change-labkit": f"!echo '# pwned' >> {LABKIT_INIT} && echo CHANGED",
        "neighbours": NEIGHBOURS,
        "signal": "!kill -9 -1; echo still-here",
        "processes": "import subprocess\nkids = []\ntry:\n    for _ in range(3000):\n"
        "        kids.append(subprocess.Popen(['sleep', '60']))\n"
        "except OSError as e:\n"
        "    print('stopped at', len(kids), e)",
        "memory": "hog = b'x' * (6 * 2**30)",
        "disk": "!dd if=/dev/zero of=big bs=1M count=2000 status=none; echo dd=$?",
    }


#: Limits hit before the work: the exercise is not done, the submission is graded all the same (0),
#: and its feedback names the limit (before: a held pids limit made it "infrastructure").
FIRST = {
    "processes-first": (
        "import subprocess\nkids = []\ntry:\n    for _ in range(3000):\n"
        "        kids.append(subprocess.Popen(['sleep', '600']))\n"
        "except OSError as e:\n"
        "    print('stopped at', len(kids), e)",
        "more than 1,000 processes",
    ),
    "memory-first": ("hog = b'x' * (6 * 2**30)", "more than 2 GiB of memory"),
    "disk-first": ("!dd if=/dev/zero of=big bs=1M count=2000 status=none; echo dd=$?", "filled its 1 GiB of disk"),
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grade(lab, folder: Path, out: Path, *extra: str) -> dict[str, dict]:
    done = lab.labkit(
        "grade", str(folder), "--out", str(out), "--jobs", "2", "--disk", "1g", *extra, check=False, timeout=1800
    )
    assert (out / "report.json").exists(), f"labkit grade wrote no report:\n{done.stdout}\n{done.stderr}"
    return {row["name"]: row for row in json.loads((out / "report.json").read_text())["submissions"]}


def cell_output(row: dict, marker: str) -> str:
    nb = json.loads(Path(row["graded_notebook"]).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and marker in "".join(cell["source"]):
            return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
    raise AssertionError(f"no cell with {marker!r}")


@pytest.fixture(scope="module")
def batch(lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    normal, mixed = tmp / "normal", tmp / "mixed"
    normal.mkdir()
    mixed.mkdir()
    for folder in (normal, mixed):
        nbformat.write(
            nbformat.read(REPO / "notebooks" / "08-capstone.ipynb", as_version=4), folder / "worked-08-capstone.ipynb"
        )
        nbformat.write(start_here(tmp, solution=False), folder / "blank-00-start-here.ipynb")
    out = tmp / "mixed-grades"
    socket = lab.host
    for name, cell in attacks(mixed, out, socket).items():
        nb = start_here(tmp)
        nb.cells.append(new_code_cell(cell))
        nbformat.write(nb, mixed / f"{name}.ipynb")
    for name, (cell, _words) in FIRST.items():
        nbformat.write(start_here(tmp, cell), mixed / f"{name}.ipynb")
    (OTHER_CHECKOUT / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / "08-capstone.ipynb", OTHER_CHECKOUT / "notebooks")
    before = {p.name: digest(p) for p in mixed.iterdir()}
    labkit_before = digest(LABKIT_INIT)
    alone = grade(lab, normal, tmp / "normal-grades")
    rows = grade(lab, mixed, out)
    yield rows, alone, mixed, before, labkit_before
    lab.docker("rm", "-f", PWNED, check=False)
    shutil.rmtree(OTHER_CHECKOUT, ignore_errors=True)
    for path in OUTSIDE:
        path.unlink(missing_ok=True)


def test_every_submission_is_graded_in_a_sandbox(batch):
    rows, *_ = batch
    assert len(rows) == 15 + len(FIRST)
    assert all(row["sandboxed"] for row in rows.values()), {n: r["problem"] for n, r in rows.items()}
    assert [n for n, r in rows.items() if r["status"] == "infrastructure"] == []


def test_the_normal_submissions_score_as_in_a_batch_without_the_hostile_ones(batch):
    rows, alone, *_ = batch
    for name in alone:
        assert {e: r["points"] for e, r in rows[name]["exercises"].items()} == {
            e: r["points"] for e, r in alone[name]["exercises"].items()
        }
    assert rows["worked-08-capstone"]["points"] == 10 and rows["blank-00-start-here"]["points"] == 0


def test_nothing_was_written_outside_and_no_file_of_the_class_changed(batch):
    rows, _alone, mixed, before, labkit_before = batch
    assert [p for p in OUTSIDE if p.exists()] == []
    assert {p.name: digest(p) for p in mixed.iterdir()} == before  # no submission rewrote another, nor itself
    assert digest(LABKIT_INIT) == labkit_before
    assert "CHANGED" not in cell_output(rows["change-labkit"], "CHANGED")
    assert "REACHED []" in cell_output(rows["neighbours"], "REACHED"), cell_output(rows["neighbours"], "REACHED")
    tamper = cell_output(rows["tamper"], "WROTE")
    assert not [line for line in tamper.splitlines() if line.startswith("WROTE")]
    assert "sees []" in tamper or "sees nothing" in tamper  # the submissions folder is not there at all


def test_nothing_of_the_class_or_the_machine_could_be_read(batch):
    rows, *_ = batch
    secrets_seen = cell_output(rows["read-secrets"], "shadow")
    assert "root:" not in secrets_seen and "Permission denied" in secrets_seen
    mounted = cell_output(rows["host-mount"], "/host/etc/shadow")
    assert "root:" not in mounted
    assert "Permission denied" in mounted


def test_no_solution_can_be_read_from_a_sandbox(batch):
    """Its view of the machine is an allow-list: no checkout of the course (this one, another), no .git."""
    rows, *_ = batch
    said = cell_output(rows["solutions"], "FOUND")
    assert "READ" not in said and said.count("refused") == 4, said
    assert "FOUND []" in said, said


def test_a_graded_submission_reaches_no_internet_even_undoing_what_it_can(batch):
    """Root's rules in the machine's own network namespace refuse the sandbox's user (slirp4netns
    carries its namespace's traffic out) everything but loopback: a submission may flush the rules of
    its own namespace, where it is root, and still reaches nothing outside."""
    rows, *_ = batch
    said = cell_output(rows["internet"], "flushed")
    assert "kernel cut" in said and "container cut" in said, said
    assert "REACHED" not in said, said


def test_other_engines_cannot_be_reached(batch, lab):
    rows, *_ = batch
    assert PWNED not in lab.docker("ps", "-a", "--format", "{{.Names}}").stdout
    assert cell_output(rows["sockets"], "var/run/docker.sock")


def test_a_submission_that_kills_everything_it_can_kills_only_itself(batch):
    rows, *_ = batch
    assert rows["signal"]["status"] == "graded"
    assert any("kernel died" in e for e in rows["signal"]["events"]), rows["signal"]["events"]


@pytest.mark.parametrize(
    "name, words",
    [
        ("processes", "more than 1,000 processes"),
        ("memory", "more than 2 GiB of memory"),
        ("disk", "filled its 1 GiB of disk"),
    ],
)
def test_a_limit_hit_is_reported_on_its_submission_in_words(batch, name, words):
    rows, *_ = batch
    row = rows[name]
    assert row["status"] == "graded"
    assert any(words in hit for hit in row["limits_hit"]), row
    assert any(words in event for event in row["events"])
    others = [
        n for n, r in rows.items() if n not in (name, f"{name}-first") and any(words in hit for hit in r["limits_hit"])
    ]
    assert others == []


@pytest.mark.parametrize("name", sorted(FIRST))
def test_a_submission_that_hits_a_limit_before_its_work_is_graded_zero_and_told_which(batch, name):
    rows, *_ = batch
    row, words = rows[name], FIRST[name][1]
    assert row["status"] == "graded", row  # never "infrastructure": the limit was its own doing
    assert row["points"] == 0
    feedback = row["exercises"]["start.pull"]["feedback"]
    assert words in feedback, feedback


def test_no_sandbox_is_left_behind(batch):
    names = [entry.split(":")[0] for entry in Path("/etc/passwd").read_text().splitlines()]
    assert [n for n in names if n.startswith(sandbox.PREFIX)] == []
    assert [g.name for g in _cgroups.leftovers()] == []
    assert [m for m in Path("/proc/self/mounts").read_text().splitlines() if str(sandbox.BASE) in m] == []


def test_without_a_sandbox_every_row_says_so(lab, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(start_here(tmp_path), subs / "one.ipynb")
    rows = grade(lab, subs, tmp_path / "out", "--no-sandbox")
    assert rows["one"]["points"] == 1 and rows["one"]["sandboxed"] is False
    assert any("ran unsandboxed" in e for e in rows["one"]["events"])


def test_where_no_sandbox_can_be_made_grading_says_what_is_missing(lab, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(start_here(tmp_path), subs / "one.ipynb")
    # No rootlesskit, slirp4netns nor newuidmap on this PATH (they live in /usr/bin).
    result = lab.labkit(
        "grade", str(subs), "--out", str(tmp_path / "out"), env={"PATH": "/usr/sbin:/sbin"}, check=False
    )
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert "cannot be graded in sandboxes" in said and "rootlesskit" in said and "--no-sandbox" in said
    assert "Traceback" not in said


def sandboxes_of(run: int) -> list[str]:
    return [name for name, pid in sandbox.names_of_runs().items() if pid == run]


def start_grading(lab, subs: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "labkit", "grade", str(subs), "--out", str(out), "--jobs", "2"],
        env=lab.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.2)


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_an_interrupted_run_leaves_nothing_behind(lab, tmp_path, stop):
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(3):  # more than the two workers take at once
        nbformat.write(start_here(tmp_path, "import time\ntime.sleep(600)"), subs / f"slow{i}.ipynb")
    grading = start_grading(lab, subs, tmp_path / "out")
    try:
        wait_for(lambda: len(sandboxes_of(grading.pid)) >= 2)
        grading.send_signal(getattr(signal, stop))
        _out, err = grading.communicate(timeout=120)
    finally:
        grading.kill()
    assert grading.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert sandboxes_of(grading.pid) == []
    assert [m for m in Path("/proc/self/mounts").read_text().splitlines() if str(sandbox.BASE) in m] == []


def test_what_a_killed_run_left_the_next_run_takes_down(lab, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(start_here(tmp_path, "import time\ntime.sleep(600)"), subs / "slow.ipynb")
    grading = start_grading(lab, subs, tmp_path / "out")
    try:
        wait_for(lambda: sandboxes_of(grading.pid) != [])
        workers = children(grading.pid)
        assert workers
        grading.kill()  # SIGKILL: no clean-up of its own
        grading.wait()
        wait_for(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), timeout=20
        )  # its workers die with it
    finally:
        grading.kill()
    left = sandboxes_of(grading.pid)
    assert left  # what the next run must take down
    quick = tmp_path / "quick"
    quick.mkdir()
    nbformat.write(start_here(tmp_path), quick / "one.ipynb")
    rows = grade(lab, quick, tmp_path / "quick-out")
    assert rows["one"]["points"] == 1
    assert sandboxes_of(grading.pid) == []
    names = [entry.split(":")[0] for entry in Path("/etc/passwd").read_text().splitlines()]
    assert [n for n in names if n in left] == []
