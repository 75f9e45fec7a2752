"""`labkit reset` removes what the course made, and never anything of the learner's."""

from __future__ import annotations

from conftest import run

from authoring.solutions import SOLUTIONS
from labkit.course import catalog
from labkit.course.checks.registry import stored_credentials
from labkit.course.exercises import fill


def test_reset_keeps_the_learners_things_and_removes_every_course_resource(lab, ctx):
    lab.docker("pull", "busybox")
    lab.docker("tag", "busybox", "precious:1")
    lab.docker("rm", "-f", "precious-box", check=False)
    lab.docker("create", "--name", "precious-box", "precious:1", "true")
    lab.docker("volume", "create", "precious-vol")
    try:
        for exercise in catalog.EXERCISES:  # the whole course, done
            for command in exercise.setup + SOLUTIONS[exercise.id].commands:
                run(["bash", "-c", fill(command, ctx)], env=lab.env, timeout=600)
        assert stored_credentials(ctx, ctx.registry_address) is not None

        result = lab.labkit("reset", "--workspace", str(ctx.workspace))
        assert "removed image myrepo/nginx:v1" in result.stdout
        assert "removed learner/myapp:v1 from the course registry" in result.stdout
        assert f"logged out of {ctx.registry_address}" in result.stdout

        assert lab.docker("image", "inspect", "precious:1", check=False).returncode == 0
        assert lab.docker("container", "inspect", "precious-box", check=False).returncode == 0
        assert lab.docker("volume", "inspect", "precious-vol", check=False).returncode == 0
        for exercise in catalog.EXERCISES:
            for ref in exercise.resources.images:
                assert ctx.engine.images.id(fill(ref, ctx)) is None, f"{ref} of {exercise.id} survived the reset"
            for name in exercise.resources.containers:
                assert ctx.engine.containers.get(name) is None, f"container {name} of {exercise.id} survived"
            if exercise.resources.finder:
                assert exercise.resources.finder(ctx) == []
            for name in exercise.resources.files:
                assert not (ctx.workspace / name).exists(), f"{name} of {exercise.id} survived"
            for repo in exercise.resources.repositories:
                client = ctx.registry()
                repo = fill(repo, ctx)
                assert all(client.manifest_digest(repo, tag) is None for tag in ("v1", "latest"))
        assert stored_credentials(ctx, ctx.registry_address) is None
        assert lab.docker("ps", "-aq", "--filter", "label=labkit").stdout.strip() == ""
    finally:
        lab.docker("rm", "-f", "precious-box", check=False)
        lab.docker("rmi", "precious:1", check=False)
        lab.docker("volume", "rm", "precious-vol", check=False)


def test_reset_of_one_lesson_leaves_the_others(lab, ctx):
    lab.docker("pull", "nginx")
    lab.docker("tag", "nginx", "myrepo/nginx:v1")
    lab.docker("rm", "-f", "scratchpad", check=False)
    lab.docker("create", "--name", "scratchpad", "busybox", "true")
    try:
        result = lab.labkit("reset", "--lesson", "inspect", "--workspace", str(ctx.workspace))
        assert "removed image myrepo/nginx:v1" in result.stdout
        assert ctx.engine.containers.get("scratchpad") is not None  # lesson "image"'s container stays
    finally:
        lab.docker("rm", "-f", "scratchpad", check=False)


def test_reset_of_an_unknown_lesson_removes_nothing_and_says_which_exist(lab, ctx):
    result = lab.labkit("reset", "--lesson", "layer", "--workspace", str(ctx.workspace), check=False)
    assert result.returncode == 1
    assert "There is no lesson 'layer'" in result.stderr and "layers" in result.stderr
    assert "Traceback" not in result.stderr


def test_reset_removes_only_unnamed_containers_a_check_saw_made_never_the_learners_own(lab, ctx):
    """`mytools` is the learner's: made from debian:bookworm-slim, curl in it, but named by them. An
    unnamed container of the lesson's kind goes at reset only once a check saw it made in the lesson."""
    fake_curl = ["sh", "-c", "echo '#!/bin/sh' > /usr/bin/curl && chmod +x /usr/bin/curl"]
    lab.docker("pull", "-q", "debian:bookworm-slim")
    lab.docker("rm", "-f", "mytools", check=False)
    lab.docker("run", "--name", "mytools", "debian:bookworm-slim", *fake_curl)
    unnamed = lab.docker("run", "-d", "debian:bookworm-slim", *fake_curl).stdout.strip()
    lab.docker("wait", unnamed)
    try:
        lab.labkit("check", "tryit.install", "--workspace", str(ctx.workspace))  # sees both; claims the unnamed one
        result = lab.labkit("reset", "--lesson", "tryit", "--workspace", str(ctx.workspace))
        assert "mytools" not in result.stdout
        assert lab.docker("container", "inspect", "mytools", check=False).returncode == 0
        assert lab.docker("container", "inspect", unnamed, check=False).returncode != 0, result.stdout
    finally:
        lab.docker("rm", "-f", "mytools", unnamed, check=False)
