"""The single-user image of a class on Kubernetes (deploy/singleuser/Dockerfile, docs/classroom.md):
built on the session lab's engine, then started as Zero to JupyterHub would start a learner's pod (as
uid 1000, a volume for the home, the pod's security settings of docs/classroom.md), with a rootless
engine of its own inside, the base images from a bundle, and the lab and a check run in it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from labkit.course import release

REPO = Path(__file__).resolve().parents[2]
#: The machine's certificates, for pip behind a proxy that re-signs TLS (as this test machine's is).
CERTIFICATES = Path("/etc/ssl/certs/ca-certificates.crt")
TOKEN = "singleuser-test"


@pytest.fixture(scope="module")
def image(lab):
    tag = f"labkit-singleuser-test:{os.getpid()}"
    secret = ["--secret", f"id=ca-certificates,src={CERTIFICATES}"] if CERTIFICATES.is_file() else []
    lab.docker("build", *secret, "-f", str(REPO / "deploy/singleuser/Dockerfile"), "-t", tag, str(REPO), timeout=1200)
    try:
        yield tag
    finally:
        lab.docker("rmi", "-f", tag, check=False)
        lab.docker("builder", "prune", "-af", check=False, timeout=300)


@pytest.fixture
def pod(lab, image, tmp_path):
    """What a learner's pod is given: a /dev/net/tun the learner may open (as udev's 0666 node would
    be), a volume for the home (a PersistentVolumeClaim), the base images as a bundle file."""
    tun = tmp_path / "tun"
    os.mknod(tun, 0o600 | stat.S_IFCHR, os.makedev(10, 200))
    os.chown(tun, 1000, 1000)
    bundle = tmp_path / "bundle.tar"
    lab.labkit("mirror", "save", str(bundle), timeout=300)
    name = f"labkit-singleuser-test-{os.getpid()}"
    options = [
        "--name",
        name,
        "-v",
        f"{tun}:/dev/net/tun",
        "-v",
        f"{bundle}:/srv/bundle.tar:ro",
        "-e",
        "LABKIT_BUNDLE=/srv/bundle.tar",
        "-v",
        f"{name}-home:/home/jovyan",
    ]
    try:
        yield name, options
    finally:
        lab.docker("rm", "-f", name, check=False)
        lab.docker("volume", "rm", "-f", f"{name}-home", check=False)


def _in_lab(lab, name: str, script: str) -> subprocess.CompletedProcess:
    """`script` in the running pod, as its learner, in a shell pointed at the lab (as JupyterLab's terminal is)."""
    return lab.docker("exec", name, "bash", "-c", f'eval "$(labkit env)"; {script}', check=False, timeout=300)


def _lab_serves(lab, name: str, deadline: float) -> None:
    probe = (
        f"import requests; print(requests.get('http://127.0.0.1:8888/api/status?token={TOKEN}', timeout=5).status_code)"
    )
    while time.monotonic() < deadline:
        if lab.docker("exec", name, "python", "-c", probe, check=False).stdout.strip() == "200":
            return
        if lab.docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
            break
        time.sleep(1)
    raise AssertionError(
        "JupyterLab did not answer in the pod:\n" + lab.docker("logs", name, check=False).stderr[-4000:]
    )


def test_the_single_user_image_runs_a_learners_lab_and_a_check(lab, image, pod):
    name, options = pod
    server = ["jupyter-lab", "--ip=127.0.0.1", "--port=8888", f"--IdentityProvider.token={TOKEN}", "--no-browser"]
    lab.docker("run", "-d", "--privileged", *options, image, *server)
    _lab_serves(lab, name, time.monotonic() + 180)

    who = _in_lab(lab, name, 'id -u; docker info --format "{{.SecurityOptions}}"; ls ~/workspace; labkit status')
    assert who.returncode == 0, who.stderr
    assert who.stdout.splitlines()[0] == "1000"  # the learner, not root
    assert "rootless" in who.stdout and "00-start-here.ipynb" in who.stdout and "08-capstone.ipynb" in who.stdout

    # A check fails on undone work, then passes once the learner pulls (through the lab's own mirror: offline).
    undone = _in_lab(lab, name, "labkit reset >/dev/null && labkit check start.pull")
    assert undone.returncode == 1 and "NOT YET" in undone.stdout, undone.stdout + undone.stderr
    done = _in_lab(lab, name, "docker pull -q busybox && labkit check start.pull")
    assert done.returncode == 0 and "PASSED" in done.stdout, done.stdout + done.stderr

    # The learner's pod goes and comes back (the same home): their notebook and registry address stay.
    before = _in_lab(
        lab, name, "printf '\\n# mine\\n' >> ~/workspace/00-start-here.ipynb; labkit env | grep LABKIT_REGISTRY"
    ).stdout
    lab.docker("restart", name)
    _lab_serves(lab, name, time.monotonic() + 180)
    after = _in_lab(
        lab,
        name,
        "tail -n 1 ~/workspace/00-start-here.ipynb; labkit env | grep LABKIT_REGISTRY; labkit check start.pull",
    )
    assert after.stdout.startswith("# mine\n") and before in after.stdout and "PASSED" in after.stdout, (
        after.stdout + after.stderr
    )


def test_the_image_holds_no_solution(lab, image):
    """The source notebooks hold the solutions; the image only learner copies (in no layer either:
    they are released in a build stage of their own)."""
    probe = (
        "import json, pathlib\n"
        "for path in sorted(pathlib.Path('/opt/labkit/notebooks').glob('*.ipynb')):\n"
        "    for cell in json.loads(path.read_text())['cells']:\n"
        "        print(json.dumps([path.name, cell.get('metadata', {}).get('tags', []), ''.join(cell['source'])]))\n"
    )
    cells = [
        json.loads(line)
        for line in lab.docker("run", "--rm", "--entrypoint", "python", image, "-c", probe).stdout.splitlines()
    ]
    assert {name for name, _tags, _source in cells} == {path.name for path in (REPO / "notebooks").glob("*.ipynb")}
    assert not [name for name, tags, _source in cells if release.SOLUTION_TAG in tags]
    answers = set()  # (notebook, a solution's text that no other cell of its source has)
    for path in (REPO / "notebooks").glob("*.ipynb"):
        source = nbformat.read(path, as_version=4)
        solved = set(release.solution_cells(source))
        others = {cell.source for i, cell in enumerate(source.cells) if i not in solved}
        answers |= {(path.name, source.cells[i].source) for i in solved if source.cells[i].source not in others}
    assert answers and not [name for name, _tags, text in cells if (name, text) in answers]
    history = lab.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert "notebooks/*.ipynb" not in history  # the sources were copied into the release stage only


def test_a_pod_without_what_rootless_docker_needs_says_so(lab, image, pod):
    name, options = pod
    plain = lab.docker("run", "--rm", *options, image, check=False, timeout=180)  # Docker's default confinement
    assert plain.returncode == 1
    assert "Your Docker engine did not start" in plain.stderr and "/dev/net/tun" in plain.stderr, plain.stderr
    as_root = lab.docker("run", "--rm", "-u", "0", image, check=False)
    assert as_root.returncode == 1 and "never as root" in as_root.stderr, as_root.stderr


def test_the_narrower_pod_settings_suffice(lab, image, pod):
    """docs/classroom.md's narrower settings than --privileged: one capability, no seccomp or AppArmor
    profile, an unmasked /proc, the tun device allowed. The command runs once the lab is up, in it."""
    name, options = pod
    narrow = [
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "systempaths=unconfined",
        "--device-cgroup-rule",
        "c 10:200 rwm",
    ]
    script = (
        "labkit reset >/dev/null; labkit check start.pull >/dev/null; echo undone=$?; "
        "docker pull -q busybox >/dev/null && docker run --rm busybox echo ran; "
        "labkit check start.pull >/dev/null; echo done=$?"
    )
    said = lab.docker("run", "--rm", *narrow, *options, image, "bash", "-c", script, check=False, timeout=300)
    assert said.stdout.split() == ["undone=1", "ran", "done=0"], said.stdout + said.stderr[-3000:]
