"""The grader's reports: report.csv (a spreadsheet imports it as is), report.json (everything),
report.html (the class at a glance, then each submission); and, asked for, what an LMS imports:
Gradescope's results.json per submission, a Canvas gradebook CSV, Moodle's gradebook CSV and its
assignments' grading worksheets (docs/grading.md says how to import each).

In every gradebook a submission that could not be graded (invalid, infrastructure) is a blank cell,
never a 0 (Canvas and Moodle take a blank over a grade they hold as clearing it: docs/grading.md), and
a grading worksheet leaves its row out."""

from __future__ import annotations

import csv
import html
import json
import time
from collections import Counter
from pathlib import Path

from ..course import catalog


def exercise_columns(rows: list[dict]) -> list[str]:
    seen = {e for row in rows for e in row["exercises"]}
    return [e.id for e in catalog.EXERCISES if e.id in seen]


def write_all(rows: list[dict], out: Path, formats: tuple[str, ...] = ()) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "report.csv")
    (out / "report.json").write_text(json.dumps({"submissions": rows}, indent=2) + "\n")
    (out / "report.html").write_text(html_report(rows))
    if "gradescope" in formats:
        write_gradescope(rows, out / "gradescope")
    if "canvas" in formats:
        write_canvas(rows, out / "canvas.csv")
    if "moodle" in formats:
        write_moodle(rows, out / "moodle")


def write_csv(rows: list[dict], path: Path) -> None:
    columns = exercise_columns(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "learner", "status", *columns, "total", "possible", "problem"])
        for row in rows:
            points = [row["exercises"].get(c, {}).get("points", "") for c in columns]
            writer.writerow(
                [
                    row["name"],
                    row.get("learner", ""),
                    row["status"],
                    *[_num(p) for p in points],
                    _num(row["points"]),
                    _num(row["possible"]),
                    row["problem"],
                ]
            )


def write_gradescope(rows: list[dict], folder: Path) -> None:
    """One Gradescope results.json per submission (gradescope/<key>/results.json: `ann/08-capstone`'s
    in gradescope/ann/08-capstone/)."""
    for row in rows:
        tests = [
            {
                "name": f"{e['exercise']}: {e['title']}",
                "score": e["points"],
                "max_score": e["possible"],
                "status": "passed" if e["passed"] else "failed",
                "output": e["feedback"],
            }
            for e in row["exercises"].values()
        ]
        result = {"score": row["points"], "tests": tests}
        if row["status"] != "graded":
            result["output"] = f"Not graded: {row['problem']}"
        target = folder / _key(row) / "results.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2) + "\n")


def gradebook(rows: list[dict]) -> tuple[list[str], dict[tuple[str, str], dict[str, dict]]]:
    """The class as an LMS's gradebook holds it: (one column per notebook, in course order; per learner
    (name, LMS id), per notebook, the row that counts). A learner's best graded submission of a
    notebook counts (a notebook handed in twice); a notebook only ungraded ones are there for is a
    row that is not graded, which the gradebook leaves blank."""
    order = {notebook: i for i, (_lesson, notebook, _title) in enumerate(catalog.LESSONS)}
    notebooks = sorted(
        {row.get("notebook") or row["name"] for row in rows}, key=lambda n: (order.get(n, len(order)), n)
    )
    learners: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        who = (
            row.get("learner") or row["name"],
            f"{row.get('lms', '')}:{row.get('learner_id', '')}" if row.get("learner_id") else "",
        )
        notebook = row.get("notebook") or row["name"]
        mine = learners.setdefault(who, {})
        held = mine.get(notebook)
        if held is None or _counts_more(row, held):
            mine[notebook] = row
    return notebooks, dict(sorted(learners.items()))


def _counts_more(row: dict, than: dict) -> bool:
    graded, was = row["status"] == "graded", than["status"] == "graded"
    return graded and (not was or row["points"] > than["points"])


def _cell(row: dict | None) -> str:
    """A gradebook's cell: the points of a graded row, blank for anything else (never a 0 for a lab fault)."""
    return _num(row["points"]) if row is not None and row["status"] == "graded" else ""


def _possible(rows: list[dict], notebook: str) -> str:
    possible = [r["possible"] for r in rows if (r.get("notebook") or r["name"]) == notebook and r["status"] == "graded"]
    return _num(max(possible)) if possible else ""


def write_canvas(rows: list[dict], path: Path) -> None:
    """Canvas's gradebook import (Grades → Import): the columns of its own export (Student, ID, SIS User
    ID, SIS Login ID, Section), one column per notebook (a name Canvas does not know yet makes a new
    assignment; rename a column to "Name (assignment id)" to fill an existing one), and a Points
    Possible row. ID is the Canvas user id its download's file names give ("" when they gave none: fill
    it, or a SIS id, before importing)."""
    notebooks, learners = gradebook(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *notebooks])
        writer.writerow(["Points Possible", "", "", "", "", *[_possible(rows, n) for n in notebooks]])
        for (learner, lms_id), mine in learners.items():
            writer.writerow([learner, _id_in(lms_id, "canvas"), "", "", "", *[_cell(mine.get(n)) for n in notebooks]])


def write_moodle(rows: list[dict], folder: Path, now: float | None = None) -> None:
    """Moodle: grades.csv for the gradebook's import (Grades → Import → CSV file: map "Full name" or,
    filled in, "Email address" to the user, and each notebook's column to its grade item), and, for
    each notebook whose submissions came from an assignment's "Download all submissions" (their
    folders give each participant's number), that assignment's grading worksheet
    (<notebook>-grading-worksheet.csv: the assignment's "Upload grading worksheet" matches it by
    Identifier, "Participant N", with no mapping at all)."""
    folder.mkdir(parents=True, exist_ok=True)
    notebooks, learners = gradebook(rows)
    with open(folder / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Full name", "Email address", "Identifier", *notebooks])
        for (learner, learner_id), mine in learners.items():
            writer.writerow([learner, "", _participant(learner_id), *[_cell(mine.get(n)) for n in notebooks]])
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    for notebook in notebooks:
        graded = [
            (who, mine[notebook])
            for who, mine in learners.items()  # an ungraded row is left out: Moodle keeps its grade
            if notebook in mine and mine[notebook]["status"] == "graded" and _participant(who[1])
        ]
        if not graded:
            continue
        with open(folder / f"{notebook}-grading-worksheet.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)", "Feedback comments"]
            )
            for (learner, learner_id), row in graded:
                writer.writerow(
                    [_participant(learner_id), learner, _cell(row), _num(row["possible"]), stamp, _feedback(row)]
                )


def _id_in(lms_id: str, lms: str) -> str:
    """The learner's id in `lms`, from gradebook()'s "lms:id" ("" when their files came from another)."""
    name, _, number = lms_id.partition(":")
    return number if name == lms else ""


def _participant(lms_id: str) -> str:
    """Moodle's identifier of an assignment's participant, from the number its download gives."""
    number = _id_in(lms_id, "moodle")
    return f"Participant {number}" if number.isdigit() else ""


def _feedback(row: dict) -> str:
    return "\n".join(
        f"{e['exercise']}: {_num(e['points'])}/{_num(e['possible'])}" + ("" if e["passed"] else f" - {e['feedback']}")
        for e in row["exercises"].values()
    )


def _key(row: dict) -> str:
    """The row's safe relative path in the reports' folder (submissions.Entry.key)."""
    return row.get("key") or row["name"]


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def html_report(rows: list[dict]) -> str:
    columns = exercise_columns(rows)
    graded = [r for r in rows if r["status"] == "graded"]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Docker Images Lab: grades</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}.ok{color:#1a7f37}.no{color:#b42318}"
        "pre{white-space:pre-wrap;margin:0}</style></head><body>",
        f"<h1>Grades: {len(rows)} submission(s), {len(graded)} graded</h1>",
        _histogram(graded),
        _pass_rates(graded, columns),
        _summary_table(rows),
        *[_submission(row) for row in rows],
        "</body></html>",
    ]
    return "\n".join(parts)


def _histogram(rows: list[dict]) -> str:
    """The score distribution as an SVG bar chart (percent of possible, in tenths)."""
    bins = Counter(min(9, int(10 * r["points"] / r["possible"])) if r["possible"] else 0 for r in rows)
    top = max(bins.values(), default=1)
    bars = []
    for b in range(10):
        height = 120 * bins.get(b, 0) / top
        bars.append(
            f"<rect x='{30 + b * 36}' y='{140 - height:.1f}' width='30' height='{height:.1f}' fill='#3b6fb6'/>"
            f"<text x='{45 + b * 36}' y='156' font-size='10' text-anchor='middle'>{b * 10}%</text>"
            f"<text x='{45 + b * 36}' y='{136 - height:.1f}' font-size='10' text-anchor='middle'>"
            f"{bins.get(b, 0) or ''}</text>"
        )
    return (
        "<h2>Score distribution</h2><svg xmlns='http://www.w3.org/2000/svg' width='400' height='170' role='img' "
        "aria-label='score distribution'>" + "".join(bars) + "</svg>"
    )


def _pass_rates(rows: list[dict], columns: list[str]) -> str:
    lines = ["<h2>Pass rate per exercise</h2><table><tr><th>exercise</th><th>passed</th><th>rate</th></tr>"]
    for column in columns:
        tried = [r["exercises"][column] for r in rows if column in r["exercises"]]
        passed = sum(1 for e in tried if e["passed"])
        rate = passed / len(tried) if tried else 0
        lines.append(
            f"<tr><td>{html.escape(column)}</td><td>{passed}/{len(tried)}</td>"
            "<td><div style='background:#eee;width:10em'>"
            f"<div style='background:#1a7f37;width:{rate * 100:.0f}%'>&nbsp;</div></div></td></tr>"
        )
    return "".join(lines) + "</table>"


def _summary_table(rows: list[dict]) -> str:
    lines = [
        "<h2>Submissions</h2><table><tr><th>submission</th><th>learner</th><th>status</th><th>score</th><th>problem</th></tr>"
    ]
    for row in rows:
        css = "ok" if row["status"] == "graded" else "no"
        lines.append(
            f"<tr><td><a href='#{html.escape(_key(row))}'>{html.escape(row['name'])}</a></td>"
            f"<td>{html.escape(row.get('learner', ''))}</td>"
            f"<td class='{css}'>{row['status']}</td><td>{_num(row['points'])}/{_num(row['possible'])}</td>"
            f"<td>{html.escape(row['problem'])}</td></tr>"
        )
    return "".join(lines) + "</table>"


def _submission(row: dict) -> str:
    lines = [
        f"<h3 id='{html.escape(_key(row))}'>{html.escape(row['name'])}: "
        f"{_num(row['points'])}/{_num(row['possible'])}</h3>"
    ]
    if row["problem"]:
        lines.append(f"<p class='no'>Not graded: {html.escape(row['problem'])}</p>")
    for result in row["exercises"].values():
        css = "ok" if result["passed"] else "no"
        lines.append(
            f"<p class='{css}'><b>{html.escape(result['exercise'])}</b> "
            f"{_num(result['points'])}/{_num(result['possible'])}</p>"
            f"<pre>{html.escape(result['feedback'])}</pre>"
        )
    if row["events"]:
        lines.append("<ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in row["events"]) + "</ul>")
    return "\n".join(lines)
