"""Pictures of image layers: `_pictures` pairs layers with history steps (on the in-memory
engine), `render` draws stacks as text and SVG (pure: stacks built by hand), and
`lab.show_layers` turns both into one cell's output or one problem line."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest
from fakes import FakeEngine, box, fake_context, image, sid

from labkit.errors import ImageMissing, PictureError
from labkit.ui import _notebook, render
from labkit.ui._pictures import Layer, Stack, shared_prefix, stack

SVG = "{http://www.w3.org/2000/svg}"


def digest(word: str) -> str:
    return "sha256:" + hashlib.sha256(word.encode()).hexdigest()


def hex12(word: str) -> str:
    return digest(word).removeprefix("sha256:")[:12]


BASE = (
    Layer(digest("base"), "base filesystem: COPY dir:0d1c5a7f in /"),
    Layer(digest("curl"), "RUN apt-get install -y curl"),
    Layer(digest("reqs"), "COPY requirements.txt /app/"),
)
V1 = Stack("layered-app:v1", sid("v1"), BASE + (Layer(digest("app1"), "COPY ./app /app"),))
V2 = Stack("layered-app:v2", sid("v2"), BASE + (Layer(digest("app2"), "COPY ./app /app"),))
WEB = Stack("nginx", sid("nginx"), BASE, container="web1", changes=2)
OTHER = Stack("busybox", sid("busybox"), (Layer(digest("bb"), "base filesystem: COPY dir:9f8e7d6c in /"),))


def svg_root(stacks) -> ET.Element:
    root = ET.fromstring(render.layers_svg(stacks))
    assert root.tag == f"{SVG}svg"
    return root


def svg_texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


# --- shared_prefix ---------------------------------------------------------------------
def test_shared_prefix_counts_equal_layers_from_the_bottom():
    assert shared_prefix(V1, V2) == 3
    assert shared_prefix(V1, V1) == 4
    assert shared_prefix(V1, OTHER) == 0
    shifted = Stack("x", sid("x"), (OTHER.layers[0],) + V1.layers)  # same layers one place higher: not shared
    assert shared_prefix(V1, shifted) == 0


# --- one stack with a container ----------------------------------------------------------
def test_text_of_one_stack_has_the_container_on_top_and_layers_top_down():
    lines = render.layers_text([WEB]).splitlines()
    assert lines[0].startswith(f"nginx ({sid('nginx').removeprefix('sha256:')[:12]})")
    assert lines[1].startswith(": container web1: read-write layer (2 changed paths)") and lines[1].endswith(":")
    assert "COPY requirements.txt /app/" in lines[2] and hex12("reqs") in lines[2]
    assert "RUN apt-get install -y curl" in lines[3]
    assert "base filesystem" in lines[4] and hex12("base") in lines[4]
    assert lines[5].startswith("+-") and lines[5].endswith("-+")
    assert len({len(line) for line in lines[1:6]}) == 1  # one column, one width
    assert "read-only" in lines[6]
    assert lines[-1] == (
        "nginx: 3 read-only layers, base at the bottom; container web1 adds its own "
        "read-write layer on top (2 changed paths)"
    )
    assert "=" not in "".join(lines[1:6])  # nothing is shared with anything


def test_svg_of_one_stack_draws_read_only_boxes_and_a_dashed_container_box():
    root = svg_root([WEB])
    texts = svg_texts(root)
    assert "container web1: read-write layer" in texts and "2 changed paths" in texts
    assert texts.count("read-only") == 3
    assert {"RUN apt-get install -y curl", hex12("curl"), hex12("base")} <= set(texts)
    dashed = [r for r in root.iter(f"{SVG}rect") if r.get("stroke-dasharray")]
    assert len(dashed) == 1
    boxes = {next(g.iter(f"{SVG}text")).text: float(next(g.iter(f"{SVG}rect")).get("y")) for g in root.iter(f"{SVG}g")}
    assert boxes["container web1: read-write layer"] < boxes["COPY requirements.txt /app/"] < boxes[BASE[0].step]


def test_svg_sets_every_colour_inline_and_dark_text_on_light_fills():
    root = svg_root([WEB, V1])
    assert not list(root.iter(f"{SVG}style"))
    for text in root.iter(f"{SVG}text"):
        assert text.get("fill") in ("#1f2328", "#57606a")
    for rect in root.iter(f"{SVG}rect"):
        fill = rect.get("fill")
        assert fill and (fill == "#57606a" or int(fill[1:3], 16) > 0xD0)  # light boxes (the padlock is dark)
    assert int(root.get("width")) <= 2 * 340  # two columns of ~320px


# --- side by side ------------------------------------------------------------------------
def test_text_of_two_stacks_marks_the_shared_rows_and_says_what_is_reused():
    text = render.layers_text([V1, V2])
    lines = text.splitlines()
    assert lines[0].startswith("layered-app:v1 (") and "layered-app:v2 (" in lines[0]
    top, *shared_rows = lines[1:5]
    assert top.count("COPY ./app /app") == 2 and "=" not in top
    assert hex12("app1") in top and hex12("app2") in top
    for row, layer in zip(shared_rows, reversed(BASE)):
        assert row.count(f"|= {layer.step}") == 2 and row.count(layer.diff_id[7:19]) == 2
    assert lines[-1] == "layered-app:v2 reuses 3 of its 4 layers from layered-app:v1 and adds 1 of its own"
    assert "= shared with layered-app:v1" in lines[-2]


def test_svg_of_two_stacks_draws_shared_layers_muted_and_the_rest_in_a_colour_per_column():
    root = svg_root([V1, V2])
    shared = [g for g in root.iter(f"{SVG}g") if "shared · read-only" in svg_texts(g)]
    assert len(shared) == 6  # 3 shared layers, in both columns
    fills = {next(g.iter(f"{SVG}rect")).get("fill") for g in shared}
    assert len(fills) == 1
    own = [g for g in root.iter(f"{SVG}g") if "COPY ./app /app" in svg_texts(g)]
    own_fills = [next(g.iter(f"{SVG}rect")).get("fill") for g in own]
    assert len(own_fills) == 2 and len(set(own_fills)) == 2 and not fills & set(own_fills)
    assert "layered-app:v2 reuses 3 of its 4 layers" in root.get("aria-label")


def test_columns_of_different_heights_are_aligned_at_the_bottom():
    lines = render.layers_text([V1, OTHER]).splitlines()
    assert lines[-1] == "busybox shares no layers with layered-app:v1"
    assert "=" not in lines[-2]  # the legend has nothing shared to explain
    ground = lines[-3]
    assert ground.count("+-") == 2  # both columns end on the same row
    assert "base filesystem: COPY dir:9f8e7d6c" in lines[-4] and "base filesystem: COPY dir:0d1c5a7f" in lines[-4]
    assert "COPY ./app /app" in lines[1] and lines[1].rstrip().endswith("|")  # busybox's column is blank up there
    root = svg_root([V1, OTHER])
    ys = {next(g.iter(f"{SVG}text")).text: float(next(g.iter(f"{SVG}rect")).get("y")) for g in root.iter(f"{SVG}g")}
    assert ys[OTHER.layers[0].step] == ys[BASE[0].step]


def test_three_stacks_and_zero_shared():
    third = Stack("layered-app:v3", sid("v3"), BASE[:2] + (Layer(digest("other"), "RUN make"),))
    text = render.layers_text([V1, V2, OTHER, third])
    caption = text.splitlines()[-1]
    assert caption == (
        "layered-app:v2 reuses 3 of its 4 layers from layered-app:v1 and adds 1 of its own; "
        "busybox shares no layers with layered-app:v1; "
        "layered-app:v3 reuses 2 of its 3 layers from layered-app:v1 and adds 1 of its own"
    )
    first_column_base = [line for line in text.splitlines() if "dir:0d1c5a7f" in line][0]
    assert first_column_base.startswith("|= base filesystem")  # shared with v2 and v3
    root = svg_root([V1, V2, OTHER, third])
    busybox = [g for g in root.iter(f"{SVG}g") if OTHER.layers[0].step in svg_texts(g)][0]
    assert "read-only" in svg_texts(busybox) and "shared · read-only" not in svg_texts(busybox)
    assert len(root.findall(f"{SVG}g")) == 4 + 4 + 1 + 3


def test_text_is_escaped_in_the_svg_and_in_the_html():
    nasty = Stack("evil<img src=x>", sid("evil"), (Layer(digest("e"), 'RUN echo "<script>" & true'),))
    svg = render.layers_svg([nasty, V1])
    assert "<script>" not in svg and "<img" not in svg and "&lt;script&gt;" in svg
    assert 'RUN echo "<script>" & true' in svg_texts(ET.fromstring(svg))
    bundle = render.layers_bundle([nasty, V1])
    assert "<script>" not in bundle["text/html"] and "<img" not in bundle["text/html"]
    assert 'RUN echo "<script>" & true' in bundle["text/plain"]


def test_control_characters_do_not_break_the_xml():
    odd = Stack("odd", sid("odd"), (Layer(digest("o"), "RUN printf \x01\x1b[0m"),))
    ET.fromstring(render.layers_svg([odd]))


def test_output_is_deterministic_and_the_bundle_holds_svg_and_caption():
    first = render.layers_bundle([V1, V2])
    assert first == render.layers_bundle([V1, V2])
    assert set(first) == {"text/plain", "text/html"}
    html = first["text/html"]
    assert html.startswith("<div") and "<svg" in html and html.endswith("</div></div>")
    assert "layered-app:v2 reuses 3 of its 4 layers from layered-app:v1" in html
    ET.fromstring(html)  # the whole block is well-formed too


def test_long_steps_are_cut_and_empty_stacks_still_draw():
    long = Stack("long", sid("long"), (Layer(digest("l"), "RUN " + "x" * 56),))
    text = render.layers_text([long, V1])
    assert "RUN " + "x" * 35 + "…" in text and "x" * 37 not in text
    empty = Stack("scratch-thing", sid("s"), ())
    assert "(no layers)" in render.layers_text([empty])
    assert "(no layers)" in svg_texts(svg_root([empty]))
    assert render.layers_text([]) == "No images to draw."
    ET.fromstring(render.layers_svg([]))


# --- pairing layers with history steps (in-memory engine) ---------------------------------------
HEX_A, HEX_B = "a" * 64, "b" * 64
BUSYBOX_HISTORY = [
    {"CreatedBy": f"/bin/sh -c #(nop) COPY dir:{HEX_A} in / "},
    {"CreatedBy": '/bin/sh -c #(nop)  LABEL io.labkit.base="busybox"'},
    {"CreatedBy": '/bin/sh -c #(nop)  CMD ["sh"]'},
]
APP_HISTORY = BUSYBOX_HISTORY + [
    {"CreatedBy": "/bin/sh -c #(nop)  LABEL course=images"},
    {"CreatedBy": "/bin/sh -c echo hi   >  /hi.txt"},
    {"CreatedBy": "/bin/sh -c #(nop)  EXPOSE 8080"},
    {"CreatedBy": f"/bin/sh -c #(nop) COPY file:{HEX_B} in /app/ "},
    {"CreatedBy": '/bin/sh -c #(nop)  CMD ["cat" "/app/a.txt"]'},
]
BUSYBOX = image("busybox", ["b1"])
APP = image("app", ["b1", "hi", "app"])


def engine_with(**extra) -> FakeEngine:
    state = {
        "images": {"busybox:latest": BUSYBOX, "app:v1": APP},
        "history": {"busybox:latest": BUSYBOX_HISTORY, "app:v1": APP_HISTORY},
    }
    for key, value in extra.items():
        state[key] = {**state.get(key, {}), **value}
    return FakeEngine(**state)


def test_a_classic_builder_history_pairs_each_layer_with_its_step(tmp_path):
    got = stack(fake_context(engine_with(), tmp_path), "app:v1")
    assert got == Stack(
        "app:v1",
        APP["Id"],
        (
            Layer("b1", "base filesystem: COPY dir:aaaaaaaa in /"),
            Layer("hi", "RUN echo hi > /hi.txt"),
            Layer("app", "COPY file:bbbbbbbb in /app/"),
        ),
    )


def test_a_buildkit_history_pairs_too_and_long_steps_are_cut(tmp_path):
    history = [
        {"CreatedBy": "ADD rootfs.tar.xz / # buildkit"},
        {"CreatedBy": 'CMD ["bash"]'},
        {"CreatedBy": "ENV PATH=/usr/local/bin:/usr/bin"},
        {
            "CreatedBy": (
                "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends curl ca-certificates "
                "# buildkit"
            )
        },
        {"CreatedBy": "COPY ./app /app # buildkit"},
    ]
    engine = FakeEngine(images={"bk:1": image("bk", ["r", "c", "a"])}, history={"bk:1": history})
    steps = [layer.step for layer in stack(fake_context(engine, tmp_path), "bk:1").layers]
    assert steps[0] == "base filesystem: ADD rootfs.tar.xz /"
    assert (
        steps[1].startswith("RUN apt-get update && apt-get install") and len(steps[1]) == 60 and steps[1].endswith("…")
    )
    assert steps[2] == "COPY ./app /app"


def test_a_committed_image_has_a_commit_on_top_of_its_base(tmp_path):
    committed = image("mine", ["b1", "changes"])
    engine = engine_with(
        images={"my-custom-image:latest": committed},
        history={"my-custom-image:latest": BUSYBOX_HISTORY + [{"CreatedBy": "sh", "Comment": ""}]},
    )
    ctx = fake_context(engine, tmp_path)
    mine, base = stack(ctx, "my-custom-image"), stack(ctx, "busybox")
    assert [layer.step for layer in mine.layers] == ["base filesystem: COPY dir:aaaaaaaa in /", "docker commit (sh)"]
    assert shared_prefix(base, mine) == 1
    caption = render.layers_text([base, mine]).splitlines()[-1]
    assert caption == "my-custom-image reuses 1 of its 2 layers from busybox and adds 1 of its own"


def test_an_imported_image_and_a_commit_without_a_command(tmp_path):
    engine = FakeEngine(
        images={"imported:1": image("imp", ["i1", "i2"])},
        history={"imported:1": [{"CreatedBy": "", "Comment": "Imported from -"}, {"CreatedBy": ""}]},
    )
    steps = [layer.step for layer in stack(fake_context(engine, tmp_path), "imported:1").layers]
    assert steps == ["base filesystem (docker import)", "docker commit"]


@pytest.mark.parametrize("history", [APP_HISTORY[:5], APP_HISTORY + [{"CreatedBy": "/bin/sh -c true"}], []])
def test_a_count_mismatch_falls_back_to_positions(tmp_path, history):
    engine = FakeEngine(images={"app:v1": APP}, history={"app:v1": history})
    got = stack(fake_context(engine, tmp_path), "app:v1")
    assert [layer.step for layer in got.layers] == ["layer 1", "layer 2", "layer 3"]
    assert [layer.diff_id for layer in got.layers] == ["b1", "hi", "app"]


def test_a_container_of_the_image_adds_its_read_write_layer(tmp_path):
    engine = engine_with(
        containers={"web1": box("web1", APP["Id"], status="running")},
        diffs={"web1": [{"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/x", "Kind": 1}]},
    )
    got = stack(fake_context(engine, tmp_path), "app:v1", container="web1")
    assert (got.container, got.changes) == ("web1", 2)
    assert len(got.layers) == 3


def test_a_container_of_another_image_or_none_at_all_is_a_picture_error(tmp_path):
    engine = engine_with(containers={"bb": box("bb", BUSYBOX["Id"])})
    ctx = fake_context(engine, tmp_path)
    with pytest.raises(PictureError) as other:
        stack(ctx, "app:v1", container="bb")
    assert "made from another image" in other.value.message and "ancestor=app:v1" in other.value.next_step
    assert (other.value.ref, other.value.container) == ("app:v1", "bb")
    with pytest.raises(PictureError) as none:
        stack(ctx, "app:v1", container="nope")
    assert "no container nope" in none.value.message and "docker run -d --name nope app:v1" in none.value.next_step
    with pytest.raises(ImageMissing):
        stack(ctx, "missing:v1")


# --- lab.show_layers --------------------------------------------------------------------------
@pytest.fixture
def lab_on(tmp_path, monkeypatch):
    def make(engine: FakeEngine) -> _notebook.Lab:
        lab = _notebook.Lab()
        ctx = fake_context(engine, tmp_path)
        monkeypatch.setattr(lab, "_context", lambda: ctx)
        return lab

    return make


def test_show_layers_reads_the_engine_once_and_shows_text_and_html(lab_on):
    engine = engine_with(containers={"web1": box("web1", APP["Id"])}, diffs={"web1": [{"Path": "/x", "Kind": 1}]})
    lab = lab_on(engine)
    shown = lab.show_layers("app:v1", container="web1")
    assert isinstance(shown, _notebook.Shown) and engine.consistent_blocks == 1
    assert "container web1: read-write layer (1 changed path)" in shown.text and "<svg" in shown.html
    both = lab.show_layers("busybox", "app:v1")
    assert both.text.splitlines()[-1] == "app:v1 reuses 1 of its 3 layers from busybox and adds 2 of its own"
    assert shown._repr_mimebundle_() == {"text/plain": shown.text, "text/html": shown.html}


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        (("busybox", "app:v1"), {"container": "web1"}, "container= goes with exactly one image, not 2"),
        ((), {}, "Name the image(s) to draw"),
        ((None,), {}, "Name the image(s) to draw"),
        (("missing:v1",), {}, "There is no image missing:v1"),
        (("app:v1",), {"container": "nope"}, "There is no container nope"),
    ],
)
def test_show_layers_problems_are_one_line_not_tracebacks(lab_on, args, kwargs, words):
    shown = lab_on(engine_with()).show_layers(*args, **kwargs)
    assert shown.text.startswith("labkit: ") and words in shown.text
    assert "<svg" not in shown.html
