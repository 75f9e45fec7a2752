"""The one place output is made: check results, hints and progress as text, HTML and widgets.

Text is for the terminal, nbval and CI; HTML for notebooks (inline styles only, colours
that read on light and dark JupyterLab themes); the widget adds a "Show next hint"
button. `result_bundle` puts text, HTML and (inside a kernel only) the widget into one
Jupyter mime bundle, so exported notebooks keep readable text instead of a widget repr.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from ._progress import LessonProgress
from ._results import ERROR, PASSED, CheckResult

if TYPE_CHECKING:
    import ipywidgets

NextHint = Callable[[], "str | None"]
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
    """"3/3 points", or "" when the result is a lab problem or carries no points."""
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
    style = (f"background:{look.colour};color:#fff;font-weight:600;font-size:0.85em;"
             "padding:1px 8px;border-radius:10px;letter-spacing:0.03em")
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
        for label, value in (("seen", r.observed), ("expected", r.expected)) if value
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


def _hint_button(area: "ipywidgets.HTML", next_hint: NextHint) -> "ipywidgets.Button":
    import ipywidgets

    button = ipywidgets.Button(description="Show next hint", icon="lightbulb-o")
    shown: list[str] = []

    def on_click(_button) -> None:
        text = next_hint()
        if text is None:
            shown.append(f"<div>{html.escape(NO_MORE_HINTS)}</div>")
            button.disabled = True
        else:
            shown.append(f"<div><strong>Hint {len(shown) + 1}:</strong> {_esc(text)}</div>")
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
        button = _hint_button(area, next_hint)
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
        widget = result_widget(r, next_hint)
        bundle[WIDGET_MIME] = {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}
    return bundle


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


# ---------------------------------------------------------------- progress


class ProgressRow(Protocol):
    lesson: str
    title: str
    done: int
    total: int
    points: float
    possible: float


def _total(rows: Sequence[ProgressRow]) -> ProgressRow:
    return LessonProgress("Total", "", sum(r.done for r in rows), sum(r.total for r in rows),
                  sum(r.points for r in rows), sum(r.possible for r in rows))


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
    return (f'<tr><td style="{cell}">{name}</td><td style="{cell}">{_html_bar(row, colour)}</td>'
            f'<td style="{cell}">{html.escape(_counts(row))}</td></tr>')


def progress_html(rows: Sequence[ProgressRow]) -> str:
    """A bar per lesson (exercises done, as a percent width) and the totals."""
    rows = list(rows)
    body = [_html_progress_row(row) for row in rows] + [_html_progress_row(_total(rows), bold=True)]
    return f'<table class="labkit-progress" style="border:none;color:inherit">{"".join(body)}</table>'


def progress_bundle(rows: Sequence[ProgressRow]) -> dict:
    rows = list(rows)
    return {"text/plain": progress_text(rows), "text/html": progress_html(rows)}


def problem_bundle(message: str) -> dict:
    """A lab problem (not up, unknown exercise, …) as one short block: text and HTML."""
    text = f"labkit: {message}"
    return {"text/plain": text, "text/html": f"<pre style='color:#b42318;white-space:pre-wrap'>{_esc(text)}</pre>"}
