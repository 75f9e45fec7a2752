"""Pictures of image layers from real engine state: two images built FROM busybox that
share a RUN layer and differ in a COPY, a container of one of them with a changed file,
and a commit of that container.

Everything is made with the real docker CLI under names that start with `pic-` and a
random part, and removed when the test ends (containers first, then images).
"""

from __future__ import annotations

import uuid

import pytest

from labkit.errors import PictureError
from labkit.ui import Lab, shared_prefix, stack

pytestmark = [pytest.mark.engine, pytest.mark.course]

DOCKERFILE = """\
FROM busybox
LABEL course=pictures
RUN echo shared > /shared.txt
COPY app.txt /app.txt
CMD ["cat", "/app.txt"]
"""


@pytest.fixture
def made(lab, tmp_path):
    """Two images that share their RUN layer, a container of the first with one new file, and its commit."""
    lab.docker("pull", "busybox")  # from the lab's mirror; shared, never removed here
    name = f"pic-{uuid.uuid4().hex[:8]}"
    v1, v2, box, committed = f"{name}:v1", f"{name}:v2", f"{name}-box", f"{name}-committed:latest"
    try:
        for ref, text in ((v1, "one\n"), (v2, "two\n")):
            context = tmp_path / ref.replace(":", "_")
            context.mkdir()
            (context / "Dockerfile").write_text(DOCKERFILE)
            (context / "app.txt").write_text(text)
            lab.docker("build", "-q", "-t", ref, str(context))
        lab.docker("run", "--name", box, v1, "sh", "-c", "echo changed > /tmp/new.txt")
        lab.docker("commit", box, committed)
        yield v1, v2, box, committed
    finally:
        lab.docker("rm", "-f", box, check=False)
        for ref in (committed, v2, v1):
            lab.docker("rmi", ref, check=False)


@pytest.fixture
def notebook_lab(lab, ctx, monkeypatch) -> Lab:
    monkeypatch.setenv("LABKIT_HOME", str(lab.home))
    monkeypatch.setenv("LABKIT_CACHE", lab.env["LABKIT_CACHE"])
    monkeypatch.setenv("LABKIT_WORKSPACE", str(ctx.workspace))
    notebook = Lab()
    yield notebook
    if notebook._ctx is not None:
        notebook._ctx.close()


def test_two_builds_share_their_base_and_run_layers_and_differ_in_the_copy(ctx, made):
    v1, v2, _box, _committed = made
    with ctx.engine.consistent():
        base, one, two = stack(ctx, "busybox"), stack(ctx, v1), stack(ctx, v2)
    assert len(one.layers) == len(two.layers) == len(base.layers) + 2  # RUN and COPY; LABEL and CMD make none
    assert one.layers[: len(base.layers)] == base.layers
    run, copy = one.layers[-2:]
    assert run.step == "RUN echo shared > /shared.txt"
    assert copy.step.startswith("COPY ") and copy.step.endswith("/app.txt")
    assert shared_prefix(one, two) == len(one.layers) - 1
    assert two.layers[-2] == run and two.layers[-1].diff_id != copy.diff_id
    assert one.image_id == ctx.engine.images.id(v1) and not one.container


def test_a_container_adds_its_read_write_layer_with_its_changes(lab, ctx, made):
    v1, v2, box, _committed = made
    got = stack(ctx, v1, container=box)
    assert got.container == box
    assert got.changes == len(lab.docker("diff", box).stdout.splitlines()) >= 1
    with pytest.raises(PictureError, match="made from another image"):
        stack(ctx, v2, container=box)


def test_a_commit_is_one_new_layer_on_the_containers_image(ctx, made):
    v1, _v2, _box, committed = made
    one, mine = stack(ctx, v1), stack(ctx, committed)
    assert mine.layers[:-1] == one.layers
    assert mine.layers[-1].step == "docker commit (sh -c echo changed > /tmp/new.txt)"


def test_show_layers_in_the_notebook_names_the_shared_layers_and_the_read_write_layer(notebook_lab, made):
    v1, v2, box, committed = made
    side_by_side = notebook_lab.show_layers(v1, v2)
    rows = side_by_side.text.splitlines()
    shared_run = [row for row in rows if "RUN echo shared > /shared.txt" in row]
    assert len(shared_run) == 1 and shared_run[0].count("|= RUN echo shared") == 2
    assert rows[-1].startswith(f"{v2} reuses ") and rows[-1].endswith(f"layers from {v1} and adds 1 of its own")
    assert "<svg" in side_by_side.html and "shared · read-only" in side_by_side.html

    with_box = notebook_lab.show_layers(v1, container=box)
    assert f"container {box}: read-write layer (" in with_box.text and "changed path" in with_box.text
    assert "read-write" in with_box.html

    commit = notebook_lab.show_layers(v1, committed)
    assert commit.text.splitlines()[-1].endswith(f"from {v1} and adds 1 of its own")
    assert "docker commit (sh -c echo changed" in commit.text

    wrong = notebook_lab.show_layers(v2, container=box)
    assert wrong.text.startswith("labkit: ") and "made from another image" in wrong.text
    missing = notebook_lab.show_layers("pic-nothing-here:v9")
    assert missing.text.startswith("labkit: There is no image pic-nothing-here:v9")
