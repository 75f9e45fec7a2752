"""`labkit hub`: a class on one machine. Learners sign in with the workshop code, a name and a PIN;
each gets JupyterLab in a sandbox of their own (user, rootless engine, registry, limits); the
hub's stop takes every lab down and keeps their work."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin

import pytest
import requests
from hubclient import HubLearner

from labkit import sandbox
from labkit.classroom.hub import healthy
from labkit.course import catalog
from labkit.machine import processes

CODE, ADMIN = "blue-42", "teach-me"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class OwnHub:
    base: str
    proc: subprocess.Popen
    said_at_stop: str = ""  # what `labkit hub --stop` printed
    pid: int = 0  # JupyterHub's
    output: str = ""  # what `labkit hub` printed


@contextlib.contextmanager
def own_hub(lab, home: Path, port: int, *options: str, https: bool = False, stop: bool = True) -> Iterator[OwnHub]:
    """`labkit hub` on the session lab's home (its mirror serves the learners' labs), its folder `home`, on
    `port`; at the end stopped with `labkit hub --stop` (where it still runs), and (`stop`) no sandbox of it left."""
    env = {**lab.env, "LABKIT_HUB_HOME": str(home)}
    log = home.parent / f"{home.name}.out"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labkit",
                "hub",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--code",
                CODE,
                "--admin-code",
                ADMIN,
                *(options if "--warm" in options else ("--warm", "0", *options)),  # none unless asked for
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    hub = OwnHub(f"{'https' if https else 'http'}://127.0.0.1:{port}", proc)
    try:
        failure = processes.wait_ready(lambda: healthy(hub.base), proc, 600)
        assert failure is None, f"labkit hub: {failure}\n{log.read_text()[-3000:]}"
        hub.pid = int((home / "jupyterhub.pid").read_text())
        yield hub
    finally:
        hub.said_at_stop = subprocess.run(
            [sys.executable, "-m", "labkit", "hub", "--stop"], env=env, capture_output=True, text=True, timeout=180
        ).stdout
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        hub.output = log.read_text()
        log.unlink(missing_ok=True)
    if stop:  # else its labs outlive it (a hub killed hard: the next takes them back)
        assert not [
            line for line in Path("/etc/passwd").read_text().splitlines() if line.startswith(f"labkit-sb-{hub.pid}-")
        ]


@pytest.fixture(scope="module")
def hub(lab):
    """A hub for the module's tests, its own folder."""
    home = Path(tempfile.mkdtemp(prefix="labkit-hub-"))
    try:
        with own_hub(lab, home, processes.free_port(), "--memory", "1536m") as own:
            yield own.base, home, {**lab.env, "LABKIT_HUB_HOME": str(home)}
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def hub_logs(request):
    """A failed test here shows the end of each hub's log and of each lab's log that went."""
    request.node.failure_logs = lambda: sorted(
        log
        for home in Path(tempfile.gettempdir()).glob("labkit-hub-*")
        for log in (home / "jupyterhub.log", *(home / "logs").glob("*.log"))
        if log.exists()
    )


def test_two_learners_each_in_a_lab_of_their_own(hub, lab):
    base, home, env = hub
    ada, bob = HubLearner(base, "ada"), HubLearner(base, "bob")
    assert ada.sign_in(CODE, "1815") == (200, "")
    started = time.monotonic()
    assert ada.open_lab() == 200
    ready = time.monotonic() - started
    assert bob.sign_in(CODE, "2024") == (200, "") and bob.open_lab() == 200
    assert sorted(os.listdir(home / "learners" / "ada" / "workspace"))[0] == "00-start-here.ipynb"

    said = ada.run(
        "from labkit import lab\nlab.ready()\nimport getpass\nprint(getpass.getuser())\n"
        "!docker pull -q busybox\nlab.check('start.pull')"
    )
    assert said.startswith("labkit-sb-") and "PASSED" in said and "start.pull" in said, said
    ada_user = said.split()[0]
    assert pwd.getpwnam(ada_user).pw_uid != 0
    failed = bob.run("from labkit import lab\nlab.ready()\nlab.check('start.pull')")
    assert "NOT YET" in failed, failed
    assert "There is no image busybox:latest" in failed

    # From bob's notebook, ada's work, engine and registry are out of reach.
    probe = bob.run(
        "import os, socket\n"
        f"engine = socket.socket(socket.AF_UNIX)\n"
        f"for what, attempt in (('engine', lambda: engine.connect('{sandbox.BASE}/{ada_user}/run/docker.sock')),\n"
        f"                      ('work', lambda: os.listdir('{home}/learners/ada/workspace'))):\n"
        "    try:\n        attempt()\n        print(what, 'REACHED')\n"
        "    except OSError as e:\n        print(what, type(e).__name__)\n"
    )
    assert (sandbox.BASE / ada_user / "run" / "docker.sock").exists()  # as root: there it is
    assert "engine FileNotFoundError" in probe, probe  # her lab is not in his view of the machine at all
    assert "work FileNotFoundError" in probe or "work PermissionError" in probe, probe  # the hub's folder is hidden
    # Nor can he read the course's solutions (the source notebooks, the checkout's git objects), nor
    # write outside his lab (/run/lock is the machine's, world-writable, outside a lab).
    lock = f"/run/lock/labkit-bob-{os.getpid()}"
    outside = bob.run(
        "import os\n"
        f"for p in ({str(REPO / 'notebooks' / '08-capstone.ipynb')!r}, {str(REPO / '.git' / 'HEAD')!r}, "
        f"{str(REPO / 'authoring')!r}):\n"
        "    print(p, os.path.exists(p))\n"
        f"open({lock!r}, 'w').write('x')\nprint('wrote', os.path.exists({lock!r}))"
    )
    assert "True" not in outside.replace("wrote True", ""), outside
    assert "wrote True" in outside and not os.path.exists(lock), outside  # his own /run/lock, not the machine's
    ada_state = json.loads((sandbox.BASE / ada_user / "lab" / "state.json").read_text())
    registry = f"127.0.0.1:{ada_state['registry']['port']}"
    knock = bob.run(f"import requests\nprint(requests.get('http://{registry}/v2/_catalog', timeout=10).status_code)")
    assert knock.strip() == "401", knock  # ada's registry asks for ada's login, which bob's lab does not have
    # Nor can he put an image of his into the class's mirror, which every lab pulls its base images
    # through (his kernel shares the machine's loopback): it takes no pushes while the hub runs.
    poison = bob.run(
        "import requests\n"
        f"print(requests.post('http://{lab.mirror}/v2/library/nginx/blobs/uploads/', timeout=10).status_code)"
    )
    assert poison.strip() == "405", poison
    print(f"sign-in to a ready lab: {ready:.1f} s")


def test_bad_sign_ins_say_why(hub):
    base, _home, _env = hub
    assert HubLearner(base, "cy").sign_in("red-1", "1234") == (
        403,
        "That workshop code is not right: ask your instructor for it.",
    )
    HubLearner(base, "dee").sign_in(CODE, "1111")
    status, why = HubLearner(base, "dee").sign_in(CODE, "2222")
    assert status == 403 and "taken by someone else" in why


EVIL = '"><script>alert("x")</script><b>bold</b>'


def test_the_sign_in_page_prints_markup_it_is_given_as_text(hub):
    """Before: ?username=<b>x</b> and a refused name were put into the page as markup."""
    base, _home, _env = hub
    page = requests.get(f"{base}/hub/login", params={"username": EVIL}, timeout=30).text
    assert '<script>alert("x")' not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    refused = HubLearner(base, EVIL)
    status, why = refused.sign_in(CODE, "1234")
    assert status == 403 and why.startswith("Pick another name")
    page = refused.http.post(
        f"{base}/hub/login",
        data={
            "username": EVIL,
            "code": CODE,
            "pin": "1234",
            "_xsrf": next((c.value for c in refused.http.cookies if c.name == "_xsrf"), ""),
        },
        timeout=60,
    ).text
    assert '<script>alert("x")' not in page and "<b>bold</b>" not in page


def test_guessing_a_pin_is_slowed_then_locked_and_the_instructor_unlocks(hub):
    """Before: 150 wrong PINs for one name took 3 s, and the right one was then accepted."""
    base, _home, _env = hub
    assert HubLearner(base, "gus").sign_in(CODE, "7777") == (200, "")
    guesser = HubLearner(base, "gus")
    said = [guesser.sign_in(CODE, f"{pin:04d}")[1] for pin in range(5)]
    assert "After 5 more wrong PINs, gus is locked until your instructor unlocks it." in said[-1]
    status, why = guesser.sign_in(CODE, "0005")
    assert status == 403 and why.startswith("Too many wrong tries for gus: wait")
    assert HubLearner(base, "gus").sign_in(CODE, "7777")[1].startswith("Too many wrong tries")  # gus too, for now
    teacher = HubLearner(base, "instructor")
    assert teacher.sign_in(ADMIN) == (200, "")
    view = teacher.http.get(f"{base}/services/class/api/view", timeout=60).json()
    assert view["names"]["gus"]["failures"] == 5 and view["names"]["gus"]["wait"] > 0
    assert teacher.post(f"{base}/services/class/api/unlock", name="gus").json() == {"name": "gus", "unlocked": True}
    assert HubLearner(base, "gus").sign_in(CODE, "7777") == (200, "")
    pin = teacher.post(f"{base}/services/class/api/pin", name="gus").json()["pin"]
    assert HubLearner(base, "gus").sign_in(CODE, "7777")[0] == 403
    assert HubLearner(base, "gus").sign_in(CODE, pin) == (200, "")
    assert (
        HubLearner(base, "gus").post(f"{base}/services/class/api/unlock", name="gus").status_code == 403
    )  # learners may not


def test_a_class_collected_and_graded_as_the_class_view_says(hub):
    """The whole journey: two learners work in their own labs (kim solves the first lesson and the
    capstone and saves them, lee checks and saves nothing), the instructor collects, runs the command
    the class view gives exactly as given, and gets a row per learner and notebook with the right
    scores, both graded capstones, and gradebooks naming both."""
    import shlex

    base, home, _env = hub
    kim, lee = HubLearner(base, "kim"), HubLearner(base, "lee")
    for learner, pin in ((kim, "1111"), (lee, "2222")):
        assert learner.sign_in(CODE, pin) == (200, "") and learner.open_lab() == 200
    assert "PASSED" in kim.run("from labkit import lab\n!docker pull -q busybox\nlab.check('start.pull')")
    assert "NOT YET" in lee.run("from labkit import lab\nlab.check('start.pull')")
    for lesson in ("00-start-here", "08-capstone"):  # kim's work, saved as JupyterLab saves it
        assert kim.save(f"{lesson}.ipynb", json.loads((REPO / "notebooks" / f"{lesson}.ipynb").read_text())) == 200
    teacher = HubLearner(base, "instructor")
    assert teacher.sign_in(ADMIN) == (200, "")
    collected = teacher.post(f"{base}/services/class/api/collect").json()
    everything = 2 * len(catalog.LESSONS)  # each of the course's notebooks, for both learners
    assert collected["notebooks"] >= everything and Path(collected["folder"]).is_relative_to(home)
    argv = shlex.split(collected["grade"])
    assert argv[0] == "env" or argv[0].startswith("/"), argv  # nothing looked up on a PATH (sudo's has no venv)
    done = subprocess.run(
        collected["grade"], shell=True, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=1800
    )
    report = Path(collected["reports"])
    assert report.exists(), done.stdout + done.stderr
    rows = {r["name"]: r for r in json.loads((report.parent / "report.json").read_text())["submissions"]}
    ours = {
        name: (r["learner"], r["status"], r["points"]) for name, r in rows.items() if name.startswith(("kim/", "lee/"))
    }
    assert len(ours) == everything, sorted(ours)  # every notebook of both, not the capstone alone
    not_graded = {n: "\n".join([rows[n]["problem"], *rows[n]["events"]]) for n, o in ours.items() if o[1] != "graded"}
    assert not not_graded, "\n\n".join(f"{n}:\n{why}" for n, why in not_graded.items())  # with its engine log's end
    assert ours["kim/00-start-here"] == ("kim", "graded", 1) and ours["kim/08-capstone"] == ("kim", "graded", 10)
    assert ours["lee/00-start-here"] == ("lee", "graded", 0) and ours["lee/08-capstone"] == ("lee", "graded", 0)
    problems = {name: rows[name]["problem"] for name, (_l, status, _p) in ours.items() if status != "graded"}
    assert not problems, problems
    for name in ("kim/08-capstone", "lee/08-capstone"):  # both graded copies kept, one not over the other
        assert Path(rows[name]["graded_notebook"]).exists() and name in rows[name]["graded_notebook"]
    canvas = {line[0]: line for line in csv.reader((report.parent / "canvas.csv").open())}
    header = canvas["Student"]
    assert canvas["kim"][header.index("08-capstone")] == "10" and canvas["lee"][header.index("08-capstone")] == "0"
    assert canvas["kim"][header.index("00-start-here")] == "1"
    assert (report.parent / "moodle" / "grades.csv").exists()


def test_a_pass_the_labs_tracker_sees_is_on_the_class_view_with_no_check_run(hub):
    """A learner's JupyterLab keeps the open lesson's tracker (labkit.ui.tracking, in the sandbox, on
    their own engine): a pull made as in a terminal, with no check run, turns start.pull passed there
    and on the instructor's class view, which reads the same progress."""
    base, _home, _env = hub
    eve = HubLearner(base, "eve")
    assert eve.sign_in(CODE, "3333") == (200, "") and eve.open_lab() == 200
    track = f"{base}/user/eve/labkit/track/start"

    def state_after(version: int) -> dict:  # as the notebook's tracker asks: the answer waits for a change
        answer = eve.http.get(track, params={"since": version}, timeout=60)
        assert answer.status_code == 200, f"{answer.status_code} {answer.text[:500]}"
        return answer.json()

    state = state_after(-1)
    deadline = time.monotonic() + 120
    while state["exercises"]["start.pull"] == "not checked" and time.monotonic() < deadline:
        state = state_after(state["version"])  # the tracker's first look at the engine
    assert state["exercises"]["start.pull"] == "failed", state
    said = eve.run("import subprocess\nprint(subprocess.run(['docker', 'pull', '-q', 'busybox']).returncode)")
    assert said.strip().endswith("0"), said
    pulled = time.monotonic()
    while state["exercises"]["start.pull"] != "passed" and time.monotonic() < pulled + 30:
        state = state_after(state["version"])
    assert state["exercises"]["start.pull"] == "passed", state
    print(f"eve's tracker: start.pull passed {time.monotonic() - pulled:.2f} s after her pull ended")

    teacher = HubLearner(base, "instructor")
    assert teacher.sign_in(ADMIN) == (200, "")
    view = teacher.http.get(f"{base}/services/class/api/view", timeout=60).json()
    row = next(r for r in view["learners"] if r["name"] == "eve")
    assert row["cells"]["start.pull"]["status"] == "passed", row
    assert eve.http.get(f"{base}/user/eve/labkit/track/nope", timeout=60).status_code == 404
    # without eve's sign-in her tracker does not answer: JupyterHub's login first
    assert requests.get(track, params={"since": -1}, timeout=60, allow_redirects=False).status_code in (302, 403)


def test_stopping_the_hub_takes_the_labs_down_and_keeps_the_work(lab, tmp_path):
    """Its own hub: stopped here, then started again, the learner finds their notebook; the class's
    mirror, closed to pushes while the hub runs, takes them again once it is stopped."""
    home, port = tmp_path / "hub", processes.free_port()
    uploads = f"http://{lab.mirror}/v2/library/nginx/blobs/uploads/"
    for attempt in ("first", "again"):
        with own_hub(lab, home, port) as hub:
            assert requests.post(uploads, timeout=10).status_code == 405
            assert "takes no pushes while `labkit hub` runs" in lab.refresh()["mirror"]["summary"]
            eve = HubLearner(hub.base, "eve")
            assert eve.sign_in(CODE, "4321") == (200, "") and eve.open_lab() == 200
            mine = home / "learners" / "eve" / "workspace" / "00-start-here.ipynb"
            if attempt == "first":
                mine.write_text(mine.read_text().replace("Start here", "Start here (eve was here)", 1))
            else:
                assert "eve was here" in mine.read_text()  # never overwritten
        assert "every learner's lab" in hub.said_at_stop
        opened = requests.post(uploads, timeout=10)
        assert opened.status_code == 202 and "takes no pushes" not in lab.refresh()["mirror"]["summary"]
        requests.delete(urljoin(uploads, opened.headers["Location"]), timeout=10)  # the upload begun here, cancelled


def test_a_full_machine_refuses_a_lab_and_both_sides_see_why(lab, tmp_path):
    """A hub keeping more memory free than the machine has: the learner's lab is refused at once, the
    learner reads why on the hub's page, the instructor on the class view; no sandbox is left."""
    with own_hub(lab, tmp_path / "hub", processes.free_port(), "--keep-free", "100000g") as hub:
        base = hub.base
        fay = HubLearner(base, "fay")
        started = time.monotonic()
        assert fay.sign_in(CODE, "5555") == (503, "")  # signed in, then sent to a lab that is refused at once
        assert time.monotonic() - started < 15
        page = fay.http.get(f"{base}/hub/spawn/fay", timeout=60)  # and again, as the page's own link does
        assert page.status_code == 503
        assert "Your lab did not start. The class server has no memory left for another lab" in page.text
        assert "tell your instructor" in page.text

        teacher = HubLearner(base, "instructor")
        assert teacher.sign_in(ADMIN) == (200, "")
        view = teacher.http.get(f"{base}/services/class/api/view", timeout=60)
        assert view.status_code == 200, view.text
        (row,) = [row for row in view.json()["learners"] if row["name"] == "fay"]
        assert "no memory left for another lab" in row["problem"]


def test_over_https_with_the_instructors_certificate_and_plain_http_refused(lab, tmp_path):
    """The hub serves its pages and a learner's lab (her kernel's websocket too) over HTTPS with the
    certificate it was given; a plain-HTTP request to its port gets no page. Before: plain HTTP only."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from labkit.classroom.hub import HubOptions, certificate

    made = certificate(HubOptions(hostname="127.0.0.1", home=tmp_path / "mine"))  # as the instructor's own
    options = ("--tls-cert", str(made.cert), "--tls-key", str(made.key))
    port = processes.free_port()
    with own_hub(lab, tmp_path / "hub", port, *options, https=True) as hub:
        served = ssl.get_server_certificate(("127.0.0.1", port))
        digest = x509.load_pem_x509_certificate(served.encode()).fingerprint(hashes.SHA256())
        assert ":".join(f"{b:02X}" for b in digest) == made.fingerprint
        page = requests.get(f"{hub.base}/hub/login", verify=str(made.cert), timeout=30)
        assert page.status_code == 200 and 'id="login_submit"' in page.text
        assert 'id="certificate-note"' not in page.text  # the instructor's own: nothing to accept
        try:
            plain = requests.get(f"http://127.0.0.1:{port}/hub/login", timeout=30, allow_redirects=False)
        except requests.ConnectionError:
            pass  # refused
        else:
            assert plain.status_code in (301, 302, 307, 308, 400) and "login_submit" not in plain.text
        ivy = HubLearner(hub.base, "ivy", verify=str(made.cert))
        assert ivy.sign_in(CODE, "8080") == (200, "") and ivy.open_lab() == 200
        assert ivy.run("print(6 * 7)").strip() == "42"
        status = subprocess.run(
            [sys.executable, "-m", "labkit", "hub", "--status"],
            env={**lab.env, "LABKIT_HUB_HOME": str(tmp_path / "hub")},
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        assert f"The hub runs (pid {hub.pid})" in status and "1 learner lab(s)" in status, status
        assert f"https://127.0.0.1:{port}/" in status, status


def test_a_hub_made_certificate_is_shown_with_its_fingerprint_on_the_sign_in_page(lab, tmp_path):
    with own_hub(lab, tmp_path / "hub", processes.free_port(), "--hostname", "127.0.0.1", https=True) as hub:
        made = tmp_path / "hub" / "tls" / "hub.crt"
        page = requests.get(f"{hub.base}/hub/login", verify=str(made), timeout=30).text
        from labkit.classroom.hub import HubOptions, certificate

        fingerprint = certificate(HubOptions(hostname="127.0.0.1", home=tmp_path / "hub")).fingerprint  # the one kept
        assert 'id="certificate-note"' in page and fingerprint in page
    assert f"fingerprint: {fingerprint}" in hub.output  # `labkit hub` shows it to the instructor


def _warm_ready(home: Path, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((home / "warm.json").read_text())["ready"] >= count:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"the hub did not make {count} lab(s) ahead in {timeout} s")


def test_a_lab_made_ahead_becomes_the_learners_own(lab, tmp_path):
    """--warm 1: the first learner gets the lab made ahead, their folder bound into it: their kernel
    works in their own workspace (kept in the hub's folder), on their lab's engine and registry, and
    sees nothing of the hub; the second, signing in at once, gets one made for them; the pool fills
    again once the sign-ins are over."""
    home = tmp_path / "hub"
    with own_hub(lab, home, processes.free_port(), "--warm", "1") as hub:
        _warm_ready(home, 1)
        ann, ben = HubLearner(hub.base, "ann"), HubLearner(hub.base, "ben")
        started = time.monotonic()
        assert ann.sign_in(CODE, "1212") == (200, "") and ann.open_lab() == 200
        ready = time.monotonic() - started
        assert ben.sign_in(CODE, "3434") == (200, "") and ben.open_lab() == 200
        assert _lab_of(home, "ann")["sandbox"].startswith(f"labkit-sb-{hub.pid}-w")
        # her lab's cookie is for her lab alone (JupyterHub's HubAuth was loaded ahead, before her prefix was known)
        assert {c.path for c in ann.http.cookies if c.name == "jupyterhub-user-ann"} == {"/user/ann/"}
        assert "-u" in _lab_of(home, "ben")["sandbox"]
        said = ann.run(
            "import getpass, os\nfrom labkit import lab\nprint(getpass.getuser(), os.getcwd())\n"
            "open('mine.txt', 'w').write('ann')\n"
            f"print('hub', os.path.exists({str(home / 'learners')!r}) and os.listdir({str(home / 'learners')!r}))\n"
            "!docker pull -q busybox\nlab.check('start.pull')"
        )
        assert said.startswith(_lab_of(home, "ann")["sandbox"]) and "PASSED" in said, said
        assert "hub False" in said or "hub []" in said, said  # the hub's folder is hidden from her lab
        assert (home / "learners" / "ann" / "workspace" / "mine.txt").read_text() == "ann"  # kept, in her folder
        assert "NOT YET" in ben.run("from labkit import lab\nlab.check('start.pull')")  # her work is not his
        _warm_ready(home, 1, timeout=120)  # made again after the sign-ins
    print(f"sign-in to a ready lab made ahead: {ready:.1f} s")


def _lab_of(home: Path, name: str) -> dict:
    """`name`'s lab as JupyterHub's database keeps it ({"sandbox", "pid"}: SandboxSpawner.get_state)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(home / "jupyterhub.sqlite")) as db:
        (state,) = db.execute(
            "SELECT s.state FROM spawners s JOIN users u ON s.user_id = u.id WHERE u.name = ?", (name,)
        ).fetchone()
    return json.loads(state or "{}")


def test_a_hub_killed_hard_takes_its_labs_back_and_makes_again_what_died(lab, tmp_path):
    """kill -9 of JupyterHub during a class: started again, it takes back ada's lab as it was (her
    session, her kernel's variables), makes bob's again (his lab died while the hub was down) keeping
    his work, takes down what the dead hub left that no learner holds; then the instructor sees each
    lab's health on the class view and restarts ada's, her work kept."""
    home, port = tmp_path / "hub", processes.free_port()
    ada, bob = HubLearner("", "ada"), HubLearner("", "bob")
    with own_hub(lab, home, port, "--warm", "1", stop=False) as first:
        _warm_ready(home, 1)  # ada's lab is the one made ahead, bob's one made for him: both taken back alike
        for learner, pin in ((ada, "1111"), (bob, "2222")):
            learner.base = first.base
            assert learner.sign_in(CODE, pin) == (200, "") and learner.open_lab() == 200
        assert ada.run("x = 41\nprint('set')").strip() == "set"
        mine = home / "learners" / "bob" / "workspace" / "00-start-here.ipynb"
        mine.write_text(mine.read_text().replace("Start here", "Start here (bob was here)", 1))
        ada_lab, bob_lab = _lab_of(home, "ada"), _lab_of(home, "bob")
        stray = f"labkit-sb-{first.pid}-u999"  # a lab the hub was making when it was killed
        subprocess.run(["useradd", "--system", "--no-create-home", stray], check=True)
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait(timeout=60)
        os.kill(bob_lab["pid"], signal.SIGKILL)  # and bob's JupyterLab dies while no hub runs
    assert first.proc.returncode == 1 and "JupyterHub ended on its own" in first.output, first.output
    assert pwd.getpwnam(ada_lab["sandbox"])  # the labs outlived their hub

    with own_hub(lab, home, port, "--warm", "1") as second:
        assert second.pid != first.pid
        assert ada.run("print(x + 1)").strip() == "42"  # her session and her kernel, as they were
        assert _lab_of(home, "ada")["sandbox"] == ada_lab["sandbox"]
        gone = bob.http.get(f"{second.base}/user/bob/lab", timeout=60).text  # his lab went with the hub
        assert "It will be restarted automatically" in gone  # the page sends his browser on, as its script does:
        bob.http.get(urljoin(second.base, re.findall(r'var spawn_url = "([^"]+)"', gone)[0]), timeout=60)
        assert bob.open_lab() == 200
        assert "bob was here" in mine.read_text()
        assert stray not in {entry.pw_name for entry in pwd.getpwall()}  # taken down before JupyterHub started
        gone = (
            time.monotonic() + 120
        )  # what died: taken down as JupyterHub checks its labs, which may outlast its start
        while bob_lab["sandbox"] in {entry.pw_name for entry in pwd.getpwall()} and time.monotonic() < gone:
            time.sleep(0.5)
        assert bob_lab["sandbox"] not in {entry.pw_name for entry in pwd.getpwall()}
        assert _lab_of(home, "bob")["sandbox"].startswith(f"labkit-sb-{second.pid}-")

        teacher = HubLearner(second.base, "instructor")
        assert teacher.sign_in(ADMIN) == (200, "")
        labs = teacher.http.get(f"{second.base}/services/class/api/view", timeout=60).json()["labs"]
        assert labs["ada"]["running"] and labs["ada"]["engine"] and labs["bob"]["engine"], labs
        assert 0 < labs["ada"]["memory"] < labs["ada"]["limit"] == 1536 * 2**20, labs
        restarted = teacher.post(f"{second.base}/services/class/api/restart", name="ada").json()
        assert restarted == {"name": "ada", "restarted": True, "problem": ""}, restarted
        assert ada.open_lab() == 200
        assert _lab_of(home, "ada")["sandbox"] not in (ada_lab["sandbox"], "")
        assert ada_lab["sandbox"] not in {entry.pw_name for entry in pwd.getpwall()}
        assert (home / "learners" / "ada" / "workspace" / "00-start-here.ipynb").exists()
        assert (
            HubLearner(second.base, "ada").post(f"{second.base}/services/class/api/restart", name="bob").status_code
            == 403
        )
    assert not [
        line for line in Path("/etc/passwd").read_text().splitlines() if line.startswith(f"labkit-sb-{first.pid}-")
    ]


# ---------------------------------------------------------------- in a real browser

from test_browser import chromium as chromium  # noqa: E402  (the fixture: pytest finds it by this name)
from test_browser import code_cell, menu, output, run_cell  # noqa: E402


def _signed_in(browser, base: str, name: str, code: str, pin: str = ""):
    """A browser of its own (context), signed in; its page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/hub/login")
    page.fill("#code", code)
    page.fill("#username_input", name)
    if pin:
        page.fill("#pin", pin)
    page.click("#login_submit")
    return page


def _start_here(page) -> None:
    """JupyterLab opened on 00-start-here, its kernel idle."""
    from playwright.sync_api import expect

    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=180_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle")


def test_the_instructor_sees_the_class_live_in_a_browser(hub, chromium):
    from playwright.sync_api import expect

    base, home, _env = hub
    teacher = _signed_in(chromium, base, "instructor", ADMIN)
    expect(teacher.locator("h1")).to_have_text("The class")  # the instructor lands on the class view
    assert teacher.url.startswith(f"{base}/services/class/")

    cat, dan = _signed_in(chromium, base, "cat", CODE, "1111"), _signed_in(chromium, base, "dan", CODE, "2222")
    for learner in (cat, dan):
        _start_here(learner)
    exercise = code_cell(cat, "# Your turn")
    exercise.locator(".cm-content").click()
    cat.keyboard.press("Control+a")
    cat.keyboard.type("!docker pull busybox")
    cat.keyboard.press("Escape")
    for learner in (cat, dan):  # dan leaves the exercise undone and runs the check all the same
        menu(learner, "Run", "Run All Cells")
    expect(output(code_cell(cat, 'lab.check("start.pull")'))).to_contain_text("PASSED")
    expect(output(code_cell(dan, 'lab.check("start.pull")'))).to_contain_text("NOT YET")

    # The instructor's page, never reloaded, now shows both.
    passed = teacher.locator('tr[data-learner="cat"] td[data-exercise="start.pull"]')
    failed = teacher.locator('tr[data-learner="dan"] td[data-exercise="start.pull"]')
    expect(passed).to_contain_text("passed", timeout=10_000)
    expect(failed).to_contain_text("failed", timeout=10_000)
    expect(failed).to_contain_text("There is no image busybox:latest in your engine yet")

    teacher.get_by_role("button", name="Collect every learner's notebooks").click()
    expect(teacher.locator("#collected")).to_contain_text("labkit grade")
    collected = Path(teacher.locator("#collected").inner_text().split(" in ", 1)[1].split(";", 1)[0])
    assert (collected / "cat" / "00-start-here.ipynb").exists() and (collected / "dan" / "08-capstone.ipynb").exists()

    # From cat's notebook, dan's workspace, engine and registry are out of reach.
    dan_user = pwd.getpwuid((home / "learners" / "dan").stat().st_uid).pw_name  # his lab's user owns his folder
    dan_registry = json.loads((sandbox.BASE / dan_user / "lab" / "state.json").read_text())["registry"]["port"]
    attempts = (
        f"import os, socket, requests\\n"
        f"for what, attempt in (('workspace', lambda: os.listdir('{home}/learners/dan/workspace')), "
        f"('engine', lambda: socket.socket(socket.AF_UNIX).connect('{sandbox.BASE}/{dan_user}/run/docker.sock'))):\\n"
        f"    try:\\n        attempt(); print(what, 'REACHED')\\n"
        f"    except OSError as e:\\n        print(what, type(e).__name__)\\n"
        f"print('registry', requests.get('http://127.0.0.1:{dan_registry}/v2/_catalog', timeout=10).status_code)"
    )
    exercise.locator(".cm-content").click()
    cat.keyboard.press("Control+a")
    cat.keyboard.type(f'exec("{attempts}")')  # one line: the editor indents nothing
    cat.keyboard.press("Escape")
    run_cell(cat, exercise)
    said = output(exercise)
    assert (sandbox.BASE / dan_user / "run" / "docker.sock").is_socket()  # there, seen as root
    # his engine's folder is his alone (or, for a lab made after cat's, not even there in cat's view)
    expect(said).to_contain_text(re.compile(r"engine (PermissionError|FileNotFoundError)"), timeout=30_000)
    expect(said).to_contain_text(
        re.compile(r"workspace (FileNotFoundError|PermissionError)")
    )  # the hub's folder is hidden
    expect(said).to_contain_text("registry 401")  # his registry asks for his login, which cat's lab does not have

    refused = dan.goto(f"{base}/services/class/")  # a learner may not open the instructor's page
    assert refused.status == 403
    for page in (teacher, cat, dan):
        page.context.close()
