"""Results, hints and progress become text, HTML, a widget and mime bundles in `render` (no kernel)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import IPython
import pytest

from labkit.course import CheckResult, criteria
from labkit.ui import render

WIDGET = "application/vnd.jupyter.widget-view+json"


def _scored(result: CheckResult, hints_left: int = 0) -> CheckResult:
    return result.scored("layers.cache", "Build v2 from the cache", 3, hints_left=hints_left)


@pytest.fixture
def passed() -> CheckResult:
    return _scored(CheckResult.ok("Every step came from the cache."))


@pytest.fixture
def failed() -> CheckResult:
    result = CheckResult.fail(
        "The rebuild used no cache.\nCopy requirements first.", observed="0 cached steps", expected="3 cached steps"
    )
    return _scored(result, hints_left=2)


@pytest.fixture
def error() -> CheckResult:
    return _scored(CheckResult.error("The Docker engine is not reachable: run `labkit up`."))


@pytest.fixture
def partial() -> CheckResult:
    result = criteria(
        [
            ("tagged v1", 1.0, lambda: CheckResult.ok("yes")),
            ("tagged v2", 2.0, lambda: CheckResult.fail("no tag v2")),
        ]
    )
    return _scored(result)


def _lines(result: CheckResult) -> list[str]:
    return render.result_text(result).splitlines()


# ---------------------------------------------------------------- text


def test_text_passed(passed):
    assert _lines(passed) == [
        "✓ PASSED  layers.cache — Build v2 from the cache  (3/3 points)",
        "  Every step came from the cache.",
    ]


def test_text_failed_keeps_lines_and_offers_a_hint(failed):
    assert _lines(failed) == [
        "✗ NOT YET  layers.cache — Build v2 from the cache  (0/3 points)",
        "  The rebuild used no cache.",
        "  Copy requirements first.",
        "  seen:     0 cached steps",
        "  expected: 3 cached steps",
        '  Stuck? lab.hint("layers.cache") shows a hint (2 left).',
    ]


def test_text_failed_without_hints_left_offers_none(failed):
    assert "Stuck?" not in render.result_text(replace(failed, hints_left=0))


def test_text_error_has_no_points_and_no_hint(error):
    lines = _lines(replace(error, hints_left=2))
    assert lines[0] == "! LAB PROBLEM  layers.cache — Build v2 from the cache"
    assert "points" not in lines[0]
    assert lines[1] == "  The Docker engine is not reachable: run `labkit up`."
    assert not any("Stuck?" in line for line in lines)


def test_text_partial_credit_lists_criteria(partial):
    lines = _lines(partial)
    assert lines[0].endswith("(1/3 points)")
    assert "  ✓ tagged v1  (+1 point)" in lines
    assert "  ✗ tagged v2  (no points)" in lines


def test_text_is_the_same_every_time(failed):
    assert render.result_text(failed) == render.result_text(failed)


def test_unknown_status_looks_failed(failed):
    odd = replace(failed, status="weird")
    assert _lines(odd)[0].startswith("✗ NOT YET")
    assert "NOT YET" in render.result_html(odd)


def test_unscored_result_has_no_points_line():
    assert render.result_text(CheckResult.ok("fine")) == "✓ PASSED\n  fine"


# ---------------------------------------------------------------- HTML


def test_html_passed(passed):
    page = render.result_html(passed)
    assert "PASSED" in page and "layers.cache — Build v2 from the cache" in page and "3/3 points" in page
    assert "<link" not in page and "<style" not in page  # inline styles only


def test_html_failed(failed):
    page = render.result_html(failed)
    assert "NOT YET" in page and "0/3 points" in page
    assert "The rebuild used no cache.<br>Copy requirements first." in page
    assert "seen" in page and "0 cached steps" in page and "expected" in page and "3 cached steps" in page
    assert "lab.hint(&quot;layers.cache&quot;)" in page and "2 left" in page


def test_html_error(error):
    page = render.result_html(error)
    assert "LAB PROBLEM" in page and "points" not in page


def test_html_partial_credit(partial):
    page = render.result_html(partial)
    assert "<li>✓ tagged v1" in page and "<li>✗ tagged v2" in page


def test_html_escapes_everything(failed):
    nasty = replace(
        failed,
        feedback="<script>alert(1)</script>",
        observed="<b>",
        title="a & b",
        details=(("<i>crit</i>", False, 0.0),),
    )
    page = render.result_html(nasty)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;" in page and "a &amp; b" in page and "&lt;i&gt;crit&lt;/i&gt;" in page


def test_a_result_shown_in_a_notebook_goes_through_render(failed):
    """A CheckResult is data (its str one line); the notebook API's result is shown through render."""
    from labkit.ui._notebook import ShownResult

    assert str(failed) == "failed: The rebuild used no cache.\nCopy requirements first."
    shown = ShownResult(**{f: getattr(failed, f) for f in failed.__dataclass_fields__})
    assert str(shown) == render.result_text(failed)
    assert shown._repr_mimebundle_()["text/plain"] == render.result_text(failed)


# ---------------------------------------------------------------- widget and bundle


def test_widget_shows_hints_then_disables_the_button(failed):
    hints = iter([(2, 3, "first"), (3, 3, "<second>"), (3, 3, None)])  # hint 1 was shown before, by lab.hint
    widget = render.result_widget(failed, lambda: next(hints))
    assert widget.hint_button.description == "Show next hint"
    assert widget.hint_area.value == ""
    assert render.result_html(failed) in [child.value for child in widget.children if hasattr(child, "value")]

    head = widget.children[0]
    assert "(2 left)" in head.value
    widget.hint_button.click()
    assert "Hint 2 of 3:" in widget.hint_area.value and "first" in widget.hint_area.value
    assert "(1 left)" in head.value  # the "Stuck?" line follows the hints shown
    widget.hint_button.click()
    assert "Hint 3 of 3:" in widget.hint_area.value and "&lt;second&gt;" in widget.hint_area.value
    assert "Stuck?" not in head.value and "The rebuild used no cache." in head.value
    assert not widget.hint_button.disabled
    widget.hint_button.click()
    value = widget.hint_area.value
    assert "No more hints for this exercise." in value
    assert value.index("first") < value.index("second") < value.index("No more hints")
    assert widget.hint_button.disabled


def test_widget_of_passed_result_has_no_button(passed):
    widget = render.result_widget(passed, lambda: (1, 1, "never"))
    assert widget.hint_button is None and widget.hint_area is None
    assert len(widget.children) == 1


def test_bundle_outside_a_kernel_is_text_and_html(failed, monkeypatch):
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    made = []
    monkeypatch.setattr(render, "result_widget", lambda *a: made.append(a))
    bundle = render.result_bundle(failed, lambda: None)
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == render.result_text(failed)
    assert bundle["text/html"] == render.result_html(failed)
    assert made == []


def test_bundle_without_kernel_attribute_has_no_widget(failed, monkeypatch):
    monkeypatch.setattr(IPython, "get_ipython", lambda: SimpleNamespace())  # a terminal IPython
    assert set(render.result_bundle(failed, lambda: None)) == {"text/plain", "text/html"}


def test_bundle_inside_a_kernel_adds_the_widget_view(failed, monkeypatch):
    monkeypatch.setattr(IPython, "get_ipython", lambda: SimpleNamespace(kernel=object()))
    made = []
    real = render.result_widget

    def spy(*args):
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(render, "result_widget", spy)
    bundle = render.result_bundle(failed, lambda: None)
    assert set(bundle) == {"text/plain", "text/html", WIDGET}
    assert len(made) == 1
    assert bundle[WIDGET] == {"model_id": made[0].model_id, "version_major": 2, "version_minor": 0}
    assert bundle["text/plain"] == render.result_text(failed)


# ---------------------------------------------------------------- hints


def test_hint_text_and_html():
    assert render.hint_text("layers.cache", 2, 3, "Order matters.") == "Hint 2 of 3 for layers.cache: Order matters."
    assert render.hint_text("layers.cache", 4, 3, None) == "No more hints for layers.cache (you have seen all 3)."
    page = render.hint_html("layers.cache", 2, 3, "Use <COPY> first")
    assert "Hint 2 of 3 for layers.cache:" in page and "Use &lt;COPY&gt; first" in page and "<COPY>" not in page
    assert "No more hints for layers.cache (you have seen all 3)." in render.hint_html("layers.cache", 4, 3, None)


# ---------------------------------------------------------------- progress


ROWS = [
    SimpleNamespace(lesson="layers", title="Image layers", done=5, total=5, points=12.0, possible=12.0),
    SimpleNamespace(lesson="tags", title="Tags & digests", done=2, total=4, points=3.5, possible=8.0),
]


def test_progress_text():
    lines = render.progress_text(ROWS).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("layers") and "Image layers" in lines[0]
    assert "[" + "#" * 20 + "]  5/5 exercises  12/12 points" in lines[0]
    assert "[" + "#" * 10 + "-" * 10 + "]  2/4 exercises  3.5/8 points" in lines[1]
    assert lines[2].startswith("Total") and "7/9 exercises  15.5/20 points" in lines[2]
    assert len({line.index("[") for line in lines}) == 1  # bars line up


def test_progress_text_of_nothing():
    assert "0/0 exercises" in render.progress_text([])


def test_progress_html():
    page = render.progress_html(ROWS)
    assert "width:100%" in page and "width:50%" in page
    assert "5/5 exercises" in page and "2/4 exercises" in page and "7/9 exercises" in page
    assert "Tags &amp; digests" in page and "Total" in page


def test_progress_bundle():
    bundle = render.progress_bundle(ROWS)
    assert bundle == {"text/plain": render.progress_text(ROWS), "text/html": render.progress_html(ROWS)}


# ---------------------------------------------------------------- no such exercise


def test_no_such_exercise_names_the_close_matches():
    assert render.unknown_exercise_text("layers.cahce", ["layers.cache"]) == (
        "No such exercise `layers.cahce`: did you mean `layers.cache`?"
    )
    assert render.unknown_exercise_text("layers.x", ["layers.build", "layers.cache", "layers.order"]) == (
        "No such exercise `layers.x`: did you mean `layers.build`, `layers.cache` or `layers.order`?"
    )
    alone = render.unknown_exercise_text(42, [])
    assert alone.startswith("No such exercise `42`: ") and "check cell" in alone and "labkit progress" in alone


def test_no_such_exercise_is_plain_text_and_html_not_a_lab_problem():
    bundle = render.unknown_exercise_bundle("<b>x", ["layers.cache"])
    assert bundle["text/plain"] == render.unknown_exercise_text("<b>x", ["layers.cache"])
    assert "&lt;b&gt;x" in bundle["text/html"] and "<b>x" not in bundle["text/html"]
    assert "<code" in bundle["text/html"] and "layers.cache" in bundle["text/html"]
    assert "LAB PROBLEM" not in bundle["text/html"] and not bundle["text/plain"].startswith("labkit:")
