"""The one place output is made: check results, hints and progress as text, HTML and widgets.

Text is for the terminal, nbval and CI; HTML for notebooks (inline styles only, colours
that read on light and dark JupyterLab themes); the widget adds a "Show next hint"
button. `result_bundle` puts text, HTML and (inside a kernel only) the widget into one
Jupyter mime bundle, so exported notebooks keep readable text instead of a widget repr.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from ..course import ERROR, PASSED, CheckResult, LessonProgress

if TYPE_CHECKING:
    import ipywidgets

NextHint = Callable[[], "tuple[int, int, str | None]"]  # (number, total, text); text None: none left
BAR_WIDTH = 20
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
NO_MORE_HINTS = "No more hints for this exercise."


@dataclass(frozen=True)
class _Look:
    symbol: str
    label: str
    colour: str  # badge background; the badge text is white, so it reads on any theme


_LOOKS = {
    PASSED: _Look("✓", "PASSED", "#1a7f37"),
    ERROR: _Look("!", "LAB PROBLEM", "#8250df"),
}
_FAILED_LOOK = _Look("✗", "NOT YET", "#c2410c")  # also the look of a status we do not know


def _look(r: CheckResult) -> _Look:
    return _LOOKS.get(r.status, _FAILED_LOOK)


def _num(value: float) -> str:
    return f"{value:g}"


def _points(r: CheckResult) -> str:
    """ "3/3 points", or "" when the result is a lab problem or carries no points."""
    if r.status == ERROR or (not r.possible and not r.points):
        return ""
    return f"{_num(r.points)}/{_num(r.possible)} points"


def _heading(r: CheckResult) -> str:
    """'layers.cache — Build v2 from the cache', or whichever part is known."""
    return " — ".join(part for part in (r.exercise, r.title) if part)


def _hint_offer(r: CheckResult) -> str:
    """The 'Stuck?' line for a failed result that has hints left, else ""."""
    if r.status in (PASSED, ERROR) or r.hints_left <= 0:
        return ""
    return f'Stuck? lab.hint("{r.exercise}") shows a hint ({r.hints_left} left).'


def _criterion_points(met: bool, points: float) -> str:
    if not met:
        return "no points"
    return f"+{_num(points)} point" + ("" if points == 1 else "s")


# ---------------------------------------------------------------- results as text


def _indent(text: str, first: str, rest: str) -> list[str]:
    lines = text.splitlines() or [""]
    return [first + lines[0]] + [rest + line for line in lines[1:]]


def result_text(r: CheckResult) -> str:
    """The result as plain text: a status line, then feedback, seen/expected, criteria, hint offer."""
    look = _look(r)
    head = "  ".join(part for part in (f"{look.symbol} {look.label}", _heading(r)) if part)
    points = _points(r)
    lines = [f"{head}  ({points})" if points else head]
    if r.feedback:
        lines += _indent(r.feedback, "  ", "  ")
    for label, value in (("seen:     ", r.observed), ("expected: ", r.expected)):
        if value:
            lines += _indent(value, "  " + label, "  " + " " * len(label))
    for criterion, met, earned in r.details:
        lines.append(f"  {'✓' if met else '✗'} {criterion}  ({_criterion_points(met, earned)})")
    if offer := _hint_offer(r):
        lines.append("  " + offer)
    return "\n".join(lines)


# ---------------------------------------------------------------- results as HTML

_MUTED = "opacity:0.8"
_CODE = "background:rgba(127,127,127,0.18);padding:0 3px;border-radius:3px"


def _esc(text: str) -> str:
    """Escaped, with line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


def _badge(look: _Look) -> str:
    style = (
        f"background:{look.colour};color:#fff;font-weight:600;font-size:0.85em;"
        "padding:1px 8px;border-radius:10px;letter-spacing:0.03em"
    )
    return f'<span style="{style}">{look.symbol} {look.label}</span>'


def _html_head(r: CheckResult, look: _Look) -> str:
    parts = [_badge(look)]
    if heading := _heading(r):
        parts.append(f"<strong>{html.escape(heading)}</strong>")
    if points := _points(r):
        parts.append(f'<span style="{_MUTED}">({points})</span>')
    return f'<div style="display:flex;gap:0.6em;align-items:center;flex-wrap:wrap">{" ".join(parts)}</div>'


def _html_seen_expected(r: CheckResult) -> str:
    rows = [
        f'<tr><td style="{_MUTED};padding:0 0.8em 0 0;vertical-align:top;text-align:left">{label}</td>'
        f'<td style="text-align:left"><code style="{_CODE}">{_esc(value)}</code></td></tr>'
        for label, value in (("seen", r.observed), ("expected", r.expected))
        if value
    ]
    return f'<table style="margin:0.4em 0 0 0;border:none">{"".join(rows)}</table>' if rows else ""


def _html_criteria(r: CheckResult) -> str:
    items = [
        f"<li>{'✓' if met else '✗'} {html.escape(criterion)} "
        f'<span style="{_MUTED}">({_criterion_points(met, earned)})</span></li>'
        for criterion, met, earned in r.details
    ]
    return f'<ul style="margin:0.4em 0 0 0;padding-left:1.2em;list-style:none">{"".join(items)}</ul>' if items else ""


def result_html(r: CheckResult) -> str:
    """The same information as `result_text`, as self-contained HTML."""
    look = _look(r)
    body = [_html_head(r, look)]
    if r.feedback:
        body.append(f'<div style="margin-top:0.4em">{_esc(r.feedback)}</div>')
    body += [_html_seen_expected(r), _html_criteria(r)]
    if offer := _hint_offer(r):
        body.append(f'<div style="margin-top:0.4em;{_MUTED}">{html.escape(offer)}</div>')
    style = f"border-left:4px solid {look.colour};padding:0.4em 0.8em;margin:0.2em 0;color:inherit"
    return f'<div class="labkit-result" style="{style}">{"".join(body)}</div>'


# ---------------------------------------------------------------- results as a widget


def _hint_button(
    r: CheckResult, head: "ipywidgets.HTML", area: "ipywidgets.HTML", next_hint: NextHint
) -> "ipywidgets.Button":
    import ipywidgets

    button = ipywidgets.Button(description="Show next hint", icon="lightbulb-o")
    shown: list[str] = []

    def on_click(_button) -> None:
        number, total, text = next_hint()
        if text is None:
            shown.append(f"<div>{html.escape(NO_MORE_HINTS)}</div>")
            button.disabled = True
        else:
            shown.append(f"<div><strong>Hint {number} of {total}:</strong> {_esc(text)}</div>")
        head.value = result_html(replace(r, hints_left=max(0, total - number) if text else 0))  # "Stuck? … (N left)"
        area.value = "".join(shown)

    button.on_click(on_click)
    return button


def result_widget(r: CheckResult, next_hint: NextHint) -> "ipywidgets.VBox":
    """The result's HTML and, when it did not pass, a "Show next hint" button with an area below.

    The button and the area are the attributes `hint_button` and `hint_area` (None when passed).
    """
    import ipywidgets

    children: list = [ipywidgets.HTML(result_html(r))]
    button = area = None
    if not r.passed:
        area = ipywidgets.HTML("")
        button = _hint_button(r, children[0], area, next_hint)
        children += [button, area]
    box = ipywidgets.VBox(children)
    box.hint_button, box.hint_area = button, area
    return box


def _in_kernel() -> bool:
    """True inside an IPython kernel that can talk to widgets (not in a plain shell or pytest)."""
    try:
        import IPython
    except ImportError:
        return False
    shell = IPython.get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def result_bundle(r: CheckResult, next_hint: NextHint) -> dict:
    """A mime bundle: text and HTML always, the widget view only inside a kernel."""
    bundle = {"text/plain": result_text(r), "text/html": result_html(r)}
    if _in_kernel():
        bundle[WIDGET_MIME] = widget_view(result_widget(r, next_hint))
    return bundle


def widget_view(widget: "ipywidgets.Widget") -> dict:
    """The mime bundle's entry that shows `widget` (JupyterLab's widget manager renders it)."""
    return {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}


# ---------------------------------------------------------------- hints


def hint_text(exercise: str, number: int, total: int, text: str | None) -> str:
    """'Hint 2 of 3 for layers.cache: …', or the no-more-hints line when `text` is None."""
    if text is None:
        return f"No more hints for {exercise} (you have seen all {total})."
    return f"Hint {number} of {total} for {exercise}: {text}"


def hint_html(exercise: str, number: int, total: int, text: str | None) -> str:
    style = "border-left:4px solid #9a6700;padding:0.4em 0.8em;margin:0.2em 0;color:inherit"
    if text is None:
        return f'<div style="{style}">{html.escape(hint_text(exercise, number, total, None))}</div>'
    head = html.escape(f"Hint {number} of {total} for {exercise}:")
    return f'<div style="{style}"><strong>{head}</strong> {_esc(text)}</div>'


# ---------------------------------------------------------------- no such exercise
# The learner's typo in `lab.check("…")` or `labkit check …`: plain words and the close matches,
# not a lab problem and not "not yet" (nothing was checked).


def _no_such_exercise(exercise: object, matches: Sequence[str], code: Callable[[object], str]) -> str:
    """The one wording, with ids put in `code` (backquotes for text, <code> for HTML)."""
    if not matches:
        return (
            f"No such exercise {code(exercise)}: use the id in the exercise's check cell "
            f"({code('labkit progress')} lists them all)."
        )
    names = [code(m) for m in matches]
    either = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"No such exercise {code(exercise)}: did you mean {either}?"


def unknown_exercise_text(exercise: object, matches: Sequence[str]) -> str:
    """'No such exercise `layers.cahce`: did you mean `layers.cache`?'"""
    return _no_such_exercise(exercise, matches, lambda text: f"`{text}`")


def unknown_exercise_html(exercise: object, matches: Sequence[str]) -> str:
    body = _no_such_exercise(exercise, matches, lambda text: f'<code style="{_CODE}">{html.escape(str(text))}</code>')
    return f'<div class="labkit-no-such-exercise" style="margin:0.2em 0;color:inherit">{body}</div>'


def unknown_exercise_bundle(exercise: object, matches: Sequence[str]) -> dict:
    return {
        "text/plain": unknown_exercise_text(exercise, matches),
        "text/html": unknown_exercise_html(exercise, matches),
    }


# ---------------------------------------------------------------- progress


class ProgressRow(Protocol):
    lesson: str
    title: str
    done: int
    total: int
    points: float
    possible: float


def _total(rows: Sequence[ProgressRow]) -> ProgressRow:
    return LessonProgress(
        "Total",
        "",
        sum(r.done for r in rows),
        sum(r.total for r in rows),
        sum(r.points for r in rows),
        sum(r.possible for r in rows),
    )


def _counts(row: ProgressRow) -> str:
    return f"{row.done}/{row.total} exercises  {_num(row.points)}/{_num(row.possible)} points"


def _bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // total if total > 0 else 0
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"


def _percent(done: int, total: int) -> str:
    return f"{round(100 * done / total, 1):g}%" if total > 0 else "0%"


def progress_text(rows: Sequence[ProgressRow]) -> str:
    """One line per lesson with a bar of exercises done, then a total line."""
    rows = list(rows)
    everything = rows + [_total(rows)]
    lesson_width = max(len(row.lesson) for row in everything)
    title_width = max(len(row.title) for row in everything)
    return "\n".join(
        f"{row.lesson:<{lesson_width}}  {row.title:<{title_width}}  {_bar(row.done, row.total)}  {_counts(row)}"
        for row in everything
    )


def _html_bar(row: ProgressRow, colour: str) -> str:
    outer = "background:rgba(127,127,127,0.25);border-radius:4px;height:0.8em;width:12em;overflow:hidden"
    inner = f"background:{colour};height:100%;width:{_percent(row.done, row.total)}"
    return f'<div style="{outer}"><div style="{inner}"></div></div>'


def _html_progress_row(row: ProgressRow, bold: bool = False) -> str:
    colour = _LOOKS[PASSED].colour if row.total and row.done >= row.total else "#0969da"
    name = html.escape(" ".join(p for p in (row.lesson, row.title) if p))
    name = f"<strong>{name}</strong>" if bold else name
    cell = "padding:0.15em 0.8em 0.15em 0;text-align:left;vertical-align:middle;border:none"
    return (
        f'<tr><td style="{cell}">{name}</td><td style="{cell}">{_html_bar(row, colour)}</td>'
        f'<td style="{cell}">{html.escape(_counts(row))}</td></tr>'
    )


def progress_html(rows: Sequence[ProgressRow]) -> str:
    """A bar per lesson (exercises done, as a percent width) and the totals."""
    rows = list(rows)
    body = [_html_progress_row(row) for row in rows] + [_html_progress_row(_total(rows), bold=True)]
    return f'<table class="labkit-progress" style="border:none;color:inherit">{"".join(body)}</table>'


def progress_bundle(rows: Sequence[ProgressRow]) -> dict:
    rows = list(rows)
    return {"text/plain": progress_text(rows), "text/html": progress_html(rows)}


# ---------------------------------------------------------------- the lesson tracker


class TrackedRow(Protocol):
    """One exercise as the lesson tracker holds it (course.live.Tracked)."""

    @property
    def exercise(self): ...
    @property
    def result(self) -> CheckResult | None: ...
    @property
    def passed_earlier(self) -> bool: ...


_WAITING = _Look("○", "NOT YET", "#6e7781")
_EARLIER = _Look("✓", "PASSED EARLIER", "#57606a")
_IN_WORDS = _Look("✎", "ANSWER IN ITS CELL", "#6e7781")


def _tracked_look(row: TrackedRow) -> _Look:
    if row.passed_earlier:
        return _EARLIER
    if row.result is None:
        return _IN_WORDS if not row.exercise.wakes else _WAITING
    return _LOOKS[PASSED] if row.result.passed else _LOOKS.get(row.result.status, _WAITING)


def _tracked_note(row: TrackedRow) -> str:
    """A line under an exercise: what its check says now where that is not a pass."""
    if row.result is None:
        return "" if row.exercise.wakes else "Answered in words: run its check cell."
    if row.result.passed:
        return ""
    now = row.result.feedback.splitlines()[0] if row.result.feedback else ""
    return f"Passed earlier; now: {now}" if row.passed_earlier else now


def _done(rows: Sequence[TrackedRow]) -> int:
    """How many of the rows pass now."""
    return sum(1 for row in rows if row.result is not None and row.result.passed)


def tracker_text(lesson: str, rows: Sequence[TrackedRow]) -> str:
    """'Lesson layers: 2 of 3 done' and a line per exercise, its look and what its check says now."""
    rows = list(rows)
    lines = [f"Lesson {lesson}: {_done(rows)} of {len(rows)} done (checked as you work)"]
    for row in rows:
        look = _tracked_look(row)
        lines.append(f"  {look.symbol} {row.exercise.id:<24} {look.label}")
        if note := _tracked_note(row):
            lines.append(f"      {note}")
    return "\n".join(lines)


def tracker_html(lesson: str, rows: Sequence[TrackedRow]) -> str:
    """The tracker as a table: a badge per exercise, its title, and (unfolding) the same feedback
    its check cell would show now."""
    rows = list(rows)
    body = []
    for row in rows:
        look = _tracked_look(row)
        title = html.escape(f"{row.exercise.id} — {row.exercise.title}")
        note = _tracked_note(row)
        detail = (
            f'<details><summary style="{_MUTED}">{html.escape(note) or "what the check says"}</summary>'
            f"{result_html(row.result)}</details>"
            if row.result is not None
            else f'<div style="{_MUTED}">{html.escape(note)}</div>'
        )
        body.append(
            f'<tr data-exercise="{html.escape(row.exercise.id)}" data-state="{look.label.lower()}">'
            f'<td style="vertical-align:top;white-space:nowrap">{_badge(look)}</td>'
            f"<td>{title}{detail}</td></tr>"
        )
    head = (
        f"<strong>Lesson {html.escape(lesson)}: {_done(rows)} of {len(rows)} done</strong>"
        f' <span style="{_MUTED}">(checked as you work)</span>'
    )
    return (
        f'<div class="labkit-tracker" style="color:inherit">{head}'
        f'<table style="border:none;color:inherit">{"".join(body)}</table></div>'
    )


#: Where the lab's JupyterLab answers a tracker's asks (labkit.ui.tracking), under its base URL.
TRACKER_PATH = "labkit/track/"
_LIVE_NOTE = (
    "Run this cell, or open this notebook in the lab's JupyterLab (<code>labkit lab</code>), "
    "to see these tick themselves off as you work."
)
#: The tracker's script: asks the lab's server for each change of the lesson's exercises (the answer
#: waits for one) and redraws the table with it. It pauses while the cell is out of the page, stops
#: when the server has no tracker (404: another Jupyter), and asks again later when the lab is down.
_LIVE_SCRIPT = """(function () {
  var box = document.currentScript && document.currentScript.previousElementSibling;
  if (!box || box.getAttribute("data-live")) return;
  box.setAttribute("data-live", "asking");
  var config = document.getElementById("jupyter-config-data");
  var base = config ? JSON.parse(config.textContent).baseUrl || "/" : "/";
  var url = base.replace(/\\/?$/, "/") + "%(path)s" + encodeURIComponent(box.getAttribute("data-lesson"));
  var version = -1, pause = 1000, away = 0;
  function later(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }
  async function follow() {
    while (away < 600) {
      if (!box.isConnected) { away += 2; await later(2000); continue; }
      away = 0;
      try {
        var answer = await fetch(url + "?since=" + version, {credentials: "same-origin", cache: "no-store"});
        if (answer.status === 404) { box.setAttribute("data-live", "no tracker here"); return; }
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        var state = await answer.json();
        if (state.version !== version) { version = state.version; box.innerHTML = state.html; }
        box.setAttribute("data-live", "live");
        pause = 1000;
        if (state.retry) await later(state.retry * 1000);
      } catch (e) {
        box.setAttribute("data-live", "asking again");
        await later(pause);
        pause = Math.min(pause * 2, 10000);
      }
    }
  }
  follow();
})();"""


def tracker_live_bundle(lesson: str, rows: Sequence[TrackedRow]) -> dict:
    """The tracker as the lab's JupyterLab keeps it current with no kernel: its table now and a script
    that redraws it from the lab's server (labkit.ui.tracking) as the exercises change. Where no script
    runs (an untrusted notebook, another frontend, an export) the table stays as shown, with a line
    saying how to make it live. Every lesson notebook carries this bundle, made with no results, as
    its tracker cell's stored output."""
    script = _LIVE_SCRIPT % {"path": TRACKER_PATH}
    body = (
        f'<div class="labkit-live" data-lesson="{html.escape(lesson)}">{tracker_html(lesson, rows)}'
        f'<div style="{_MUTED}">{_LIVE_NOTE}</div></div><script>{script}</script>'
    )
    return {"text/plain": tracker_text(lesson, rows), "text/html": body}


def problem_bundle(message: str) -> dict:
    """A lab problem (not up, unknown exercise, …) as one short block: text and HTML."""
    text = f"labkit: {message}"
    return {"text/plain": text, "text/html": f"<pre style='color:#b42318;white-space:pre-wrap'>{_esc(text)}</pre>"}


# ---------------------------------------------------------------- image layers
# `lab.show_layers`: images as stacks of read-only layers (bottom = base), a container's
# read-write layer on top, and several images side by side with their shared layers marked.

from ._pictures import Stack, shared_prefix  # noqa: E402  (kept with the pictures it draws)

_TEXT_STEP_ONE, _TEXT_STEP_MANY = 60, 40  # characters of a step in a text cell: alone, side by side
_SVG_STEP_WIDTH = 42  # characters of a step in an SVG box (11px monospace in 284px)
_PAD, _BOX_W, _GAP, _BOX_H, _ROW_H, _HEAD_H, _FOOT_H = 12, 300, 20, 38, 44, 40, 24
_INK, _INK_SOFT = "#1f2328", "#57606a"  # dark text: every text sits on a light fill
_CANVAS = ("#f6f8fa", "#d0d7de")
_SHARED = ("#e5e7eb", "#8c959f")  # (fill, stroke): muted, the same in every column
_OWN = (
    ("#dbeafe", "#0969da"),
    ("#ffedd5", "#bc4c00"),
    ("#dcfce7", "#1a7f37"),
    ("#ede9fe", "#8250df"),
    ("#fce7f3", "#bf3989"),
)
_WRITABLE = ("#fff8c5", "#9a6700")
_MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
_SANS = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"


def _hex12(diff_id: str) -> str:
    return diff_id.removeprefix("sha256:")[:12]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _shared_rows(stacks: Sequence[Stack]) -> list[int]:
    """Per column, how many layers from the bottom are shared with the first column (first: with any)."""
    if len(stacks) < 2:
        return [0] * len(stacks)
    rest = [shared_prefix(stacks[0], s) for s in stacks[1:]]
    return [max(rest)] + rest


def _writable_line(s: Stack) -> str:
    return f"container {s.container}: read-write layer ({_plural(s.changes, 'changed path')})"


def layers_caption(stacks: Sequence[Stack]) -> str:
    """One line: what the picture shows (layers, the container on top, the layers reused)."""
    if not stacks:
        return "No images to draw."
    first = stacks[0]
    if len(stacks) == 1:
        line = f"{first.ref}: {_plural(len(first.layers), 'read-only layer')}, base at the bottom"
        if first.container:
            line += (
                f"; container {first.container} adds its own read-write layer on top "
                f"({_plural(first.changes, 'changed path')})"
            )
        return line
    parts = []
    for s in stacks[1:]:
        shared, total = shared_prefix(first, s), len(s.layers)
        if shared == 0:
            parts.append(f"{s.ref} shares no layers with {first.ref}")
            continue
        part = f"{s.ref} reuses {shared} of its {_plural(total, 'layer')} from {first.ref}"
        parts.append(part + (f" and adds {total - shared} of its own" if total > shared else ""))
    return "; ".join(parts)


# --- as text


def _text_column(s: Stack, shared: int, width: int) -> list[str]:
    """One column, top row first: the container's line, the layers, the ground; all one width."""
    cells = [
        f"{'=' if j < shared else ' '} {_cut(layer.step, width):<{width}}  {_hex12(layer.diff_id):<12}"
        for j, layer in enumerate(s.layers)
    ]
    if not cells:
        cells = [" (no layers)"]
    inner = max(len(cell) for cell in cells) + 1
    top = []
    if s.container:
        writable = f" {_writable_line(s)}"
        inner = max(inner, len(writable) + 1)
        top = [f":{writable:<{inner}}:"]
    rows = top + [f"|{cell:<{inner}}|" for cell in reversed(cells)]
    return rows + ["+" + "-" * inner + "+"]


def layers_text(stacks: Sequence[Stack]) -> str:
    """The stacks as columns of text rows (top row first), aligned at the bottom, then a legend and the caption."""
    stacks = list(stacks)
    if not stacks:
        return layers_caption(stacks)
    longest = max((len(layer.step) for s in stacks for layer in s.layers), default=0)
    step_width = min(longest, _TEXT_STEP_ONE if len(stacks) == 1 else _TEXT_STEP_MANY)  # the same in every column
    shared_rows = _shared_rows(stacks)
    columns = [_text_column(s, shared, step_width) for s, shared in zip(stacks, shared_rows)]
    heads = [_cut(f"{s.ref} ({_hex12(s.image_id)})", len(col[0])) for s, col in zip(stacks, columns)]
    height = max(len(col) for col in columns)
    padded = [[" " * len(col[0])] * (height - len(col)) + col for col in columns]
    lines = ["   ".join(f"{head:<{len(col[0])}}" for head, col in zip(heads, columns)).rstrip()]
    lines += ["   ".join(row).rstrip() for row in zip(*padded)]
    legend = "| image layer: read-only, base at the bottom"
    if any(s.container for s in stacks):
        legend += "   : the container's own read-write layer"
    if any(shared_rows):
        legend += f"   = shared with {stacks[0].ref}: one layer, stored once"
    return "\n".join(lines + [legend, layers_caption(stacks)])


# --- as SVG


def _svg_text(text: str) -> str:
    """Escaped for XML, control characters (not allowed in XML) dropped."""
    return html.escape("".join(ch for ch in text if ch >= " " or ch == "\t"))


def _lock(x: int, y: int, colour: str) -> str:
    """A small padlock whose body's top-left corner is at (x, y)."""
    return (
        f'<rect x="{x}" y="{y}" width="8" height="6" rx="1" fill="{colour}"/>'
        f'<path d="M {x + 1.5} {y} V {y - 2} A 2.5 2.5 0 0 1 {x + 6.5} {y - 2} V {y}" '
        f'fill="none" stroke="{colour}" stroke-width="1.3"/>'
    )


def _svg_box(
    x: int,
    y: int,
    colours: tuple[str, str],
    lines: tuple[str, str],
    note: str,
    tooltip: str,
    dashed: bool = False,
    lock: bool = True,
) -> str:
    fill, stroke = colours
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    parts = [
        f"<g><title>{_svg_text(tooltip)}</title>",
        f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="4" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="1.5"{dash}/>',
        f'<text x="{x + 8}" y="{y + 15}" font-family="{_MONO}" font-size="11" fill="{_INK}">'
        f"{_svg_text(lines[0])}</text>",
        f'<text x="{x + 8}" y="{y + 30}" font-family="{_MONO}" font-size="10" fill="{_INK_SOFT}">'
        f"{_svg_text(lines[1])}</text>",
        f'<text x="{x + _BOX_W - (22 if lock else 8)}" y="{y + 30}" text-anchor="end" font-family="{_SANS}" '
        f'font-size="10" fill="{_INK_SOFT}">{_svg_text(note)}</text>',
    ]
    if lock:
        parts.append(_lock(x + _BOX_W - 16, y + 23, _INK_SOFT))
    return "".join(parts) + "</g>"


def _svg_column(s: Stack, index: int, shared: int, rows: int) -> str:
    x = _PAD + index * (_BOX_W + _GAP)
    bottom = _PAD + _HEAD_H + (rows - 1) * _ROW_H  # y of the lowest box
    about = f"image {_hex12(s.image_id)} · {_plural(len(s.layers), 'layer')}"
    parts = [
        f'<text x="{x}" y="{_PAD + 14}" font-family="{_SANS}" font-size="13" font-weight="600" fill="{_INK}">'
        f"{_svg_text(_cut(s.ref, 44))}</text>",
        f'<text x="{x}" y="{_PAD + 29}" font-family="{_SANS}" font-size="10" fill="{_INK_SOFT}">'
        f"{_svg_text(about)}</text>",
    ]
    own = _OWN[index % len(_OWN)]
    for j, layer in enumerate(s.layers):
        is_shared = j < shared
        note = "shared · read-only" if is_shared else "read-only"
        tooltip = f"{layer.step}\n{layer.diff_id}" + ("\nshared: one layer, stored once" if is_shared else "")
        parts.append(
            _svg_box(
                x,
                bottom - j * _ROW_H,
                _SHARED if is_shared else own,
                (_cut(layer.step, _SVG_STEP_WIDTH), _hex12(layer.diff_id)),
                note,
                tooltip,
            )
        )
    if s.container:
        line = f"container {s.container}: read-write layer"
        count = _plural(s.changes, "changed path")
        parts.append(
            _svg_box(
                x,
                bottom - len(s.layers) * _ROW_H,
                _WRITABLE,
                (_cut(line, _SVG_STEP_WIDTH), count),
                "read-write",
                f"{_writable_line(s)}",
                dashed=True,
                lock=False,
            )
        )
    if not s.layers and not s.container:
        parts.append(_svg_box(x, bottom, _CANVAS, ("(no layers)", ""), "", "no layers", dashed=True, lock=False))
    return "".join(parts)


def layers_svg(stacks: Sequence[Stack]) -> str:
    """The stacks as an inline SVG: columns aligned at the bottom, shared layers in one muted colour."""
    stacks = list(stacks)
    count = max(len(stacks), 1)
    rows = max([len(s.layers) + (1 if s.container else 0) for s in stacks] + [1])
    width = 2 * _PAD + count * _BOX_W + (count - 1) * _GAP
    height = _PAD + _HEAD_H + rows * _ROW_H + _FOOT_H + _PAD
    caption = layers_caption(stacks)
    shared_rows = _shared_rows(stacks)
    body = [_svg_column(s, i, shared, rows) for i, (s, shared) in enumerate(zip(stacks, shared_rows))]
    foot = "base at the bottom; image layers are read-only" + (
        "; grey = shared, stored once" if any(shared_rows) else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_svg_text(caption)}">'
        f"<title>{_svg_text(caption)}</title>"
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" rx="8" fill="{_CANVAS[0]}" '
        f'stroke="{_CANVAS[1]}"/>'
        + "".join(body)
        + f'<text x="{_PAD}" y="{height - _PAD - 4}" font-family="{_SANS}" font-size="10" fill="{_INK_SOFT}">'
        f"{_svg_text(foot)}</text></svg>"
    )


def layers_bundle(stacks: Sequence[Stack]) -> dict:
    """Text, and HTML that holds the SVG and the one-line caption."""
    stacks = list(stacks)
    caption = f'<div style="margin-top:0.3em;color:inherit">{html.escape(layers_caption(stacks))}</div>'
    html_text = f'<div class="labkit-layers" style="overflow-x:auto;margin:0.2em 0">{layers_svg(stacks)}{caption}</div>'
    return {"text/plain": layers_text(stacks), "text/html": html_text}


def ready_bundle(parts: list[tuple[str, bool, str]]) -> dict:
    """The lab check at the top of a notebook: each (part, up, summary), and what to do if one is down."""
    down = [name for name, up, _ in parts if not up]
    head = "✓ The lab is ready." if not down else f"✗ The lab is not ready: {', '.join(down)} down."
    lines = [head] + [f"  {'✓' if up else '✗'} {name:9} {summary}" for name, up, summary in parts]
    if down:
        lines.append("  Next: run `labkit up` in a terminal (or `make lab`), then run this cell again.")
    colour = "#1a7f37" if not down else "#b42318"
    rows = "".join(
        f"<tr><td>{'✓' if up else '✗'}</td><td><b>{_esc(name)}</b></td><td>{_esc(summary)}</td></tr>"
        for name, up, summary in parts
    )
    html_text = (
        f"<div style='border-left:4px solid {colour};padding:0.3em 0.8em'><b>{_esc(head)}</b><table>{rows}</table>"
    )
    if down:
        html_text += (
            "<p>Next: run <code>labkit up</code> in a terminal (or <code>make lab</code>), "
            "then run this cell again.</p>"
        )
    return {"text/plain": "\n".join(lines), "text/html": html_text + "</div>"}
