"""Feedback is picked by situation: each wrong state gets the words (and the next step) for it.

Every test runs the real check primitives, or a real catalog check through `run_check`,
on an in-memory engine (`fakes.FakeEngine`): no Docker, no network.
"""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from fakes import FakeEngine, FakeRegistry, box, event, fake_context, image, sid

from labkit.course import ERROR, FAILED, PASSED, CheckResult, ProgressStore, catalog, criteria
from labkit.course.checks import containers, images
from labkit.course.exercises import run_check
from labkit.errors import EngineUnreachable, RegistryUnreachable

DEBIAN = image("debian", ["d1"])
NGINX_CMD = ["nginx", "-g", "daemon off;"]
NGINX = image("nginx", ["d1", "n1", "n2"], Cmd=NGINX_CMD, ExposedPorts={"80/tcp": {}}, Labels={"maintainer": "NGINX"})
BUSYBOX = image("busybox", ["b1"])


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def check(tmp_path, exercise: str, answer=None, **state) -> tuple[CheckResult, FakeEngine]:
    """Run one catalog exercise's check, the way the notebook does, on an engine in this state."""
    engine = FakeEngine(**state)
    return run_check(fake_context(engine, tmp_path), exercise, answer), engine


# --- same_image: inspect.tag (myrepo/nginx:v1 must be nginx:latest) ----------------------------
def test_same_image_missing_name_says_how_to_make_it(tmp_path):
    result, _ = check(tmp_path, "inspect.tag", images={"nginx:latest": NGINX})
    assert result.status == FAILED
    assert (
        result.feedback
        == "There is no image myrepo/nginx:v1 yet: make it with `docker tag nginx:latest myrepo/nginx:v1`."
    )


def test_same_image_wrong_image_names_the_other_images_tags(tmp_path):
    result, _ = check(
        tmp_path, "inspect.tag", images={"nginx:latest": NGINX, "busybox:latest": BUSYBOX, "myrepo/nginx:v1": BUSYBOX}
    )
    assert result.status == FAILED
    assert (
        f"points to busybox:latest ({short(BUSYBOX['Id'])}), not to nginx:latest's image ({short(NGINX['Id'])})"
        in result.feedback
    )
    assert "did you tag the wrong image?" in result.feedback
    assert "myrepo/nginx:v1 (" not in result.feedback  # the name itself is not listed as "another name"


def test_same_image_wrong_image_without_other_names_says_tag_the_target(tmp_path):
    """The image has one name, the ref itself: it is not "unnamed", it is another image than the target."""
    result, _ = check(tmp_path, "inspect.tag", images={"nginx:latest": NGINX, "myrepo/nginx:v1": BUSYBOX})
    assert result.feedback == (
        "myrepo/nginx:v1 points to another image than nginx:latest: "
        "tag nginx:latest as myrepo/nginx:v1 (`docker tag nginx:latest myrepo/nginx:v1`)."
    )
    assert result.observed == f"myrepo/nginx:v1 is {short(BUSYBOX['Id'])}, nginx:latest is {short(NGINX['Id'])}"


def test_capstone_latest_on_another_image_says_tag_v1_as_latest(tmp_path):
    labels = {"org.opencontainers.image.authors": "me"}
    site, older = (
        image("site", ["d1", "n1", "n2", "a"], Labels=labels),
        image("older-site", ["d1", "n1", "n2", "b"], Labels=labels),
    )
    result, _ = check(
        tmp_path, "capstone.site", images={"nginx:latest": NGINX, "mysite:v1": site, "mysite:latest": older}
    )
    assert (
        "tagged v1 and latest, one image: mysite:latest points to another image than mysite:v1: "
        "tag v1 as latest (`docker tag mysite:v1 mysite:latest`)."
    ) in result.feedback.splitlines()
    assert "unnamed" not in result.feedback


def test_same_image_target_missing_says_pull_it(tmp_path):
    result, _ = check(tmp_path, "inspect.tag", images={"myrepo/nginx:v1": BUSYBOX})
    assert result.status == FAILED
    assert (
        result.feedback
        == "nginx:latest is not in your engine, so myrepo/nginx:v1 cannot be its name: pull nginx:latest first."
    )


def test_same_image_passes_on_one_id(tmp_path):
    result, _ = check(tmp_path, "inspect.tag", images={"nginx:latest": NGINX, "myrepo/nginx:v1": NGINX})
    assert result.status == PASSED
    assert f"same image id {short(NGINX['Id'])}" in result.feedback


# --- image.rootfs: busybox.tar must hold busybox's own program -----------------------------
PROGRAM = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 40  # stands in for the static busybox


def _tar(members: dict[str, bytes | tuple[str, str]]) -> bytes:
    """A tar of these members: bytes are regular files, ("link", target) a hard link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = tarfile.LNKTYPE, data[1]
                archive.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755
                archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _saved(layers: list[dict]) -> bytes:
    """A `docker save` archive whose image has these layers (each a dict of members)."""
    names = [f"layer{i}/layer.tar" for i in range(len(layers))]
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["busybox:latest"], "Layers": names}]).encode()
    return _tar({"manifest.json": manifest, "config.json": b"{}", **{n: _tar(m) for n, m in zip(names, layers)}})


def _rootfs(tmp_path, archive: bytes, program: bytes | None = PROGRAM) -> CheckResult:
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "ws" / "busybox.tar").write_bytes(archive)
    files = {} if program is None else {("busybox:latest", "/bin/busybox"): program}
    result, engine = check(tmp_path, "image.rootfs", images={"busybox:latest": BUSYBOX}, files=files)
    assert engine.live_scratch == []
    return result


@pytest.mark.parametrize(
    "archive",
    [
        _tar({"bin/": b"", "bin/[": PROGRAM, "bin/busybox": ("link", "bin/[")}),  # hard links, as Docker Hub's busybox
        _tar({"./bin/busybox": PROGRAM}),
        _saved([{"bin/busybox": b"old"}, {"bin/busybox": PROGRAM}]),  # the top layer's copy is the image's
    ],
    ids=["export-hard-link", "export", "save"],
)
def test_rootfs_with_busyboxs_program_passes(tmp_path, archive):
    result = _rootfs(tmp_path, archive)
    assert result.status == PASSED, result.feedback


@pytest.mark.parametrize(
    "archive", [_tar({"bin/busybox": b""}), _saved([{"bin/busybox": b""}])], ids=["export", "save"]
)
def test_rootfs_empty_busybox_says_it_is_empty(tmp_path, archive):
    result = _rootfs(tmp_path, archive)
    assert result.status == FAILED
    assert result.feedback.startswith("bin/busybox in busybox.tar is empty: export the container with `docker export`")
    assert result.observed == "bin/busybox: 0 bytes"


@pytest.mark.parametrize(
    "archive",
    [_tar({"bin/busybox": b"#!/bin/sh\necho busybox\n"}), _saved([{"bin/busybox": b"#!/bin/sh\necho busybox\n"}])],
    ids=["export", "save"],
)
def test_rootfs_a_script_named_busybox_is_not_busybox(tmp_path, archive):
    result = _rootfs(tmp_path, archive)
    assert result.status == FAILED
    assert result.feedback.startswith("bin/busybox in busybox.tar is not busybox's program from the busybox image:")
    assert "`docker export`" in result.feedback
    assert result.observed.startswith("bin/busybox: 23 bytes, sha256:")


def test_rootfs_a_link_named_busybox_is_not_busybox(tmp_path):
    info = tarfile.TarInfo("bin/busybox")
    info.type, info.linkname = tarfile.SYMTYPE, "/bin/sh"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        archive.addfile(info)
    result = _rootfs(tmp_path, out.getvalue())
    assert result.feedback.startswith("bin/busybox in busybox.tar is not busybox's program from the busybox image:")
    assert result.observed == "bin/busybox: a link to /bin/sh"


def test_rootfs_without_the_busybox_image_asks_to_pull_it(tmp_path):
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "ws" / "busybox.tar").write_bytes(_tar({"bin/busybox": PROGRAM}))
    result, _ = check(tmp_path, "image.rootfs")
    assert result.status == FAILED
    assert "docker pull busybox" in result.feedback


# --- built_on: layers.build (3 new layers on debian) and capstone (at most 2 on nginx) ----------
def _layered(layers: list[str], history: list[str] | None = None, run=(0, "Hello from layered-app v1\n")) -> dict:
    return dict(
        images={"debian:bookworm-slim": DEBIAN, "layered-app:v1": image("layered-v1", layers)},
        history={"layered-app:v1": [{"CreatedBy": line} for line in (history or BUILDKIT)]},
        runs={"layered-app:v1": run},
    )


BUILDKIT = [
    "# debian.sh --arch 'amd64' out/ 'bookworm' '@1714348800'",
    "RUN /bin/sh -c apt-get update # buildkit",
    "RUN /bin/sh -c apt-get install -y curl # buildkit",
    "COPY ./app /app # buildkit",
    'CMD ["/app/start.sh"]',
]
CLASSIC = [
    "/bin/sh -c #(nop) ADD file:6f1c8e3f2c4 in / ",
    '/bin/sh -c #(nop)  CMD ["bash"]',
    "/bin/sh -c apt-get update",
    "/bin/sh -c apt-get install -y curl",
    "/bin/sh -c #(nop) COPY dir:abc in /app ",
    '/bin/sh -c #(nop)  CMD ["/app/start.sh"]',
]


def test_built_on_same_layers_as_base_is_tagged_not_built(tmp_path):
    result, _ = check(tmp_path, "layers.build", **_layered(["d1"]))
    assert "it was tagged, not built" in result.feedback
    assert "`docker build -t layered-app:v1 …`" in result.feedback


def test_built_on_other_first_layers_is_not_built_on_base(tmp_path):
    result, _ = check(tmp_path, "layers.build", **_layered(["x1", "r1", "r2", "c1"]))
    assert result.feedback.startswith("layered-app:v1 is not built on debian:bookworm-slim")
    assert "`FROM debian:bookworm-slim`" in result.feedback
    assert "tagged" not in result.feedback


def test_built_on_wrong_number_of_layers_counts_them(tmp_path):
    result, _ = check(tmp_path, "layers.build", **_layered(["d1", "r1", "c1"]))
    assert (
        result.feedback
        == "layered-app:v1 adds 2 layer(s) to debian:bookworm-slim; expected 3, one per RUN/COPY/ADD instruction."
    )
    assert result.observed == "3 layers, 2 beyond debian:bookworm-slim's"


def test_built_on_missing_base_asks_for_the_base(tmp_path):
    result, _ = check(tmp_path, "layers.build", images={"layered-app:v1": image("layered-v1", ["d1", "r1"])})
    assert result.feedback.startswith("There is no image debian:bookworm-slim in your engine yet")


def test_built_on_at_most(tmp_path):
    engine = FakeEngine(
        images={
            "nginx:latest": NGINX,
            "three": image("three", ["d1", "n1", "n2", "a", "b", "c"]),
            "two": image("two", ["d1", "n1", "n2", "a", "b"]),
        }
    )
    ctx = fake_context(engine, tmp_path)
    too_many = images.built_on(ctx, "three", "nginx:latest", at_most=2)
    assert too_many.feedback == "three adds 3 layers to nginx:latest; at most 2 are allowed: combine instructions."
    assert images.built_on(ctx, "two", "nginx:latest", at_most=2).passed


def test_capstone_names_the_at_most_criterion_and_gives_partial_credit(tmp_path):
    site = image(
        "site",
        ["d1", "n1", "n2", "a", "b", "c"],
        Labels={"maintainer": "NGINX", "org.opencontainers.image.authors": "me"},
    )
    result, _ = check(
        tmp_path, "capstone.site", images={"nginx:latest": NGINX, "mysite:v1": site, "mysite:latest": site}
    )
    assert result.status == FAILED
    assert (
        "at most 2 layers over nginx: mysite:v1 adds 3 layers to nginx:latest; at most 2 are allowed" in result.feedback
    )
    met = {name: (ok, points) for name, ok, points in result.details}
    assert met["built from a Dockerfile on nginx"] == (True, 2)
    assert met["at most 2 layers over nginx"] == (False, 0)
    assert met["labelled"] == (True, 1)
    assert met["tagged v1 and latest, one image"] == (True, 1)
    assert (result.points, result.possible) == (4, 10)


def test_capstone_label_must_be_its_own_not_nginxs(tmp_path):
    site = image("site", ["d1", "n1", "n2", "a"], Labels={"maintainer": "NGINX"})
    result, _ = check(tmp_path, "capstone.site", images={"nginx:latest": NGINX, "mysite:v1": site})
    assert "labelled: mysite:v1 has no label of its own" in result.feedback


# --- diverge_at: layers.cache (v2 shares debian + the 2 RUN layers with v1) --------------------
def _cache_state(v2_layers: list[str], v1_layers: list[str] = ("d1", "r1", "r2", "c1")) -> dict:
    return dict(
        images={
            "debian:bookworm-slim": DEBIAN,
            "layered-app:v1": image("layered-v1", list(v1_layers)),
            "layered-app:v2": image("layered-v2", v2_layers)
            if list(v2_layers) != list(v1_layers)
            else image("layered-v1", v2_layers),
        }
    )


def test_diverge_at_identical_images_is_the_very_same_image(tmp_path):
    result, _ = check(tmp_path, "layers.cache", **_cache_state(["d1", "r1", "r2", "c1"]))
    assert result.feedback == (
        "layered-app:v2 is the very same image as layered-app:v1: change a file in app/ before building layered-app:v2."
    )


def test_diverge_at_too_few_shared_says_the_tag_moved(tmp_path):
    result, _ = check(tmp_path, "layers.cache", **_cache_state(["d1", "r1x", "r2x", "c2"]))
    assert result.feedback.startswith(
        "The tag moved: layered-app:v2 no longer shares the package layer(s) with layered-app:v1 "
        "(only 1 of 3 are shared)."
    )
    assert "without --no-cache" in result.feedback
    assert result.observed == "1 layers shared (4 in layered-app:v1, 4 in layered-app:v2)"


def test_diverge_at_too_many_shared_says_more_than(tmp_path):
    result, _ = check(tmp_path, "layers.cache", **_cache_state(["d1", "r1", "r2", "c1"], ["d1", "r1", "r2", "c1", "x"]))
    assert result.feedback.startswith("layered-app:v2 shares 4 layers with layered-app:v1, more than the 3 expected")


def test_diverge_at_the_right_layer_passes(tmp_path):
    result, _ = check(tmp_path, "layers.cache", **_cache_state(["d1", "r1", "r2", "c2"]))
    assert result.status == PASSED
    assert "reuses layered-app:v1's first 3 layers" in result.feedback


# --- history_in_order: layers.build and layers.order, classic builder and BuildKit -------------
@pytest.mark.parametrize("history", [BUILDKIT, CLASSIC], ids=["buildkit", "classic"])
def test_history_in_order_passes_for_either_builder(tmp_path, history):
    result, engine = check(tmp_path, "layers.build", **_layered(["d1", "r1", "r2", "c1"], history))
    assert result.status == PASSED, result.feedback
    assert result.feedback == "layered-app:v1 runs /app/start.sh: Hello from layered-app v1"
    assert engine.ran == [("layered-app:v1", None)]
    assert engine.scratch_made == engine.scratch_removed != []


@pytest.mark.parametrize("history", [BUILDKIT, CLASSIC], ids=["buildkit", "classic"])
def test_history_in_order_missing_step_is_not_in_history(tmp_path, history):
    without_install = [line for line in history if "apt-get install" not in line]
    result, _ = check(tmp_path, "layers.build", **_layered(["d1", "r1", "r2", "c1"], without_install))
    assert (
        result.feedback
        == "`RUN apt-get install -y curl` is missing from layered-app:v1's build: it is not in the image's history."
    )
    assert "too early" not in result.feedback


@pytest.mark.parametrize(
    "history",
    [
        [
            "COPY ./app /app # buildkit",
            "RUN /bin/sh -c apt-get update && apt-get install -y curl # buildkit",
            'CMD ["/app/start.sh"]',
        ],
        [
            "/bin/sh -c #(nop) COPY dir:abc in /app ",
            "/bin/sh -c apt-get update && apt-get install -y curl",
            '/bin/sh -c #(nop)  CMD ["/app/start.sh"]',
        ],
    ],
    ids=["buildkit", "classic"],
)
def test_history_in_order_step_before_its_place_is_too_early(tmp_path, history):
    result, _ = check(
        tmp_path,
        "layers.order",
        images={"debian:bookworm-slim": DEBIAN, "ordered-app:v2": image("ordered-v2", ["d1", "c", "r"])},
        history={"ordered-app:v2": [{"CreatedBy": line} for line in history]},
    )
    assert result.feedback == (
        "In ordered-app:v2's build `COPY … /app` comes before `RUN … apt-get install`: "
        "move the COPY line below the `RUN … apt-get install` line in your Dockerfile, then build ordered-app:v2 again."
    )
    assert "missing" not in result.feedback
    assert result.observed.startswith("COPY ")


def test_layers_build_that_does_not_run_asks_about_start_sh(tmp_path):
    result, engine = check(
        tmp_path,
        "layers.build",
        **_layered(["d1", "r1", "r2", "c1"], run=(126, "exec /app/start.sh: permission denied")),
    )
    assert result.feedback.startswith(
        "A container of layered-app:v1 exited with 126: is /app/start.sh executable (chmod +x)"
    )
    assert engine.live_scratch == []


@pytest.mark.parametrize(
    "created_by, expected",
    [
        ("/bin/sh -c #(nop) COPY dir:abc in /app ", ("COPY", "dir:abc in /app")),
        ('/bin/sh -c #(nop)  CMD ["/app/start.sh"]', ("CMD", '["/app/start.sh"]')),
        ("/bin/sh -c apt-get update", ("RUN", "apt-get update")),
        ("|1 VERSION=2 /bin/sh -c make install", ("RUN", "make install")),
        ("RUN /bin/sh -c apt-get update # buildkit", ("RUN", "apt-get update")),
        ("COPY ./app /app # buildkit", ("COPY", "./app /app")),
        ('CMD ["/app/start.sh"]', ("CMD", '["/app/start.sh"]')),
        ("WORKDIR /app", ("WORKDIR", "/app")),
        ("sh -c echo hi > /etc/motd", ("", "sh -c echo hi > /etc/motd")),  # a committed layer: the container's command
        ("", ("", "")),
    ],
)
def test_instruction_reads_both_builders(created_by, expected):
    assert images.instruction(created_by) == expected


# --- containers: gone, exited ---------------------------------------------------------------
def test_gone_running_and_stopped_containers_get_different_advice(tmp_path):
    running, _ = check(
        tmp_path,
        "container.ephemeral",
        images={"nginx:latest": NGINX},
        containers={"web1": box("web1", NGINX["Id"], "running")},
    )
    stopped, _ = check(
        tmp_path,
        "container.ephemeral",
        images={"nginx:latest": NGINX},
        containers={"web1": box("web1", NGINX["Id"], "exited", 0)},
    )
    assert running.feedback.startswith("web1 still exists (running): stop and remove it with `docker rm -f web1`")
    assert stopped.feedback.startswith(
        "web1 still exists (exited (exit code 0)): a stopped container stays until `docker rm web1`"
    )
    assert "stop and remove" not in stopped.feedback


@pytest.mark.parametrize(
    "state, exit_code, words",
    [
        ("exited", 2, "box exited with code 2, not 0: its command failed; read `docker logs box`."),
        ("running", 0, "box is still running: let its command finish (or `exit` its shell) first."),
        ("created", 0, "box has not run yet (created (exit code 0)): start it with `docker start -a box`."),
    ],
)
def test_exited_says_why_not(tmp_path, state, exit_code, words):
    ctx = fake_context(FakeEngine(containers={"box": box("box", BUSYBOX["Id"], state, exit_code)}), tmp_path)
    result = containers.exited(ctx, "box")
    assert result.status == FAILED
    assert result.feedback == words


def test_exited_passes_on_the_expected_code_and_names_a_missing_container(tmp_path):
    ctx = fake_context(FakeEngine(containers={"box": box("box", BUSYBOX["Id"], "exited", 3)}), tmp_path)
    assert containers.exited(ctx, "box", code=3).passed
    assert containers.exited(ctx, "other").feedback.startswith("There is no container named other")


# --- container.ephemeral: removals counted only after the lesson's last reset ----------------
def _ephemeral(tmp_path, removals: dict[str, float]) -> tuple[CheckResult, FakeEngine, float]:
    engine = FakeEngine(images={"nginx:latest": NGINX})
    ctx = fake_context(engine, tmp_path)
    store = ProgressStore.for_paths(ctx.paths)
    store.record_reset("container")
    reset_at = store.last_reset("container")
    engine._events = [
        event("container", "destroy", reset_at + delta, id=sid(name), name=name, image="nginx")
        for name, delta in removals.items()
    ]
    return run_check(ctx, "container.ephemeral"), engine, reset_at


def test_ephemeral_ignores_removals_before_the_reset(tmp_path):
    result, engine, reset_at = _ephemeral(tmp_path, {"web1": -60, "web2": -60})
    assert result.feedback == "The engine has not seen web1 removed yet: remove it with `docker rm -f web1`."
    assert engine.events_since == [reset_at]


def test_ephemeral_names_the_container_not_removed_since(tmp_path):
    result, _, _ = _ephemeral(tmp_path, {"web1": 1, "web2": -1})
    assert result.feedback.startswith("The engine has not seen web2 removed yet")


def test_ephemeral_passes_with_both_removed_after_the_reset(tmp_path):
    result, engine, reset_at = _ephemeral(tmp_path, {"web1": 1, "web2": 2})
    assert result.status == PASSED
    assert engine.events_since == [reset_at, reset_at]


def test_ephemeral_with_the_image_gone_says_you_removed_the_image(tmp_path):
    engine = FakeEngine(
        events=[event("container", "destroy", 10, name="web1"), event("container", "destroy", 11, name="web2")]
    )
    result = run_check(fake_context(engine, tmp_path), "container.ephemeral")
    assert "you removed the image, not only the containers" in result.feedback


# --- committed_from: commit.custom ----------------------------------------------------------
def _commit_state(
    committed_layers: list[str] | None = ("d1", "m1"),
    diff=None,
    committed_motd: bytes | None = b"Welcome\n",
    box_image: str = DEBIAN["Id"],
) -> dict:
    committed = (
        {}
        if committed_layers is None
        else (
            {"my-custom-image": DEBIAN if list(committed_layers) == ["d1"] else image("custom", list(committed_layers))}
        )
    )
    files = {("custom-box", "/etc/motd"): b"Welcome\n", ("debian:bookworm-slim", "/etc/motd"): b""}
    if committed_motd is not None:
        files[("my-custom-image", "/etc/motd")] = committed_motd
    return dict(
        images={"debian:bookworm-slim": DEBIAN, **committed},
        containers={"custom-box": box("custom-box", box_image)},
        diffs={"custom-box": [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/motd", "Kind": 0}] if diff is None else diff},
        files=files,
    )


def test_committed_from_passes_and_removes_its_probe(tmp_path):
    result, engine = check(tmp_path, "commit.custom", **_commit_state())
    assert result.status == PASSED, result.feedback
    assert result.feedback == "my-custom-image is custom-box's image plus one layer that holds custom-box's changes."
    assert len(engine.scratch_made) == 1 and engine.scratch_removed == engine.scratch_made
    assert engine.live_scratch == []


def test_committed_from_same_layers_is_tagged_not_committed(tmp_path):
    result, _ = check(tmp_path, "commit.custom", **_commit_state(["d1"]))
    assert "it was tagged, not committed. Run `docker commit custom-box my-custom-image`." in result.feedback


def test_committed_from_two_layers_on_top_is_not_one_layer_on_top(tmp_path):
    result, _ = check(tmp_path, "commit.custom", **_commit_state(["d1", "m1", "m2"]))
    assert result.feedback.startswith("my-custom-image is not one layer on top of custom-box's image")
    assert result.observed == "3 layers; custom-box's image has 1"


def test_committed_from_a_container_without_changes(tmp_path):
    result, _ = check(tmp_path, "commit.custom", **_commit_state(diff=[]))
    assert result.feedback.startswith("custom-box has no changes, so a commit of it adds nothing")


def test_committed_from_an_older_commit_says_commit_again(tmp_path):
    result, engine = check(tmp_path, "commit.custom", **_commit_state(committed_motd=b""))
    assert result.feedback == (
        "/etc/motd in my-custom-image differs from the one in custom-box: "
        "the commit is older than that change, commit again."
    )
    assert engine.scratch_made and engine.scratch_removed == engine.scratch_made


def test_committed_from_a_deletion_the_image_still_has(tmp_path):
    result, engine = check(tmp_path, "commit.custom", **_commit_state(diff=[{"Path": "/etc/motd", "Kind": 2}]))
    assert result.feedback.startswith("/etc/motd in my-custom-image was deleted in custom-box")
    assert engine.live_scratch == []


def test_committed_from_missing_container_or_image(tmp_path):
    no_box, _ = check(tmp_path, "commit.custom", images={"debian:bookworm-slim": DEBIAN})
    no_image, _ = check(tmp_path, "commit.custom", **_commit_state(None))
    assert (
        no_box.feedback
        == "There is no container named custom-box: run it with `docker run --name custom-box debian:bookworm-slim …`."
    )
    assert no_image.feedback == (
        "There is no image my-custom-image in your engine yet: commit it with "
        "`docker commit custom-box my-custom-image`."
    )


def test_commit_custom_from_another_image_names_that_image(tmp_path):
    state = _commit_state(box_image=BUSYBOX["Id"])
    state["images"] = {**state["images"], "busybox:latest": BUSYBOX, "my-custom-image": image("custom", ["b1", "m1"])}
    result, _ = check(tmp_path, "commit.custom", **state)
    assert result.status == FAILED
    assert result.feedback.startswith("custom-box was made from busybox, not debian:bookworm-slim:")
    assert "docker rm -f custom-box" in result.feedback


def test_commit_custom_from_busybox_without_debian_pulled_still_names_busybox(tmp_path):
    result, _ = check(
        tmp_path,
        "commit.custom",
        images={"busybox:latest": BUSYBOX, "my-custom-image": image("custom", ["b1", "m1"])},
        containers={"custom-box": box("custom-box", BUSYBOX["Id"])},
        diffs={"custom-box": [{"Path": "/etc/motd", "Kind": 0}]},
    )
    assert result.feedback.startswith("custom-box was made from busybox, not debian:bookworm-slim:")


def test_commit_custom_from_another_name_of_debian_passes(tmp_path):
    state = _commit_state()
    state["images"] = {**state["images"], "my-debian:v1": DEBIAN}
    result, _ = check(tmp_path, "commit.custom", **state)
    assert result.status == PASSED, result.feedback


def test_commit_custom_from_an_unnamed_image(tmp_path):
    result, _ = check(tmp_path, "commit.custom", **_commit_state(box_image=sid("gone")))
    assert result.feedback.startswith(
        f"custom-box was made from an image that is no longer in your engine ({short(sid('gone'))}), "
        "not debian:bookworm-slim"
    )


@pytest.mark.parametrize("committed_layers", [["d1"], ["d1", "empty"]], ids=["no-new-layer", "empty-layer"])
def test_committed_from_an_unchanged_container_is_not_called_a_tag(tmp_path, committed_layers):
    result, _ = check(tmp_path, "commit.custom", **_commit_state(committed_layers, diff=[]))
    assert result.feedback == (
        "custom-box has no changes, so a commit of it adds nothing: change something inside it first, "
        "then commit again (`docker commit custom-box my-custom-image`)."
    )
    assert "tagged" not in result.feedback


# --- inspect.read: answer={"cmd": …, "port": …} ----------------------------------------------
@pytest.mark.parametrize("answer", [None, "nginx -g daemon off; 80", {"cmd": NGINX_CMD}, ["nginx", 80]])
def test_read_wrong_answer_type_shows_the_expected_shape(tmp_path, answer):
    result, _ = check(tmp_path, "inspect.read", answer, images={"nginx:latest": NGINX})
    assert result.feedback.startswith('This check needs your answer as a dict: answer={"cmd":')


def test_read_wrong_cmd(tmp_path):
    result, _ = check(tmp_path, "inspect.read", {"cmd": ["nginx"], "port": 80}, images={"nginx:latest": NGINX})
    assert result.feedback.startswith("That is not nginx's default command: look at Config.Cmd")


def test_read_wrong_port(tmp_path):
    result, _ = check(tmp_path, "inspect.read", {"cmd": NGINX_CMD, "port": 8080}, images={"nginx:latest": NGINX})
    assert result.feedback.startswith("That is not the port nginx exposes: look at Config.ExposedPorts")


@pytest.mark.parametrize(
    "answer",
    [
        {"cmd": NGINX_CMD, "port": 80},
        {"cmd": 'nginx -g "daemon off;"', "port": "80/tcp"},
    ],
)
def test_read_right_answer(tmp_path, answer):
    result, _ = check(tmp_path, "inspect.read", answer, images={"nginx:latest": NGINX})
    assert result.status == PASSED
    assert result.feedback == "Right: nginx runs `nginx -g daemon off;` and exposes 80/tcp."


def test_read_without_nginx_asks_to_pull_it(tmp_path):
    result, _ = check(tmp_path, "inspect.read", {"cmd": NGINX_CMD, "port": 80})
    assert result.feedback.startswith("There is no image nginx:latest in your engine yet")


# --- commit.why-not -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "letter, shown",
    [
        ("a", "the size of the layer"),
        ("c", "when the layer was made"),
        ("(d)", "the id of the image"),
        (" A ", "the size of the layer"),
    ],
)
def test_why_not_wrong_letter_names_what_history_does_show(tmp_path, letter, shown):
    result, _ = check(tmp_path, "commit.why-not", letter)
    assert result.status == FAILED
    assert result.feedback.startswith(f"`docker history` does show {shown}.")


@pytest.mark.parametrize("answer", ["b", "(B)"])
def test_why_not_right_letter(tmp_path, answer):
    result, _ = check(tmp_path, "commit.why-not", answer)
    assert result.status == PASSED
    assert result.feedback.startswith("Right: a committed layer shows only the container's command")


@pytest.mark.parametrize("answer", [None, "e", 2, "ab"])
def test_why_not_no_letter_asks_for_one(tmp_path, answer):
    result, _ = check(tmp_path, "commit.why-not", answer)
    assert result.feedback == 'Give your choice as one letter, a to d: answer="b".'


# --- tryit.install ---------------------------------------------------------------------------
def _install(tmp_path, boxes: dict, diffs: dict | None = None) -> CheckResult:
    result, _ = check(
        tmp_path,
        "tryit.install",
        images={"debian:bookworm-slim": DEBIAN, "busybox:latest": BUSYBOX},
        containers=boxes,
        diffs=diffs or {},
    )
    return result


CURL_ADDED = [{"Path": "/usr/bin", "Kind": 0}, {"Path": "/usr/bin/curl", "Kind": 1}]


def test_install_without_a_container(tmp_path):
    result = _install(tmp_path, {})
    assert result.feedback == "You have no container of debian:bookworm-slim yet: run one and install curl in it."


def test_install_ignores_labkits_own_and_other_images_containers(tmp_path):
    result = _install(
        tmp_path,
        {
            "probe": box("probe", DEBIAN["Id"], labels={"labkit": "check"}),
            "bb": box("bb", BUSYBOX["Id"]),
        },
        {"probe": CURL_ADDED, "bb": CURL_ADDED},
    )
    assert result.feedback.startswith("You have no container of debian:bookworm-slim yet")


def test_install_running_with_curl_says_exit(tmp_path):
    result = _install(tmp_path, {"tryit-box": box("tryit-box", DEBIAN["Id"], "running")}, {"tryit-box": CURL_ADDED})
    assert result.feedback == "tryit-box has curl but is still running: `exit` its shell (or let its command finish)."


def test_install_exited_non_zero_without_curl_says_apt_get_update(tmp_path):
    result = _install(
        tmp_path,
        {"tryit-box": box("tryit-box", DEBIAN["Id"], "exited", 100)},
        {"tryit-box": [{"Path": "/var/lib/apt", "Kind": 0}]},
    )
    assert (
        result.feedback
        == "tryit-box exited with code 100 and has no curl: run `apt-get update` before `apt-get install -y curl`."
    )


def test_install_exited_cleanly_without_curl(tmp_path):
    result = _install(tmp_path, {"tryit-box": box("tryit-box", DEBIAN["Id"], "exited", 0)})
    assert result.feedback.startswith("None of your 1 container(s) of debian:bookworm-slim has /usr/bin/curl")


def test_install_passes(tmp_path):
    boxed = box("tryit-box", DEBIAN["Id"], "exited", 0)
    result = _install(tmp_path, {"tryit-box": boxed}, {"tryit-box": CURL_ADDED})
    assert result.status == PASSED
    assert result.feedback.startswith(f"tryit-box ({boxed['Id'][:12]}) installed curl and exited cleanly")


def test_install_with_curl_but_a_failed_exit_does_not_deny_the_curl(tmp_path):
    result = _install(tmp_path, {"tryit-box": box("tryit-box", DEBIAN["Id"], "exited", 1)}, {"tryit-box": CURL_ADDED})
    assert result.status == FAILED
    assert not result.feedback.startswith("None of your")  # today: "None of your 1 container(s) … has /usr/bin/curl"
    assert "exited with code 1" in result.feedback


def test_tryit_commit_names_the_container_by_its_name_not_its_id(tmp_path):
    boxed = box("tryit-box", DEBIAN["Id"], "exited", 0)
    result, _ = check(
        tmp_path,
        "tryit.commit",
        images={"debian:bookworm-slim": DEBIAN, "debian-with-curl": DEBIAN},
        containers={"tryit-box": boxed},
        diffs={"tryit-box": CURL_ADDED},
    )
    assert result.feedback == (
        "debian-with-curl has the same layers as tryit-box's image: it was tagged, not committed. "
        "Run `docker commit tryit-box debian-with-curl`."
    )
    assert boxed["Id"] not in result.feedback


@pytest.mark.parametrize(
    "exercise, ref",
    [("layers.cache", "layered-app:v2"), ("layers.order", "ordered-app:v2"), ("capstone.site", "mysite:v1")],
)
def test_a_missing_image_the_learner_builds_is_never_pulled(tmp_path, exercise, ref):
    result, _ = check(tmp_path, exercise, images={"debian:bookworm-slim": DEBIAN, "nginx:latest": NGINX})
    assert f"There is no image {ref}" in result.feedback
    assert f"docker pull {ref}" not in result.feedback


# --- push.pull-back --------------------------------------------------------------------------
def test_pull_back_after_rmi_asks_to_pull_not_to_remove(tmp_path):
    engine = FakeEngine(images={"myapp:latest": BUSYBOX})
    ctx = fake_context(engine, tmp_path)
    ref = f"{ctx.registry_address}/{ctx.user}/myapp:v1"
    engine._events = [event("image", "untag", 100, id=BUSYBOX["Id"], name=ref)]
    result = run_check(ctx, "push.pull-back")
    assert result.feedback.startswith(f"You removed {ref}; now pull it back")


# --- registry.pushed: the registry's tag vs the local image, on either image store ------------
# Classic store: the image id is its config's digest; RepoDigests hold only digests it was pushed
# as (or pulled by). Containerd store: the image id is its manifest's digest, and RepoDigests hold
# repo@id for every repository that names it, pushed or not.
REGISTRY = "127.0.0.1:5000"
MYAPP = f"{REGISTRY}/learner/myapp:v1"


def _manifest(name: str) -> str:
    return sid(f"{name} manifest")


def _local(name: str, store: str, pushed: bool) -> dict:
    """Image `name` as `docker image inspect` shows it on `store`, named MYAPP (and pushed as it, or not)."""
    if store == "classic":
        digests = (f"{REGISTRY}/learner/myapp@{_manifest(name)}",) if pushed else ()
        return image(f"{name} config", ["b1", name], repo_digests=digests)
    attrs = image(name, ["b1", name])
    attrs["Id"] = _manifest(name)
    attrs["RepoDigests"] = [f"{REGISTRY}/learner/myapp@{attrs['Id']}"]
    return attrs


def _pushed(tmp_path, local: dict, tag: str, held: tuple[str, ...]) -> CheckResult:
    """registry.pushed(MYAPP) with MYAPP locally `local`; the registry's v1 is `tag`, and it holds the
    manifests `held`."""
    from labkit.course.checks import registry

    answers = {("learner/myapp", "v1"): tag, **{("learner/myapp", digest): digest for digest in held}}
    ctx = fake_context(FakeEngine(images={MYAPP: local}), tmp_path, registry=FakeRegistry(answers))
    return registry.pushed(ctx, MYAPP)


STORES = ["classic", "containerd"]


@pytest.mark.parametrize("store", STORES)
def test_pushed_passes_when_the_registry_holds_the_local_image(tmp_path, store):
    one = _manifest("one")
    result = _pushed(tmp_path, _local("one", store, pushed=True), one, (one,))
    assert result.status == PASSED and one[:19] in result.feedback


@pytest.mark.parametrize("store", STORES)
def test_pushed_sees_a_name_moved_to_an_image_never_pushed(tmp_path, store):
    """`one` pushed, then the name moved to `two`, never pushed: on containerd `two` still has a repo digest."""
    one = _manifest("one")
    result = _pushed(tmp_path, _local("two", store, pushed=False), one, (one,))
    assert result.status == FAILED
    assert result.feedback == (
        f"The registry has a learner/myapp:v1, but your local {MYAPP} is not what was pushed: "
        f"push it again with `docker push {MYAPP}`."
    )
    assert "older push" not in result.feedback


@pytest.mark.parametrize("store", STORES)
def test_pushed_sees_an_older_push(tmp_path, store):
    """`one` pushed, then `two` pushed under the same name, then the name moved back to `one`."""
    one, two = _manifest("one"), _manifest("two")
    result = _pushed(tmp_path, _local("one", store, pushed=True), two, (one, two))
    assert result.status == FAILED
    assert (
        result.feedback
        == f"The registry's learner/myapp:v1 ({two[:19]}…) is an older push, not your local {MYAPP}: push again."
    )


@pytest.mark.parametrize("store", STORES)
def test_pushed_a_push_the_registry_no_longer_holds_is_not_an_older_push(tmp_path, store):
    """The local image was pushed once, but the registry has deleted that manifest since."""
    two = _manifest("two")
    result = _pushed(tmp_path, _local("one", store, pushed=True), two, (two,))
    assert result.status == FAILED and "is not what was pushed" in result.feedback


# --- criteria: a lab problem in one step is the whole result ---------------------------------
def test_criteria_step_error_is_the_result_and_stops_there():
    ran = []

    def step(name: str, result: CheckResult):
        return lambda: ran.append(name) or result

    result = criteria(
        [
            ("first", 1, step("first", CheckResult.ok("yes"))),
            ("second", 2, step("second", CheckResult.error("The registry is down.\n  Next: run `labkit up`."))),
            ("third", 3, step("third", CheckResult.fail("no"))),
        ]
    )
    assert result.status == ERROR
    assert result.feedback == "The registry is down.\n  Next: run `labkit up`."
    assert ran == ["first", "second"]
    assert result.points == 0 and result.details == ()


def test_capstone_with_the_registry_down_is_an_error_not_a_score(tmp_path):
    site = image("site", ["d1", "n1", "n2", "a"], Labels={"org.opencontainers.image.authors": "me"})
    engine = FakeEngine(
        images={
            "nginx:latest": NGINX,
            "mysite:v1": site,
            "mysite:latest": site,
            "127.0.0.1:5000/learner/mysite:v1": site,
        }
    )
    down = RegistryUnreachable("http://127.0.0.1:5000", "connection refused")
    ctx = fake_context(engine, tmp_path, registry=FakeRegistry(error=down))
    store = ProgressStore.for_paths(ctx.paths)
    result = run_check(ctx, "capstone.site", store=store)
    assert result.status == ERROR
    assert result.feedback == str(down)
    assert result.points == 0
    assert store.history() == []


# --- run_check: errors, scoring, recording ---------------------------------------------------
def test_run_check_turns_an_engine_error_into_an_unrecorded_error(tmp_path):
    engine = FakeEngine(images={"busybox:latest": BUSYBOX})
    down = EngineUnreachable("fake://", "connection refused")
    engine.fail_with(down)
    ctx = fake_context(engine, tmp_path)
    store = ProgressStore.for_paths(ctx.paths)
    result = run_check(ctx, "start.pull", store=store)
    assert result.status == ERROR
    assert result.feedback == str(down)
    assert "The Docker engine is not reachable at fake://: connection refused" in result.feedback
    assert "Next:" in result.feedback
    assert (result.exercise, result.points, result.possible) == ("start.pull", 0, 1)
    assert store.history() == []


def test_run_check_scores_a_pass_with_points_and_hints_left(tmp_path):
    engine = FakeEngine(images={"busybox:latest": BUSYBOX})
    ctx = fake_context(engine, tmp_path)
    store = ProgressStore.for_paths(ctx.paths)
    exercise = catalog.get("start.pull")
    store.record_hint("start.pull", 1)
    result = run_check(ctx, "start.pull", store=store)
    assert result.status == PASSED
    assert (result.exercise, result.title) == ("start.pull", exercise.title)
    assert result.points == result.possible == exercise.points == 1
    assert result.hints_left == len(exercise.hints) - 1 == 1
    assert [(h["exercise"], h["passed"], h["points"]) for h in store.history()] == [("start.pull", True, 1.0)]
    assert engine.consistent_blocks == 1


def test_run_check_scores_a_failure_as_zero_and_records_it(tmp_path):
    ctx = fake_context(FakeEngine(), tmp_path)
    store = ProgressStore.for_paths(ctx.paths)
    result = run_check(ctx, "start.pull", store=store)
    assert result.status == FAILED
    assert (result.points, result.possible, result.hints_left) == (0, 1, 2)
    assert result.feedback == "There is no image busybox:latest in your engine yet: run `docker pull busybox`."
    assert [(h["status"], h["points"]) for h in store.history("start.pull")] == [("failed", 0.0)]


def test_run_check_keeps_partial_credit_of_criteria(tmp_path):
    site = image("site", ["d1", "n1", "n2", "a"], Labels={"org.opencontainers.image.authors": "me"})
    result, _ = check(
        tmp_path, "capstone.site", images={"nginx:latest": NGINX, "mysite:v1": site, "mysite:latest": site}
    )
    assert result.status == FAILED
    assert (result.points, result.possible) == (5, 10)
    assert "pushed to the course registry: There is no image 127.0.0.1:5000/learner/mysite:v1 yet" in result.feedback
    assert "serves your page: There is no mysite/index.html" in result.feedback


def test_committed_from_a_container_that_only_made_folders_compares_that_they_are_there(tmp_path):
    """`mkdir /data` only: no file to compare, so the folder itself must be in the commit (a check that
    compared nothing passed whatever was committed)."""
    folders_only = [{"Path": "/data", "Kind": 1}]
    state = _commit_state(diff=folders_only)
    result, engine = check(tmp_path, "commit.custom", **state)
    assert result.status == FAILED
    assert (
        result.feedback
        == "/data in custom-box is not in my-custom-image: the commit is older than that change, commit again."
    )
    state["files"][("my-custom-image", "/data/.keep")] = b""
    result, _ = check(tmp_path, "commit.custom", **state)
    assert result.status == PASSED, result.feedback


def test_criteria_of_nothing_is_no_pass():
    result = criteria([])
    assert result.status == ERROR and not result.passed
