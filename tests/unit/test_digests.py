"""09-digests on an in-memory engine and registry: each exercise passes in the state its solution
leaves, on the classic image store and the containerd one, and each near miss gets the words for it.

Classic store: an image's id is its config's digest, and RepoDigests hold only what it was pushed as
(or pulled by). Containerd store: the id is the manifest's (or index's) digest, and RepoDigests hold
repo@id for every repository that names the image, pushed or not. The checks use neither meaning.
"""

from __future__ import annotations

import pytest
from fakes import FakeEngine, FakeRegistry, event, fake_context, image, sid

from labkit.course import FAILED, PASSED, ProgressStore
from labkit.course.catalog import digests
from labkit.course.checks import files, registry
from labkit.course.exercises import run_check
from labkit.course.reset import _digest_names
from labkit.errors import RegistryUnreachable

REGISTRY = "127.0.0.1:5000"
REPO = "learner/greeting"
NAME = f"{REGISTRY}/{REPO}"
STORES = ["classic", "containerd"]
BUSYBOX = image("busybox", ["b1"])


def manifest(version: str) -> str:
    return sid(f"greeting {version} manifest")


def greeting(version: str, store: str, pushed: bool = True) -> dict:
    """greeting:VERSION (busybox and one layer of its message) as `docker image inspect` shows it on `store`."""
    if store == "classic":
        return image(
            f"greeting {version} config",
            ["b1", f"msg-{version}"],
            repo_digests=((f"{NAME}@{manifest(version)}",) if pushed else ()),
        )
    attrs = image(f"greeting {version}", ["b1", f"msg-{version}"])
    attrs["Id"] = manifest(version)
    attrs["RepoDigests"] = [f"greeting@{attrs['Id']}", f"{NAME}@{attrs['Id']}"]
    return attrs


def lab(tmp_path, images: dict, tags: dict[str, str], events=(), layers: dict | None = None):
    """A context: the engine holds `images`; the registry's tags name `tags`' digests, and it holds
    those manifests, with the layers `layers` (by tag or digest)."""
    answers = {**{(REPO, tag): digest for tag, digest in tags.items()}, **{(REPO, d): d for d in tags.values()}}
    answers.update({(REPO, manifest(v)): manifest(v) for v in ("v1", "v2", "v3")})  # pushed once, held for good
    held = {(REPO, ref): found for ref, found in (layers or {}).items()}
    engine = FakeEngine(images={"busybox:latest": BUSYBOX, **images}, events=list(events))
    return fake_context(engine, tmp_path, registry=FakeRegistry(answers, layers=held)), engine


# --- digests.same-content ---------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
def test_same_content_passes_with_one_image_pushed_under_both_tags(tmp_path, store):
    one = greeting("v1", store)
    ctx, _ = lab(
        tmp_path,
        {"greeting:v1": one, f"{NAME}:v1": one, f"{NAME}:stable": one},
        {"v1": manifest("v1"), "stable": manifest("v1")},
    )
    result = run_check(ctx, "digests.same-content")
    assert result.status == PASSED, result.feedback
    assert result.feedback == (
        f"The registry's {REPO}:v1 and {REPO}:stable are one manifest, {manifest('v1')[:19]}…: two names, one content."
    )


@pytest.mark.parametrize("store", STORES)
def test_same_content_with_stable_not_pushed_says_push_it(tmp_path, store):
    one = greeting("v1", store)
    ctx, _ = lab(tmp_path, {"greeting:v1": one, f"{NAME}:v1": one, f"{NAME}:stable": one}, {"v1": manifest("v1")})
    result = run_check(ctx, "digests.same-content")
    assert result.status == FAILED
    assert result.feedback == (
        f"The registry has no {REPO}:stable: push it with `docker push {NAME}:stable` (log in first)."
    )


def test_same_content_with_stable_on_another_image_says_tag_v1(tmp_path):
    one, two = greeting("v1", "classic"), greeting("v2", "classic")
    ctx, _ = lab(tmp_path, {"greeting:v1": one, f"{NAME}:v1": one, f"{NAME}:stable": two}, {"v1": manifest("v1")})
    result = run_check(ctx, "digests.same-content")
    assert result.feedback == (
        f"{NAME}:stable points to another image than greeting:v1: tag greeting:v1 as {NAME}:stable "
        f"(`docker tag greeting:v1 {NAME}:stable`)."
    )


def test_same_content_before_the_build_says_build_greeting(tmp_path):
    ctx, _ = lab(tmp_path, {}, {})
    result = run_check(ctx, "digests.same-content")
    assert result.feedback.startswith("There is no image greeting:v1 in your engine yet: build it with `docker build")


def test_same_manifest_names_both_digests_when_the_tags_differ(tmp_path):
    ctx, _ = lab(tmp_path, {}, {"v1": manifest("v1"), "stable": manifest("v2")})
    result = registry.same_manifest(ctx, REPO, "v1", "stable")
    assert result.status == FAILED
    assert result.feedback == (
        f"The registry's {REPO}:v1 and {REPO}:stable are two manifests ({manifest('v1')[:19]}… and "
        f"{manifest('v2')[:19]}…): two different images. Tag one image as both, then push both."
    )


def test_same_manifest_with_the_registry_down_is_a_lab_problem(tmp_path):
    down = RegistryUnreachable(REGISTRY, "connection refused")
    ctx = fake_context(FakeEngine(), tmp_path, registry=FakeRegistry(error=down))
    assert registry.same_manifest(ctx, REPO, "v1", "stable").status == "error"


# --- digests.pull-by-digest -------------------------------------------------------------------
def moved_state(store: str, pulled: tuple[str, ...], after_reset: float = 1, present: bool = True):
    """After v2 was pushed as stable: `pulled` are the pull events' refs, `after_reset` seconds after it."""
    one, two = greeting("v1", store), greeting("v2", store)
    images = {"greeting:v2": two, f"{NAME}:stable": two}
    if present:
        images[f"{NAME}@{manifest('v1')}"] = one
    tags = {"v1": manifest("v1"), "stable": manifest("v2")}
    return images, tags, pulled, after_reset


def pull_check(tmp_path, images, tags, pulled, after_reset):
    ctx, engine = lab(tmp_path, images, tags)
    store = ProgressStore.for_paths(ctx.paths)
    store.record_reset("digests")
    at = store.last_reset("digests") + after_reset
    engine._events = [event("image", "pull", at, id=ref, name=ref) for ref in pulled]
    return run_check(ctx, "digests.pull-by-digest")


@pytest.mark.parametrize("store", STORES)
def test_pull_by_digest_passes_after_the_old_image_came_back_by_digest(tmp_path, store):
    result = pull_check(tmp_path, *moved_state(store, (f"{NAME}@{manifest('v1')}",)))
    assert result.status == PASSED, result.feedback
    assert result.feedback.startswith(f"You pulled {NAME}@{manifest('v1')[:19]}… by its digest")


@pytest.mark.parametrize("store", STORES)
def test_pull_by_digest_with_stable_not_moved_says_build_and_push_v2(tmp_path, store):
    one = greeting("v1", store)
    result = pull_check(tmp_path, {f"{NAME}:stable": one}, {"v1": manifest("v1"), "stable": manifest("v1")}, (), 1)
    assert result.status == FAILED
    assert result.feedback == (
        f"The registry's {REPO}:stable still names the manifest {REPO}:v1 names ({manifest('v1')[:19]}…): "
        f"change greeting/message.txt, build greeting:v2, tag it as {NAME}:stable and push it."
    )


def test_pull_by_digest_pulled_by_tag_says_a_tag_can_move(tmp_path):
    result = pull_check(tmp_path, *moved_state("classic", (f"{NAME}:v1",)))
    assert result.feedback == (
        f"You pulled {NAME}:v1 by its tag, and a tag can move: pull the old image by its digest, "
        f"`docker pull {NAME}@{manifest('v1')}`."
    )


def test_pull_by_digest_of_the_new_image_says_not_the_old_one(tmp_path):
    result = pull_check(tmp_path, *moved_state("containerd", (f"{NAME}@{manifest('v2')}",)))
    assert result.feedback == (
        f"You pulled {NAME}@{manifest('v2')[:19]}…, not the old image: pull it by its own digest, "
        f"`docker pull {NAME}@{manifest('v1')}`."
    )


def test_pull_by_digest_ignores_pulls_before_the_lessons_reset(tmp_path):
    result = pull_check(tmp_path, *moved_state("classic", (f"{NAME}@{manifest('v1')}",), after_reset=-60))
    assert result.feedback == f"You have not pulled the old image back yet: `docker pull {NAME}@{manifest('v1')}`."


def test_pull_by_digest_pulled_then_removed_says_pull_again(tmp_path):
    result = pull_check(tmp_path, *moved_state("classic", (f"{NAME}@{manifest('v1')}",), present=False))
    assert result.feedback.startswith(f"You pulled {NAME}@{manifest('v1')[:19]}…, but it is gone from your engine")


# --- digests.pinned-from ----------------------------------------------------------------------
APP_LAYERS = {"v2": ["b1", "msg-v2", "sig"], "v3": ["b1", "msg-v3", "sig"]}


def pinned_check(tmp_path, dockerfile: str | None, stable: str = "v3", app: str = "v2", store: str = "containerd"):
    """After v3 was pushed as stable (or not): greeting-app:v1 and v2 built on greeting `app`."""
    built = image(f"greeting-app on {app}", APP_LAYERS[app])
    images = {"greeting-app:v1": built, "greeting-app:v2": built, "greeting:v2": greeting("v2", store)}
    layers = {manifest(v): ["b1", f"msg-{v}"] for v in ("v1", "v2", "v3")}
    layers["stable"] = layers[manifest(stable)]
    ctx, _ = lab(tmp_path, images, {"v1": manifest("v1"), "stable": manifest(stable)}, layers=layers)
    if dockerfile is not None:
        (ctx.workspace / "greeting-app").mkdir()
        (ctx.workspace / "greeting-app" / "Dockerfile").write_text(dockerfile)
    return run_check(ctx, "digests.pinned-from")


def app(base: str) -> str:
    return f'FROM {base}\nCOPY signature.txt /signature.txt\nCMD ["sh", "-c", "cat /message.txt /signature.txt"]\n'


@pytest.mark.parametrize("store", STORES)
def test_pinned_from_passes_when_both_builds_keep_the_pinned_base(tmp_path, store):
    result = pinned_check(tmp_path, app(f"{NAME}@{manifest('v2')}"), store=store)
    assert result.status == PASSED, result.feedback
    assert result.feedback == (
        f"greeting-app:v1 and greeting-app:v2 are both built on {REPO}@{manifest('v2')[:19]}…, the digest you pinned, "
        f"though stable has moved on to {manifest('v3')[:19]}…."
    )


def test_pinned_from_a_tag_says_pin_it_by_digest(tmp_path):
    result = pinned_check(tmp_path, app(f"{NAME}:stable"))
    assert result.feedback == (
        f"greeting-app/Dockerfile's FROM names {NAME}:stable, a tag, and a tag can move: pin it by digest, "
        f"`FROM {NAME}@sha256:…`."
    )


def test_pinned_from_another_repository_says_pin_greeting(tmp_path):
    result = pinned_check(tmp_path, app(f"busybox@{sid('busybox index')}"))
    assert result.feedback == f"greeting-app/Dockerfile's FROM pins busybox, not {NAME}: pin {NAME} by its digest."


def test_pinned_from_a_cut_digest_says_a_whole_digest(tmp_path):
    result = pinned_check(tmp_path, app(f"{NAME}@{manifest('v2')[:19]}"))
    assert "where a whole digest goes: `sha256:` and 64 hex digits" in result.feedback


def test_pinned_from_a_digest_the_registry_never_had(tmp_path):
    result = pinned_check(tmp_path, app(f"{NAME}@{sid('never pushed')}"))
    assert result.feedback.startswith(f"The registry has no {REPO}@{sid('never pushed')[:19]}…: pin a digest it holds")


def test_pinned_from_before_the_tag_moved_says_move_it(tmp_path):
    result = pinned_check(tmp_path, app(f"{NAME}@{manifest('v2')}"), stable="v2")
    assert result.feedback.startswith(
        f"The registry's {REPO}:stable still names {manifest('v2')[:19]}…: that is the digest you pinned, so nothing "
        "has moved yet."
    )


def test_pinned_from_with_builds_on_what_stable_names_now_says_rebuild(tmp_path):
    """The Dockerfile is pinned to v2, but the builds were made before the pin, after stable moved to v3."""
    result = pinned_check(tmp_path, app(f"{NAME}@{manifest('v2')}"), app="v3")
    assert result.feedback == (
        "greeting-app:v1 is built on what stable names now, not on the digest you pinned: build it again from the "
        "pinned Dockerfile (`docker build -t greeting-app:v1 greeting-app`)."
    )


def test_pinned_from_without_the_dockerfile(tmp_path):
    result = pinned_check(tmp_path, None)
    assert result.status == FAILED and "There is no greeting-app/Dockerfile in" in result.feedback


@pytest.mark.parametrize(
    "text, base",
    [
        ("FROM busybox\n", "busybox"),
        ("# FROM nginx\nFROM --platform=linux/amd64 busybox:1.36 AS base\n", "busybox:1.36"),
        ("FROM debian AS build\nRUN true\nFROM \\\n  busybox@sha256:abc\n", "busybox@sha256:abc"),
        ("from busybox\n", "busybox"),
        ("RUN true\n", ""),
    ],
)
def test_base_of_reads_the_last_from(text, base):
    assert files.base_of(text) == base


def test_pinned_from_a_tag_and_a_digest_is_pinned(tmp_path):
    result = pinned_check(tmp_path, app(f"{NAME}:stable@{manifest('v2')}"))
    assert result.status == PASSED, result.feedback


# --- reset: images left with only a digest name -----------------------------------------------
class _Images:
    def __init__(self, summaries: list[dict]) -> None:
        self.summaries, self.untagged = summaries, []

    def list(self):
        return self.summaries

    def untag(self, ref: str) -> None:
        self.untagged.append(ref)


def test_reset_removes_the_lessons_images_named_by_digest_alone(tmp_path):
    summaries = [
        {"Id": "a", "RepoTags": [], "RepoDigests": [f"{NAME}@{manifest('v1')}"]},  # pulled by digest
        {"Id": "b", "RepoTags": ["<none>:<none>"], "RepoDigests": [f"{NAME}@{manifest('v2')}"]},  # tags gone
        {"Id": "c", "RepoTags": ["mine:1"], "RepoDigests": [f"{NAME}@{manifest('v3')}"]},  # still named: kept
        {"Id": "d", "RepoTags": [], "RepoDigests": [f"{REGISTRY}/learner/other@{sid('x')}"]},  # not the lesson's
    ]
    ctx = fake_context(FakeEngine(), tmp_path)
    ctx.engine.images = _Images(summaries)
    exercise = next(e for e in digests.EXERCISES if e.resources.by_digest)
    done = _digest_names(ctx, exercise)
    assert ctx.engine.images.untagged == [f"{NAME}@{manifest('v1')}", f"{NAME}@{manifest('v2')}"]
    assert done == [f"removed image {ref}" for ref in ctx.engine.images.untagged]
