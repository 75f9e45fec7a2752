"""Every exercise of the catalog, walked through on a real lab: its check fails while the
exercise is not done (with feedback a learner can act on) and passes once its solution ran.

Each lesson starts from `labkit reset` of the whole course, as a learner starting there would.
"""

from __future__ import annotations

import json
import re
import tarfile

import pytest
from conftest import run

from authoring.solutions import SOLUTIONS
from labkit.course import ProgressStore, catalog
from labkit.course.exercises import fill, run_check
from labkit.course.reset import reset

pytestmark = pytest.mark.course  # run on both engines by `make test`


def shell(lab, ctx, commands: tuple[str, ...]) -> None:
    for command in commands:
        run(["bash", "-c", fill(command, ctx)], env=lab.env, timeout=600)


@pytest.mark.parametrize("lesson", [name for name, _notebook, _title in catalog.LESSONS])
def test_each_check_fails_undone_and_passes_done(lab, ctx, lesson):
    reset(ctx)
    store = ProgressStore.for_paths(ctx.paths)
    for exercise in catalog.lesson(lesson):
        shell(lab, ctx, exercise.setup)
        before = run_check(ctx, exercise.id, None, store)
        assert before.status == "failed", f"{exercise.id} passed before it was done:\n{before}"
        assert len(before.feedback) > 20 and before.points == 0
        solution = SOLUTIONS[exercise.id]
        shell(lab, ctx, solution.commands)
        after = run_check(ctx, exercise.id, solution.answer, store)
        assert after.passed, f"{exercise.id} failed after its solution:\n{after}"
        assert after.points == exercise.points
        assert run_check(ctx, exercise.id, solution.answer, store).passed  # checking twice changes nothing
    rows = {row.lesson: row for row in store.summary(catalog.EXERCISES)}
    assert rows[lesson].done == rows[lesson].total


def test_catalog_points_match_their_criteria():
    capstone = catalog.get("capstone.site")
    assert capstone.points == 10
    ids = [e.id for e in catalog.EXERCISES]
    assert len(ids) == len(set(ids))
    assert all(e.hints and SOLUTIONS[e.id].commands and e.title and e.task for e in catalog.EXERCISES)


# --- wrong ways: each leaves the exercise undone, with feedback that names what is wrong --------
@pytest.fixture
def lesson_reset(ctx):
    """Reset the lessons a test names, before it and again after it (what it made goes away)."""
    lessons: list[str] = []

    def start(*names: str) -> None:
        lessons.extend(names)
        reset(ctx, list(names))

    yield start
    if lessons:
        reset(ctx, lessons)


def _busybox_tar(ctx, tmp_path, program: bytes) -> None:
    """busybox.tar holding only bin/busybox with these bytes (a hand-made archive, not an export)."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "bin" / "busybox").write_bytes(program)
    with tarfile.open(ctx.workspace / "busybox.tar", "w") as archive:
        archive.add(tmp_path / "bin", arcname="bin")


def test_rootfs_with_an_empty_or_fake_busybox_is_not_done(lab, ctx, lesson_reset, tmp_path):
    lesson_reset("image")
    lab.docker("pull", "-q", "busybox")
    _busybox_tar(ctx, tmp_path, b"")
    empty = run_check(ctx, "image.rootfs")
    assert empty.status == "failed" and empty.points == 0, empty
    assert empty.feedback.startswith(
        "bin/busybox in busybox.tar is empty: export the container with `docker export`"
    ), empty
    _busybox_tar(ctx, tmp_path, b"#!/bin/sh\necho busybox\n")
    script = run_check(ctx, "image.rootfs")
    assert script.status == "failed" and script.points == 0, script
    assert script.feedback.startswith("bin/busybox in busybox.tar is not busybox's program from the busybox image:"), (
        script
    )
    lab.docker("save", "-o", str(ctx.workspace / "busybox.tar"), "busybox")
    assert run_check(ctx, "image.rootfs").passed  # an image archive holds the same program in a layer


def test_commit_custom_from_busybox_is_not_done(lab, ctx, lesson_reset):
    lesson_reset("commit")
    lab.docker("pull", "-q", "busybox")
    lab.docker("run", "--name", "custom-box", "busybox", "sh", "-c", "echo hi > /etc/motd")
    lab.docker("commit", "custom-box", "my-custom-image")
    result = run_check(ctx, "commit.custom")
    assert result.status == "failed" and result.points == 0, result
    assert result.feedback.startswith("custom-box was made from busybox, not debian:bookworm-slim:"), result


def test_commit_custom_of_an_unchanged_container_is_not_called_a_tag(lab, ctx, lesson_reset):
    lesson_reset("commit")
    lab.docker("pull", "-q", "debian:bookworm-slim")
    lab.docker("run", "--name", "custom-box", "debian:bookworm-slim", "true")
    lab.docker("commit", "custom-box", "my-custom-image")  # some engines add an empty layer, some none
    result = run_check(ctx, "commit.custom")
    assert result.status == "failed", result
    assert result.feedback.startswith("custom-box has no changes, so a commit of it adds nothing"), result
    assert "tagged" not in result.feedback


def test_tryit_commit_names_the_container_not_its_full_id(lab, ctx, lesson_reset):
    lesson_reset("tryit")
    lab.docker("pull", "-q", "debian:bookworm-slim")
    lab.docker(
        "run", "--name", "tryit-box", "debian:bookworm-slim", "cp", "/bin/true", "/usr/bin/curl"
    )  # "curl", offline
    lab.docker("tag", "debian:bookworm-slim", "debian-with-curl")
    result = run_check(ctx, "tryit.commit")
    assert result.status == "failed", result
    assert (
        "tryit-box's image: it was tagged, not committed. Run `docker commit tryit-box debian-with-curl`."
        in result.feedback
    ), result
    assert not re.search(r"\b[0-9a-f]{64}\b", result.feedback), result


def test_layers_order_left_in_the_bad_order_says_to_move_copy_down(lab, ctx, lesson_reset):
    lesson_reset("layers")
    exercise = catalog.get("layers.order")
    shell(lab, ctx, exercise.setup)  # writes the Dockerfile in the bad order
    lab.docker("build", "-q", "-t", "ordered-app:v2", str(ctx.workspace / "ordered-app"), timeout=600)
    result = run_check(ctx, "layers.order")
    assert result.status == "failed", result
    assert result.feedback.startswith(
        "In ordered-app:v2's build `COPY … /app` comes before `RUN … apt-get install`:"
    ), result
    assert "move the COPY line below" in result.feedback and "missing" not in result.feedback


def _criterion(result, name: str) -> str:
    """The feedback line of one criterion of a partial-credit result."""
    return next(line for line in result.feedback.splitlines() if line.startswith(f"{name}: "))


def test_capstone_page_edited_after_the_build_is_told_to_rebuild(lab, ctx):
    """The Dockerfile copies index.html in and the page changed since the build: the image serves an
    older copy (rebuild), not "copy your index.html" (which the Dockerfile does)."""
    capstone = catalog.get("capstone.site")
    reset(ctx, ["capstone"])
    try:
        solution = SOLUTIONS[capstone.id].commands
        shell(lab, ctx, capstone.setup + solution[:2])  # write the Dockerfile, build v1 and latest
        page = ctx.workspace / "mysite" / "index.html"
        page.write_text(page.read_text().replace("My site", "My edited site"))
        serves = _criterion(run_check(ctx, capstone.id), "serves your page")
        assert "mysite:v1 serves an older copy of your index.html" in serves, serves
        assert "`docker build -t mysite:v1 -t mysite:latest mysite`" in serves and "run it again" in serves
        assert "Copy your index.html" not in serves

        (ctx.workspace / "mysite" / "Dockerfile").write_text(
            "FROM nginx\nLABEL org.opencontainers.image.authors=learner\n"
        )
        shell(lab, ctx, solution[1:2])  # the lab's nginx copies its own page in: that is not the learner's COPY
        serves = _criterion(run_check(ctx, capstone.id), "serves your page")
        assert "Copy your index.html to /usr/share/nginx/html/ in the Dockerfile" in serves, serves
        assert "older copy" not in serves
    finally:
        reset(ctx, ["capstone"])


def _done_until(lab, ctx, lesson: str, count: int) -> list:
    """The lesson's first `count` exercises done (setup and solution), from its reset; all its exercises."""
    exercises = catalog.lesson(lesson)
    for exercise in exercises[:count]:
        shell(lab, ctx, exercise.setup + SOLUTIONS[exercise.id].commands)
    return exercises


def test_digests_old_image_pulled_by_tag_is_told_to_pull_by_digest(lab, ctx, lesson_reset):
    lesson_reset("digests")
    second = _done_until(lab, ctx, "digests", 1)[1]
    solution = SOLUTIONS[second.id].commands
    shell(lab, ctx, second.setup + solution[:-1])  # stable moved to v2, local v1 removed
    name = f"{ctx.registry_address}/{ctx.user}/greeting"
    lab.docker("pull", f"{name}:v1")
    result = run_check(ctx, second.id)
    assert result.status == "failed" and result.points == 0, result
    assert result.feedback.startswith(f"You pulled {name}:v1 by its tag, and a tag can move"), result
    shell(lab, ctx, solution[-1:])
    assert run_check(ctx, second.id).passed


def test_digests_builds_made_before_the_pin_are_told_to_rebuild(lab, ctx, lesson_reset):
    """greeting-app built from the unpinned Dockerfile after stable moved: on v3, not on the pinned v2."""
    lesson_reset("digests")
    third = _done_until(lab, ctx, "digests", 2)[2]
    shell(lab, ctx, third.setup)
    pinned = ctx.registry().manifest_digest(f"{ctx.user}/greeting", "stable")  # v2's, before the move
    solution = SOLUTIONS[third.id].commands
    shell(lab, ctx, solution[2:6])  # greeting:v3 pushed as stable
    shell(lab, ctx, (solution[1], solution[6]))  # greeting-app:v1 and v2 built FROM …:stable, now v3
    dockerfile = ctx.workspace / "greeting-app" / "Dockerfile"
    name = f"{ctx.registry_address}/{ctx.user}/greeting"
    dockerfile.write_text(dockerfile.read_text().replace(f"FROM {name}:stable", f"FROM {name}@{pinned}"))
    result = run_check(ctx, third.id)
    assert result.status == "failed", result
    assert result.feedback.startswith("greeting-app:v1 is built on what stable names now"), result
    shell(lab, ctx, (solution[1], solution[6]))
    assert run_check(ctx, third.id).passed


def test_disk_a_saved_folder_of_another_build_or_changed_by_hand_is_told_to_save_again(lab, ctx, lesson_reset):
    lesson_reset("disk")
    first = catalog.lesson("disk")[0]
    shell(lab, ctx, first.setup + SOLUTIONS[first.id].commands)
    saved = ctx.workspace / "postcard-saved"
    manifest = json.loads((saved / "manifest.json").read_text())[0]
    top = saved / manifest["Layers"][-1]
    kept = top.read_bytes()
    top.chmod(0o644)
    top.write_bytes(kept[:-512])  # a layer file cut short
    result = run_check(ctx, first.id)
    assert result.status == "failed" and "is not whole" in result.feedback, result
    assert "does not uncompress to its diff id" in result.feedback, result
    top.write_bytes(kept)
    assert run_check(ctx, first.id).passed

    (ctx.workspace / "postcard" / "card.txt").write_text("Another card\n")
    shell(lab, ctx, first.setup[-1:])  # postcard:v1 built again: other layers than the saved ones
    result = run_check(ctx, first.id)
    assert result.status == "failed" and result.feedback.startswith("postcard-saved holds another image"), result
    shell(lab, ctx, ("rm -rf {workspace}/postcard-saved", *SOLUTIONS[first.id].commands))
    assert run_check(ctx, first.id).passed


def test_disk_a_load_over_the_image_still_there_is_told_to_remove_it_first(lab, ctx, lesson_reset):
    lesson_reset("disk")
    second = _done_until(lab, ctx, "disk", 1)[1]
    lab.docker("load", "-i", str(ctx.workspace / "postcard.tar"))
    result = run_check(ctx, second.id)
    assert result.status == "failed", result
    assert result.feedback.startswith("You loaded postcard.tar while postcard:v1 was still in your engine"), result
    shell(lab, ctx, SOLUTIONS[second.id].commands)
    assert run_check(ctx, second.id).passed


def test_disk_one_image_or_an_index_of_one_platform_is_told_what_the_index_lacks(lab, ctx, lesson_reset):
    """everywhere:v1 pushed as one image (a plain build and push), then as an index of linux/amd64 alone."""
    lesson_reset("disk")
    third = catalog.lesson("disk")[2]
    shell(lab, ctx, third.setup)
    name = f"{ctx.registry_address}/{ctx.user}/everywhere"
    shell(lab, ctx, (f"docker build -q -t {name}:v1 {{workspace}}/everywhere", f"docker push -q {name}:v1"))
    result = run_check(ctx, third.id)
    assert result.status == "failed", result
    if ctx.engine.info().store == "containerd":  # BuildKit's default attestation makes even one platform an index
        assert "is an index of linux/amd64: it has no image for linux/arm64" in result.feedback, result
    else:
        assert result.feedback.startswith(f"The registry's {ctx.user}/everywhere:v1 is one image, for linux/"), result
        assert "classic store, which holds one platform per name" in result.feedback, result
    shell(
        lab,
        ctx,
        (
            f"docker buildx build -q --platform linux/amd64 -t {name}:amd64 --push {{workspace}}/everywhere",
            f"docker buildx imagetools create -t {name}:v1 {name}:amd64",
        ),
    )
    result = run_check(ctx, third.id)
    assert result.status == "failed", result
    assert "it has no image for linux/arm64" in result.feedback, result
    shell(lab, ctx, SOLUTIONS[third.id].commands)
    assert run_check(ctx, third.id).passed


MULTI_STAGE_BUILDER = (
    "FROM debian:bookworm-slim AS build\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends markdown\n"
    "WORKDIR /src\nCOPY . .\nRUN markdown index.md > index.html\n\nFROM nginx\n"
    "COPY --from=build /src/index.html /usr/share/nginx/html/index.html\n"
)


@pytest.mark.parametrize(
    "final, said",
    [
        ("single", "site:multi carries the tool that made the page (usr/bin/markdown among"),
        ("COPY . /usr/share/nginx/html/\n", "site:multi ships the build context's own files,"),
        ("COPY --from=build /usr/bin/markdown /usr/local/bin/markdown\n", "the builder's tools were copied across"),
    ],
    ids=["single-stage", "copy-the-folder", "tools-copied-across"],
)
def test_multistage_near_misses_are_named(lab, ctx, lesson_reset, final, said):
    """A site:multi built in one stage, with the whole folder (and its .env) copied into the final stage, or
    with the builder's converter copied across: each told what it ships and how to ship the page alone."""
    lesson_reset("multistage")
    first = catalog.lesson("multistage")[0]
    shell(lab, ctx, first.setup)
    site = ctx.workspace / "site"
    if final == "single":
        (site / "Dockerfile").write_text((site / "Dockerfile.single").read_text())
    else:
        (site / "Dockerfile").write_text(MULTI_STAGE_BUILDER + final)
    shell(lab, ctx, ("docker build -q -t site:multi {workspace}/site",))
    result = run_check(ctx, first.id)
    assert result.status == "failed" and said in result.feedback, result
    if final.startswith("COPY . "):
        assert "usr/share/nginx/html/.env, the secret (anyone who pulls the image can read it)" in result.feedback
    shell(lab, ctx, SOLUTIONS[first.id].commands)
    assert run_check(ctx, first.id).passed


def test_multistage_a_dockerignore_written_after_the_build_is_told_to_rebuild(lab, ctx, lesson_reset):
    lesson_reset("multistage")
    first, second = catalog.lesson("multistage")
    shell(lab, ctx, first.setup + SOLUTIONS[first.id].commands + second.setup)
    solution = SOLUTIONS[second.id].commands
    shell(lab, ctx, solution[:1])  # .dockerignore written, nothing built since
    result = run_check(ctx, second.id)
    assert result.status == "failed", result
    assert result.feedback.startswith("site:build still holds src/.env: it was built before your .dockerignore"), result
    shell(lab, ctx, solution[1:])
    assert run_check(ctx, second.id).passed
