"""Every check primitive against real engine state: one state where it passes, and wrong
states where it fails with the words a learner needs.

States are made with the real docker CLI (`lab.docker`), under names that start with
`prim-`; the `made` fixture removes every container and image a test made, and the
registry tests log out and put the docker config back as they found it.
"""

from __future__ import annotations

import base64
import json
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labkit.course.checks import containers, files, http, images, registry
from labkit.registries import RegistryClient

pytestmark = [pytest.mark.engine, pytest.mark.course]

PAGE = "<!doctype html>\n<title>prim</title>\n<h1>Hello from prim-web</h1>\n"


# --- helpers ---------------------------------------------------------------------------
@dataclass
class Made:
    """What a test made in the engine; removed when the test ends, containers first."""

    lab: object
    where: Path
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)  # ids: a push leaves digest names on them

    def image(self, ref: str) -> str:
        self.images.append(ref)
        return ref

    def tag(self, source: str, ref: str) -> str:
        self.lab.docker("tag", source, self.image(ref))
        return ref

    def build(self, ref: str, dockerfile: str, files: dict[str, str] | None = None, *options: str) -> str:
        """Build `dockerfile` (and `files`, relative to the context) as `ref`; returns ref."""
        context = self.where / ref.replace("/", "_").replace(":", "_")
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(dockerfile)
        for name, text in (files or {}).items():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            (context / name).write_text(text)
        self.lab.docker("build", *options, "-t", self.image(ref), str(context))
        self.built.append(inspect(self.lab, ref)["Id"])
        return ref

    def run(self, name: str, *args: str, check: bool = True):
        """`docker run --name NAME ARGS…` (its container is removed afterwards)."""
        self.containers.append(name)
        return self.lab.docker("run", "--name", name, *args, check=check)

    def create(self, name: str, *args: str):
        self.containers.append(name)
        return self.lab.docker("create", "--name", name, *args)

    def push(self, ref: str) -> str:
        """`docker push REF` (its tag is deleted from the registry afterwards)."""
        self.pushed.append(ref)
        self.lab.docker("push", ref)
        return ref

    def cleanup(self) -> None:
        for name in self.containers:
            self.lab.docker("rm", "-f", name, check=False)
        for ref in reversed(self.images):
            self.lab.docker("rmi", ref, check=False)
        for image_id in dict.fromkeys(self.built):  # only images this test built, never a base
            self.lab.docker("rmi", "-f", image_id, check=False)
        client = RegistryClient(self.lab.registry, auth=("learner", self.lab.password))
        for ref in dict.fromkeys(self.pushed):
            client.delete_tag(*registry.split(ref, self.lab.registry))
        client.close()


@pytest.fixture(scope="module")
def bases(lab):
    """The mirror's base images, pulled once (shared, never removed here)."""
    for ref in ("busybox", "nginx"):
        lab.docker("pull", ref)
    return lab


@pytest.fixture
def made(bases, tmp_path):
    made = Made(bases, tmp_path / "builds")
    try:
        yield made
    finally:
        made.cleanup()


def inspect(lab, ref: str) -> dict:
    return json.loads(lab.docker("image", "inspect", ref).stdout)[0]


def layer_count(lab, ref: str) -> int:
    return len(inspect(lab, ref)["RootFS"]["Layers"])


def labkit_containers(lab) -> list[str]:
    return lab.docker("ps", "-aq", "--filter", "label=labkit").stdout.split()


def failed(result, *words: str) -> None:
    assert result.status == "failed" and not result.passed, result
    for word in words:
        assert word in result.feedback, f"{word!r} not in feedback: {result.feedback!r}"


def passed(result, *words: str) -> None:
    assert result.status == "passed" and result.passed, result
    for word in words:
        assert word in result.feedback, f"{word!r} not in feedback: {result.feedback!r}"


# --- images.present / absent -----------------------------------------------------------
def test_present_and_absent(ctx, made):
    passed(images.present(ctx, "busybox"), "busybox is there")
    failed(
        images.present(ctx, "prim-present-none:v1"),
        "There is no image prim-present-none:v1",
        "docker pull prim-present-none:v1",
    )
    failed(images.present(ctx, "prim-present-none:v1", how="build it"), "build it")
    passed(images.absent(ctx, "prim-present-none:v1"), "is gone")
    made.tag("busybox", "prim-absent:v1")
    failed(images.absent(ctx, "prim-absent:v1"), "still there", "docker rmi prim-absent:v1")


# --- images.same_image -----------------------------------------------------------------
def test_same_image_passes_for_a_second_name(ctx, made):
    made.tag("nginx", "prim-same-ok:v1")
    passed(images.same_image(ctx, "prim-same-ok:v1", "nginx"), "another name for nginx")


def test_same_image_names_the_image_that_was_tagged_instead(ctx, made):
    made.tag("busybox", "prim-same-wrong:v1")
    failed(images.same_image(ctx, "prim-same-wrong:v1", "nginx"), "points to", "busybox", "wrong image")


def test_same_image_fails_when_a_name_is_missing(ctx, made):
    failed(
        images.same_image(ctx, "prim-same-none:v1", "nginx"),
        "There is no image prim-same-none:v1",
        "docker tag nginx prim-same-none:v1",
    )
    made.tag("busybox", "prim-same-orphan:v1")
    failed(
        images.same_image(ctx, "prim-same-orphan:v1", "prim-same-target:v9"),
        "prim-same-target:v9 is not in your engine",
        "pull",
    )


# --- images.built_on -------------------------------------------------------------------
def test_built_on_passes_for_a_build_with_one_run(ctx, made):
    made.build("prim-built:v1", "FROM busybox\nRUN echo built > /built\n")
    passed(images.built_on(ctx, "prim-built:v1", "busybox", new_layers=1), "built on busybox", "1 layer")
    passed(images.built_on(ctx, "prim-built:v1", "busybox", at_most=1))


def test_built_on_sees_a_tag_that_was_not_built(ctx, made):
    made.tag("busybox", "prim-tagged")
    failed(
        images.built_on(ctx, "prim-tagged", "busybox", new_layers=1), "tagged, not built", "docker build -t prim-tagged"
    )


def test_built_on_sees_the_wrong_base(ctx, made):
    made.build("prim-built-nginx:v1", "FROM nginx\nRUN echo built > /built\n")
    failed(images.built_on(ctx, "prim-built-nginx:v1", "busybox", new_layers=1), "not built on busybox", "FROM busybox")


def test_built_on_counts_new_layers(ctx, made):
    made.build("prim-built-three:v1", "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nRUN echo c > /c\n")
    failed(images.built_on(ctx, "prim-built-three:v1", "busybox", new_layers=1), "adds 3 layer(s)", "expected 1")
    failed(images.built_on(ctx, "prim-built-three:v1", "busybox", at_most=2), "adds 3 layers", "at most 2", "combine")
    failed(images.built_on(ctx, "prim-built-none:v1", "busybox"), "There is no image prim-built-none:v1")


# --- images.diverge_at -----------------------------------------------------------------
DIVERGE = "FROM busybox\nRUN echo {pkg} > /pkg\nCOPY app /app\n"


def test_diverge_at_passes_when_only_app_changed(ctx, made):
    made.build("prim-div-ok:v1", DIVERGE.format(pkg="pkg"), {"app/main.txt": "one\n"})
    made.build("prim-div-ok:v2", DIVERGE.format(pkg="pkg"), {"app/main.txt": "two\n"})
    shared = layer_count(made.lab, "busybox") + 1
    passed(images.diverge_at(ctx, "prim-div-ok:v1", "prim-div-ok:v2", shared), "build cache", f"first {shared} layers")


def test_diverge_at_sees_the_very_same_image(ctx, made):
    made.build("prim-div-same:v1", DIVERGE.format(pkg="pkg"), {"app/main.txt": "one\n"})
    made.build("prim-div-same:v2", DIVERGE.format(pkg="pkg"), {"app/main.txt": "one\n"})
    shared = layer_count(made.lab, "busybox") + 1
    failed(
        images.diverge_at(ctx, "prim-div-same:v1", "prim-div-same:v2", shared),
        "very same image",
        "change a file in app/",
    )


def test_diverge_at_sees_the_tag_moved(ctx, made):
    made.build("prim-div-moved:v1", DIVERGE.format(pkg="pkg"), {"app/main.txt": "one\n"})
    made.build("prim-div-moved:v2", DIVERGE.format(pkg="pkg2"), {"app/main.txt": "two\n"}, "--no-cache")
    shared = layer_count(made.lab, "busybox") + 1
    failed(
        images.diverge_at(ctx, "prim-div-moved:v1", "prim-div-moved:v2", shared, what="RUN"),
        "The tag moved",
        "without --no-cache",
        f"of {shared}",
    )
    failed(
        images.diverge_at(ctx, "prim-div-moved:v1", "prim-div-none:v1", shared),
        "There is no image prim-div-none:v1",
        "docker build -t prim-div-none:v1",
    )


# --- images.history_in_order -----------------------------------------------------------
@pytest.fixture
def storied(made):
    return made.build(
        "prim-hist:v1",
        'FROM busybox\nRUN echo first > /a\nCOPY app /app\nRUN echo second > /b\nCMD ["sh"]\n',
        {"app/x.txt": "x\n"},
    )


def test_history_in_order_passes(ctx, storied):
    expected = [("RUN", "echo first"), ("COPY", "/app"), ("RUN", "echo second"), ("CMD", "sh")]
    passed(images.history_in_order(ctx, storied, expected), "in order")


def test_history_in_order_sees_a_missing_step(ctx, storied):
    failed(
        images.history_in_order(ctx, storied, [("RUN", "echo first"), ("RUN", "echo third")]),
        "`RUN echo third` is missing",
        "not in the image's history",
    )
    failed(
        images.history_in_order(ctx, "prim-hist-none:v1", [("RUN", "echo first")]),
        "There is no image prim-hist-none:v1",
    )


def test_history_in_order_sees_the_wrong_order(ctx, storied):
    result = images.history_in_order(ctx, storied, [("RUN", "echo second"), ("RUN", "echo first")])
    failed(
        result,
        (
            "In prim-hist:v1's build `RUN … echo first` comes before `RUN … echo second`: "
            "move the RUN line below the `RUN … echo second` line"
        ),
    )
    assert "missing" not in result.feedback


# --- images.config_field ---------------------------------------------------------------
@pytest.fixture
def configured(made):
    return made.build(
        "prim-config:v1",
        'FROM busybox\nLABEL course="docker-images"\nEXPOSE 8080\nWORKDIR /srv\nCMD ["sh", "-c", "echo hi"]\n',
    )


def test_config_field_passes_for_each_field(ctx, made, configured):
    labels = {**(inspect(made.lab, "busybox")["Config"].get("Labels") or {}), "course": "docker-images"}
    passed(images.config_field(ctx, configured, "Cmd", ["sh", "-c", "echo hi"]))
    passed(images.config_field(ctx, configured, "ExposedPorts", ["8080/tcp"]))
    passed(images.config_field(ctx, configured, "Labels", labels))
    passed(images.config_field(ctx, configured, "WorkingDir", "/srv"), '"/srv"')


@pytest.mark.parametrize(
    "name, wrong, words",
    [
        ("Cmd", ["nginx", "-g", "daemon off;"], ['Cmd is ["sh", "-c", "echo hi"]', 'not ["nginx"']),
        ("ExposedPorts", ["80/tcp"], ['ExposedPorts is ["8080/tcp"], not ["80/tcp"]']),
        ("Labels", {"course": "other"}, ['"course": "docker-images"', 'not {"course": "other"}']),
        ("WorkingDir", "/app", ['WorkingDir is "/srv", not "/app"']),
    ],
)
def test_config_field_fails_with_what_it_saw(ctx, configured, name, wrong, words):
    failed(images.config_field(ctx, configured, name, wrong), *words)


def test_config_field_fails_for_a_missing_image(ctx, made):
    failed(images.config_field(ctx, "prim-config-none:v1", "Cmd", ["sh"]), "There is no image prim-config-none:v1")


# --- images.file_in_image --------------------------------------------------------------
def test_file_in_image_leaves_no_container_behind(ctx, made):
    ref = made.build("prim-file:v1", "FROM busybox\nRUN echo hello there > /greeting\n")
    before = labkit_containers(made.lab)
    assert before == []
    passed(images.file_in_image(ctx, ref, "/greeting", contains=b"hello"), "holds /greeting")
    failed(images.file_in_image(ctx, ref, "/nope"), "has no file /nope")
    failed(images.file_in_image(ctx, ref, "/greeting", contains=b"goodbye"), "does not hold 'goodbye'")
    failed(images.file_in_image(ctx, "prim-file-none:v1", "/greeting"), "There is no image prim-file-none:v1")
    assert labkit_containers(made.lab) == []


def test_file_in_image_does_not_take_a_directory_for_a_file(ctx, made):
    ref = made.build("prim-file-dir:v1", "FROM busybox\nRUN mkdir /notes && echo hello > /notes/a.txt\n")
    failed(images.file_in_image(ctx, ref, "/notes"), "has no file /notes")


# --- images.committed_from -------------------------------------------------------------
@pytest.fixture
def written(made):
    """A stopped container that wrote /f."""
    made.run("prim-commit-box", "busybox", "sh", "-c", "echo one > /f")
    return "prim-commit-box"


def test_committed_from_passes_after_a_commit(ctx, made, written):
    made.lab.docker("commit", written, made.image("prim-commit:v1"))
    passed(images.committed_from(ctx, "prim-commit:v1", written), "plus one layer")


def test_committed_from_sees_a_tag_instead_of_a_commit(ctx, made, written):
    image = made.lab.docker("container", "inspect", written, "--format", "{{.Image}}").stdout.strip()
    made.tag(image, "prim-commit-tagged:v1")
    failed(
        images.committed_from(ctx, "prim-commit-tagged:v1", written),
        "tagged, not committed",
        f"docker commit {written}",
    )
    failed(
        images.committed_from(ctx, "prim-commit-none:v1", written),
        "There is no image prim-commit-none:v1",
        f"docker commit {written} prim-commit-none:v1",
    )


def test_committed_from_sees_a_change_after_the_commit(ctx, made, written, tmp_path):
    made.lab.docker("commit", written, made.image("prim-commit-old:v1"))
    (tmp_path / "f").write_text("two\n")
    made.lab.docker("cp", str(tmp_path / "f"), f"{written}:/f")
    failed(
        images.committed_from(ctx, "prim-commit-old:v1", written), "/f in prim-commit-old:v1 differs", "commit again"
    )


def test_committed_from_an_unchanged_container_is_not_called_a_tag(ctx, made):
    made.run("prim-commit-same", "busybox", "true")
    made.lab.docker(
        "commit", "prim-commit-same", made.image("prim-commit-same:v1")
    )  # an empty layer on some engines, none on others
    result = images.committed_from(ctx, "prim-commit-same:v1", "prim-commit-same")
    failed(
        result,
        "prim-commit-same has no changes, so a commit of it adds nothing",
        "docker commit prim-commit-same prim-commit-same:v1",
    )
    assert "tagged" not in result.feedback


def test_committed_from_needs_the_container(ctx, made):
    made.tag("busybox", "prim-commit-lone:v1")
    failed(
        images.committed_from(ctx, "prim-commit-lone:v1", "prim-commit-nobox"),
        "There is no container prim-commit-nobox",
    )


# --- containers ------------------------------------------------------------------------
def test_a_running_container(ctx, made):
    made.run("prim-box-web", "-d", "nginx")
    passed(containers.exists(ctx, "prim-box-web"), "exists")
    passed(containers.running(ctx, "prim-box-web"), "is running")
    passed(containers.from_image(ctx, "prim-box-web", "nginx"), "runs nginx")
    failed(
        containers.from_image(ctx, "prim-box-web", "busybox"),
        "made from nginx",
        "not from busybox",
        "docker rm -f prim-box-web",
    )
    failed(containers.exited(ctx, "prim-box-web"), "still running")
    failed(containers.gone(ctx, "prim-box-web"), "still exists (running)", "docker rm -f")


def test_made_from_compares_the_containers_layers_and_names_its_image(ctx, made):
    made.run("prim-box-made", "busybox", "true")
    made.tag("busybox", "prim-busybox-too:v1")
    passed(containers.made_from(ctx, "prim-box-made", "busybox"), "was made from busybox")
    passed(containers.made_from(ctx, "prim-box-made", "prim-busybox-too:v1"))  # another name, the same layers
    failed(
        containers.made_from(ctx, "prim-box-made", "nginx"),
        "prim-box-made was made from",
        "not nginx",
        "docker rm -f prim-box-made",
    )
    failed(
        containers.made_from(ctx, "prim-box-nobody", "nginx"),
        "There is no container named prim-box-nobody",
        "docker run --name prim-box-nobody nginx",
    )


def test_a_stopped_container(ctx, made):
    made.run("prim-box-done", "busybox", "true")
    made.create("prim-box-new", "busybox")
    passed(containers.exited(ctx, "prim-box-done", 0), "exited with code 0")
    failed(containers.running(ctx, "prim-box-done"), "not running", "docker start prim-box-done")
    failed(containers.running(ctx, "prim-box-new"), "not running", "created")
    failed(containers.gone(ctx, "prim-box-done"), "still exists", "docker rm")


def test_a_container_that_failed(ctx, made):
    assert made.run("prim-box-fail", "busybox", "sh", "-c", "exit 3", check=False).returncode == 3
    failed(containers.exited(ctx, "prim-box-fail", 0), "exited with code 3, not 0", "docker logs prim-box-fail")


def test_a_missing_container(ctx, made):
    failed(
        containers.exists(ctx, "prim-box-none"),
        "There is no container named prim-box-none",
        "docker run --name prim-box-none",
    )
    failed(
        containers.running(ctx, "prim-box-none"),
        "There is no container named prim-box-none",
        "docker run -d --name prim-box-none",
    )
    failed(containers.from_image(ctx, "prim-box-none", "nginx"), "docker run --name prim-box-none nginx")
    failed(containers.exited(ctx, "prim-box-none"), "There is no container named prim-box-none")
    failed(containers.diff_has(ctx, "prim-box-none", "/x"), "There is no container named prim-box-none")
    passed(containers.gone(ctx, "prim-box-none"), "is gone")


def test_exited_needs_a_container_that_ran(ctx, made):
    made.create("prim-box-never", "busybox")
    failed(containers.exited(ctx, "prim-box-never", 0), "prim-box-never")


def test_diff_has_and_lacks(ctx, made):
    made.run("prim-diff-a", "-d", "busybox", "sleep", "300")
    made.run("prim-diff-b", "-d", "busybox", "sleep", "300")
    made.lab.docker("exec", "prim-diff-a", "sh", "-c", "echo x > /tmp/note")
    passed(containers.diff_has(ctx, "prim-diff-a", "/tmp/note"), "/tmp/note is added")
    failed(
        containers.diff_has(ctx, "prim-diff-b", "/tmp/note"),
        "/tmp/note is not among prim-diff-b's changes",
        "docker exec prim-diff-b",
    )
    passed(containers.diff_lacks(ctx, "prim-diff-b", "/tmp/note"), "does not have /tmp/note")
    failed(
        containers.diff_lacks(ctx, "prim-diff-a", "/tmp/note"), "prim-diff-a has /tmp/note too", "own read-write layer"
    )


def test_removed_since(ctx, made):
    since = time.time() - 1
    made.create("prim-gone-box", "busybox")
    failed(
        containers.removed_since(ctx, "prim-gone-box", since),
        "has not seen prim-gone-box removed",
        "docker rm -f prim-gone-box",
    )
    made.lab.docker("rm", "prim-gone-box")
    passed(containers.removed_since(ctx, "prim-gone-box", since), "prim-gone-box was removed")
    failed(containers.removed_since(ctx, "prim-gone-box", time.time() + 1), "has not seen")


# --- registry --------------------------------------------------------------------------
@pytest.fixture
def docker_config(lab, ctx):
    """The lab's docker config dir; its config.json is put back as it was, and the client logged out."""
    config = ctx.docker_config / "config.json"
    saved = config.read_bytes() if config.exists() else None
    lab.docker("logout", lab.registry, check=False)
    try:
        yield ctx.docker_config
    finally:
        lab.docker("logout", lab.registry, check=False)
        if saved is None:
            config.unlink(missing_ok=True)
        else:
            config.write_bytes(saved)


def login(lab) -> None:
    lab.docker("login", "-u", "learner", "--password-stdin", lab.registry, input=lab.password + "\n")


def test_logged_in(ctx, lab, docker_config):
    assert ctx.registry_address == lab.registry
    failed(registry.logged_in(ctx), f"no login for {lab.registry}", f"docker login {lab.registry} -u learner")
    login(lab)
    passed(registry.logged_in(ctx), f"logged in to {lab.registry} as learner")


def test_logged_in_with_wrong_credentials(ctx, lab, docker_config):
    docker_config.mkdir(parents=True, exist_ok=True)
    wrong = base64.b64encode(b"learner:not-the-password").decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {lab.registry: {"auth": wrong}}}))
    failed(registry.logged_in(ctx), "refuses", "log in again as learner")


@pytest.fixture
def pushing(lab, made, docker_config):
    """Logged in to the course registry, with two small images of our own to push."""
    login(lab)
    one = made.build("prim-push-one:v1", "FROM busybox\nRUN echo one > /v\n")
    two = made.build("prim-push-two:v1", "FROM busybox\nRUN echo two > /v\n")
    return one, two


def test_pushed_passes_after_a_push(ctx, lab, made, pushing):
    ref = made.tag(pushing[0], f"{lab.registry}/learner/prim-push-ok:v1")
    made.push(ref)
    passed(registry.pushed(ctx, ref), "learner/prim-push-ok:v1", "the same as your local image")


def test_pushed_sees_a_tag_never_pushed(ctx, lab, made, pushing):
    ref = made.tag(pushing[0], f"{lab.registry}/learner/prim-push-never:v1")
    failed(registry.pushed(ctx, ref), "no learner/prim-push-never:v1", f"push it with `docker push {ref}`")
    failed(
        registry.pushed(ctx, f"{lab.registry}/learner/prim-push-nolocal:v1"), "There is no local image", "docker tag"
    )


def test_pushed_sees_a_name_moved_to_an_image_never_pushed(ctx, lab, made, pushing):
    ref = made.tag(pushing[0], f"{lab.registry}/learner/prim-push-moved:v1")
    made.push(ref)
    lab.docker("tag", pushing[1], ref)
    failed(registry.pushed(ctx, ref), "not what was pushed", f"docker push {ref}")


def test_pushed_sees_an_older_push(ctx, lab, made, pushing):
    ref = made.tag(pushing[0], f"{lab.registry}/learner/prim-push-old:v1")
    made.push(ref)
    lab.docker("tag", pushing[1], ref)
    made.push(ref)
    lab.docker("tag", pushing[0], ref)  # the name is back on the image the registry no longer holds
    failed(registry.pushed(ctx, ref), "older push", "push again")


def test_pushed_a_push_the_registry_deleted_is_not_an_older_push(ctx, lab, made, pushing):
    ref = made.tag(pushing[0], f"{lab.registry}/learner/prim-push-gone:v1")
    made.push(ref)
    client = RegistryClient(lab.registry, auth=("learner", lab.password))
    assert client.delete_tag("learner/prim-push-gone", "v1")  # the registry forgets that push
    client.close()
    lab.docker("tag", pushing[1], ref)
    made.push(ref)
    lab.docker("tag", pushing[0], ref)  # the name is back on an image the registry holds no more
    failed(registry.pushed(ctx, ref), "not what was pushed", f"docker push {ref}")


def test_same_manifest_and_moved_read_the_registrys_digests(ctx, lab, made, pushing):
    one, two = pushing
    repo = "learner/prim-digest"
    v1, stable = made.tag(one, f"{lab.registry}/{repo}:v1"), made.tag(one, f"{lab.registry}/{repo}:stable")
    made.push(v1)
    failed(registry.same_manifest(ctx, repo, "v1", "stable"), f"no {repo}:stable", f"docker push {stable}")
    made.push(stable)
    passed(registry.same_manifest(ctx, repo, "v1", "stable"), "one manifest")
    failed(registry.moved(ctx, repo, "stable", "v1", "move it"), f"still names the manifest {repo}:v1 names", "move it")
    lab.docker("tag", two, stable)
    made.push(stable)
    failed(registry.same_manifest(ctx, repo, "v1", "stable"), "two manifests")
    passed(registry.moved(ctx, repo, "stable", "v1", "move it"), "has moved")


def test_pulled_by_digest_tells_a_pull_by_tag_from_one_by_digest(ctx, lab, made, pushing):
    since = time.time()
    repo = "learner/prim-bydigest"
    name = f"{lab.registry}/{repo}"
    ref = made.push(made.tag(pushing[0], f"{name}:v1"))
    client = RegistryClient(lab.registry, auth=("learner", lab.password))
    digest = client.manifest_digest(repo, "v1")
    client.close()
    failed(images.pulled_by_digest(ctx, name, digest, since), "not pulled the old image back yet")
    lab.docker("pull", ref)
    failed(images.pulled_by_digest(ctx, name, digest, since), f"You pulled {ref} by its tag")
    lab.docker("pull", made.image(f"{name}@{digest}"))
    passed(images.pulled_by_digest(ctx, name, digest, since), "by its digest")


def test_base_layers_of_a_pinned_course_image_are_the_registrys(ctx, lab, made, pushing):
    repo = "learner/prim-pinned"
    made.push(made.tag(pushing[0], f"{lab.registry}/{repo}:v1"))
    client = RegistryClient(lab.registry, auth=("learner", lab.password))
    digest = client.manifest_digest(repo, "v1")
    client.close()
    assert images.base_layers(ctx, f"{lab.registry}/{repo}@{digest}") == layer_ids(lab, pushing[0])
    built = made.build("prim-pinned-app:v1", f"FROM {lab.registry}/{repo}@{digest}\nRUN echo app > /app\n")
    passed(images.built_on(ctx, built, f"{lab.registry}/{repo}@{digest}", new_layers=1))


def layer_ids(lab, ref: str) -> list[str]:
    return inspect(lab, ref)["RootFS"]["Layers"]


# --- http ------------------------------------------------------------------------------
@pytest.fixture
def web(made):
    return made.build(
        "prim-web:v1", "FROM nginx\nCOPY index.html /usr/share/nginx/html/index.html\n", {"index.html": PAGE}
    )


def test_serves_the_page(ctx, made, web):
    passed(http.serves(ctx, web, PAGE), "serves your page")
    failed(http.serves(ctx, web, "<h1>Another page</h1>"), "serves a different page", "<!doctype html>")
    failed(http.serves(ctx, "prim-web-none:v1", PAGE), "There is no image prim-web-none:v1")
    assert labkit_containers(made.lab) == []


def test_container_answers(ctx, made, web):
    made.run("prim-web-closed", "-d", web)
    made.run("prim-web-open", "-d", "-p", "127.0.0.1::80", web)
    failed(
        http.container_answers(ctx, "prim-web-closed", PAGE), "prim-web-closed does not publish 80/tcp", "-p 8080:80"
    )
    passed(http.container_answers(ctx, "prim-web-open", PAGE), "prim-web-open serves your page")
    failed(
        http.container_answers(ctx, "prim-web-open", "<h1>Another page</h1>"), "prim-web-open serves a different page"
    )


def test_container_answers_says_a_stopped_container_is_not_running(ctx, made, web):
    made.run("prim-web-stopped", "-d", "-p", "127.0.0.1::80", web)
    made.lab.docker("stop", "prim-web-stopped")
    failed(http.container_answers(ctx, "prim-web-stopped", PAGE), "not running")


def test_container_answers_says_a_container_is_missing(ctx, made):
    failed(http.container_answers(ctx, "prim-web-none", PAGE), "There is no container named prim-web-none")


# --- files.tar_holds -------------------------------------------------------------------
def test_tar_holds_an_exported_filesystem(ctx, made):
    made.create("prim-tar-box", "busybox")
    made.lab.docker("export", "prim-tar-box", "-o", str(ctx.workspace / "busybox.tar"))
    passed(files.tar_holds(ctx, "busybox.tar", "bin/busybox"), "busybox.tar holds bin/busybox")


def test_tar_holds_a_saved_image(ctx, made):
    made.lab.docker("save", "busybox", "-o", str(ctx.workspace / "saved.tar"))
    passed(files.tar_holds(ctx, "saved.tar", "bin/busybox"), "image archive whose layers hold bin/busybox")


def test_tar_holds_program_of_an_export_and_a_save(ctx, made):
    made.create("prim-tar-prog", "busybox")
    made.lab.docker("export", "prim-tar-prog", "-o", str(ctx.workspace / "busybox.tar"))
    passed(files.tar_holds_program_of(ctx, "busybox.tar", "bin/busybox", "busybox"), "busybox.tar holds bin/busybox")
    made.lab.docker("save", "busybox", "-o", str(ctx.workspace / "saved.tar"))
    passed(
        files.tar_holds_program_of(ctx, "saved.tar", "bin/busybox", "busybox"),
        "image archive whose layers hold bin/busybox",
    )
    assert labkit_containers(made.lab) == []


@pytest.mark.parametrize(
    "program, words",
    [
        (b"", ["bin/busybox in busybox.tar is empty: export the container with `docker export`"]),
        (
            b"#!/bin/sh\necho busybox\n",
            [
                "bin/busybox in busybox.tar is not busybox's program from the busybox image: it is 23 bytes",
                "`docker export`",
            ],
        ),
    ],
    ids=["empty", "script"],
)
def test_tar_holds_program_of_sees_an_empty_or_fake_program(ctx, made, tmp_path, program, words):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "busybox").write_bytes(program)
    with tarfile.open(ctx.workspace / "busybox.tar", "w") as archive:
        archive.add(tmp_path / "bin", arcname="bin")
    passed(files.tar_holds(ctx, "busybox.tar", "bin/busybox"))  # it is there, by name
    failed(files.tar_holds_program_of(ctx, "busybox.tar", "bin/busybox", "busybox"), *words)


def test_tar_holds_fails_for_a_missing_file_or_a_text_file(ctx):
    failed(files.tar_holds(ctx, "busybox.tar", "bin/busybox"), "There is no busybox.tar", "docker export")
    (ctx.workspace / "busybox.tar").write_text("this is not an archive\n" * 40)
    failed(
        files.tar_holds(ctx, "busybox.tar", "bin/busybox"),
        "busybox.tar is not a tar archive",
        "docker export -o busybox.tar",
    )


def test_tar_holds_fails_for_a_tar_of_something_else(ctx, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("a\n")
    with tarfile.open(ctx.workspace / "busybox.tar", "w") as archive:
        archive.add(tmp_path / "notes", arcname="notes")
    failed(files.tar_holds(ctx, "busybox.tar", "bin/busybox"), "busybox.tar is a tar, but it holds no bin/busybox")
