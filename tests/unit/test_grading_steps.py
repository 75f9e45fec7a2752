"""The grading pipeline's pure steps, alone: validate, finding checks, choosing exercises, reports."""

from __future__ import annotations

import csv
import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.grading import report
from labkit.grading.validate import checks_in, exercises_of, validate


def test_validate_reports_each_kind_of_broken_file(tmp_path):
    good = tmp_path / "good.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), good)
    assert validate(good).graded and validate(good).notebook is not None
    cases = {
        "broken.ipynb": ('{"cells": [', "its JSON is broken"),
        "list.ipynb": ("[1, 2]", "has no nbformat version"),
        "future.ipynb": (
            json.dumps({"nbformat": 99, "nbformat_minor": 0, "cells": [], "metadata": {}}),
            "uses notebook format 99",
        ),
        "schema.ipynb": (
            json.dumps(
                {
                    "nbformat": 4,
                    "nbformat_minor": 5,
                    "metadata": {},
                    "cells": [{"cell_type": "spreadsheet", "source": "", "metadata": {}}],
                }
            ),
            "is not a valid notebook",
        ),
    }
    for name, (text, reason) in cases.items():
        (tmp_path / name).write_text(text)
        sub = validate(tmp_path / name)
        assert not sub.graded and reason in sub.problem, (name, sub.problem)
    assert "cannot be read" in validate(tmp_path / "missing.ipynb").problem


def test_checks_in_finds_ids_and_answer_expressions():
    cell = new_code_cell('x = 1\nlab.check("inspect.read", answer=my_answer)\nlab.check("inspect.tag")')
    assert checks_in(cell) == [("inspect.read", "my_answer"), ("inspect.tag", None)]
    assert checks_in(new_code_cell('lab.check("commit.why-not", "b")')) == [("commit.why-not", "'b'")]
    assert checks_in(new_code_cell('!docker pull busybox\nlab.check("start.pull")')) == [("start.pull", None)]
    assert checks_in(new_code_cell('%%bash\necho lab.check("start.pull")')) == []
    assert checks_in(new_markdown_cell('lab.check("start.pull")')) == []
    assert checks_in(new_code_cell('lab.check("start.pull"')) == [("start.pull", None)]  # broken Python: still found


def test_exercises_of_a_submission_come_from_its_lesson():
    by_metadata = new_notebook(cells=[], metadata={"labkit": {"lesson": "push"}})
    assert exercises_of(by_metadata, "anything") == ["push.login", "push.tag-push", "push.pull-back"]
    by_name = new_notebook(cells=[])
    assert exercises_of(by_name, "07-push") == ["push.login", "push.tag-push", "push.pull-back"]
    extra = new_notebook(cells=[new_code_cell('lab.check("start.pull")\nlab.check("no.such")')])
    assert exercises_of(extra, "mine") == ["start.pull"]
    assert exercises_of(by_name, "ann/smithann_1_2_07-push-1") == ["push.login", "push.tag-push", "push.pull-back"]
    # metadata a submission wrote to break the grader: its file name decides (before, "infrastructure")
    for odd in ({"labkit": ["a", "list"]}, {"labkit": {"lesson": "no-such-lesson"}}, {"labkit": {"lesson": ["push"]}}):
        assert exercises_of(new_notebook(cells=[], metadata=odd), "ann/07-push") == [
            "push.login",
            "push.tag-push",
            "push.pull-back",
        ]


def _row(name, status, points, exercises):
    return {
        "path": f"/s/{name}.ipynb",
        "name": name,
        "status": status,
        "problem": "" if status == "graded" else "broken",
        "points": points,
        "possible": sum(e["possible"] for e in exercises.values()),
        "exercises": exercises,
        "events": [],
        "seconds": 1.0,
        "graded_notebook": "",
    }


def _ex(exercise, passed, possible):
    return {
        "exercise": exercise,
        "title": exercise,
        "status": "passed" if passed else "failed",
        "passed": passed,
        "points": possible if passed else 0,
        "possible": possible,
        "feedback": "ok" if passed else "<missing>",
        "observed": "",
        "expected": "",
        "details": [],
    }


def test_reports_from_rows(tmp_path):
    rows = [
        _row(
            "ann",
            "graded",
            3,
            {"push.login": _ex("push.login", True, 1), "push.tag-push": _ex("push.tag-push", True, 2)},
        ),
        _row(
            "ben",
            "graded",
            1,
            {"push.login": _ex("push.login", True, 1), "push.tag-push": _ex("push.tag-push", False, 2)},
        ),
        _row("cat", "invalid", 0, {}),
    ]
    report.write_all(rows, tmp_path, ("gradescope",))
    with open(tmp_path / "report.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["submission"] for r in table] == ["ann", "ben", "cat"]
    assert (table[1]["push.tag-push"], table[1]["total"], table[2]["status"]) == ("0", "1", "invalid")
    page = (tmp_path / "report.html").read_text()
    assert "&lt;missing&gt;" in page and "<missing>" not in page  # feedback is escaped
    assert "1/2" in page  # push.tag-push passed by one of two
    ben = json.loads((tmp_path / "gradescope" / "ben" / "results.json").read_text())
    assert ben["score"] == 1 and {t["status"] for t in ben["tests"]} == {"passed", "failed"}
    cat = json.loads((tmp_path / "gradescope" / "cat" / "results.json").read_text())
    assert cat["output"].startswith("Not graded")


def _lms_row(name, learner, notebook, status, points, possible, lms="", learner_id=""):
    row = _row(name, status, points, {"x.y": _ex("x.y", points == possible, possible)})
    row.update(learner=learner, notebook=notebook, lms=lms, learner_id=learner_id, possible=possible)
    return row


def test_canvas_and_moodle_gradebooks_have_a_column_per_notebook_and_never_a_zero_for_what_was_not_graded(tmp_path):
    rows = [
        _lms_row("ann/00-start-here", "ann", "00-start-here", "graded", 1, 1),
        _lms_row("ann/08-capstone", "ann", "08-capstone", "graded", 10, 10),
        _lms_row("ben/08-capstone", "ben", "08-capstone", "infrastructure", 0, 10),  # a lab fault: blank, not 0
        _lms_row("ben/08-capstone-copy", "ben", "08-capstone", "graded", 4, 10),  # handed in twice: the better counts
        _lms_row("cy/08-capstone", "cy", "08-capstone", "graded", 0, 10),  # done nothing: a real 0
        _lms_row("smithdan_77_9_08-capstone", "smithdan", "08-capstone", "graded", 7, 10, "canvas", "77"),
        _lms_row(
            "Eve Ray_12_assignsubmission_file_/08-capstone", "Eve Ray", "08-capstone", "invalid", 0, 10, "moodle", "12"
        ),
        _lms_row(
            "Fay Oh_13_assignsubmission_file_/08-capstone", "Fay Oh", "08-capstone", "graded", 9, 10, "moodle", "13"
        ),
    ]
    report.write_all(rows, tmp_path, ("canvas", "moodle"))
    with open(tmp_path / "canvas.csv", newline="") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "00-start-here", "08-capstone"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "1", "10"]
    by_name = {line[0]: line for line in canvas[2:]}
    assert by_name["ann"][5:] == ["1", "10"]
    assert by_name["ben"][5:] == ["", "4"]  # no 00 handed in: blank; the graded copy counts, the lab fault does not
    assert by_name["cy"][5:] == ["", "0"]
    assert by_name["smithdan"][1] == "77" and by_name["Fay Oh"][1] == ""  # a Canvas id only from Canvas's names
    assert by_name["Eve Ray"][5:] == ["", ""]  # invalid: blank, never 0
    with open(tmp_path / "moodle" / "grades.csv", newline="") as handle:
        moodle = {line["Full name"]: line for line in csv.DictReader(handle)}
    assert moodle["Fay Oh"]["Identifier"] == "Participant 13" and moodle["Fay Oh"]["08-capstone"] == "9"
    assert moodle["Eve Ray"]["08-capstone"] == "" and moodle["ann"]["Identifier"] == ""
    with open(tmp_path / "moodle" / "08-capstone-grading-worksheet.csv", newline="") as handle:
        sheet = {line["Identifier"]: line for line in csv.DictReader(handle)}
    assert sorted(sheet) == [
        "Participant 13"
    ]  # Moodle's participants alone, and not one not graded (Moodle keeps its grade)
    assert sheet["Participant 13"]["Grade"] == "9" and sheet["Participant 13"]["Maximum Grade"] == "10"
    assert sheet["Participant 13"]["Feedback comments"].startswith("x.y: 0/10")
    assert sheet["Participant 13"]["Last modified (grade)"]  # Moodle's upload wants it
    assert not (tmp_path / "moodle" / "00-start-here-grading-worksheet.csv").exists()


def test_with_several_workers_the_longest_looking_submissions_start_first(tmp_path):
    """`--jobs N` hands out the submissions with the most code first, so a long one is not left to
    run alone at the end; a file that cannot be read goes last (validating it takes no time)."""
    from labkit.grading.run import _expected_work

    files = {
        "short": new_notebook(cells=[new_code_cell("1"), new_markdown_cell("x" * 5000)]),
        "long": new_notebook(cells=[new_code_cell("!docker build -t app .\n" * 5), new_code_cell("lab.check('x')")]),
        "middle": new_notebook(cells=[new_code_cell("!docker pull nginx")]),
    }
    for name, nb in files.items():
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    (tmp_path / "odd.ipynb").write_text('{"cells": 3}')
    ordered = sorted(sorted(tmp_path.glob("*.ipynb")), key=_expected_work, reverse=True)
    assert [p.stem for p in ordered] == ["long", "middle", "short", "broken", "odd"]


def test_the_last_cell_of_end_checks_keeps_an_older_notebook_valid():
    """Exercises checked at the end get a last cell in the graded copy; a notebook of format 4.4
    (before cell ids) stays valid with it, a 4.5 one gets a cell id."""
    from pathlib import Path

    from labkit.course import CheckResult
    from labkit.grading.job import Submission
    from labkit.grading.verify import _show_end_checks

    for minor, has_id in ((4, False), (5, True)):
        nb = new_notebook(cells=[])
        nb.nbformat_minor = minor
        sub = Submission(path=Path("x.ipynb"), name="x", notebook=nb)
        sub.results["start.pull"] = CheckResult.fail("There is no image busybox:latest")
        _show_end_checks(sub, ["start.pull"])
        nbformat.validate(nb)
        assert ("id" in nb.cells[-1]) is has_id
        assert (
            "Checked by `labkit grade` at the end" in nb.cells[-1].source
            and "There is no image busybox" in nb.cells[-1].source
        )


def test_a_schema_error_is_reported_in_nbformats_words_with_its_cell(tmp_path):
    """Cell metadata that is a list breaks nbformat's reader before its validator runs ("pop expected
    at most 1 argument, got 2"): the report gives the validator's message, and the cell."""
    raw = json.loads(nbformat.writes(new_notebook(cells=[new_code_cell("1"), new_code_cell("2")])))
    raw["cells"][1]["metadata"] = ["a", "list"]
    (tmp_path / "list-metadata.ipynb").write_text(json.dumps(raw))
    sub = validate(tmp_path / "list-metadata.ipynb")
    assert sub.problem == "is not a valid notebook: ['a', 'list'] is not of type 'object' (cell 1, metadata)"


# --- what the grader no longer swallows ------------------------------------------------------


def test_only_failed_with_an_unreadable_last_report_says_so(tmp_path):
    import pytest

    from labkit import grading
    from labkit.errors import LabkitError

    sub = grading.Entry(name="a", learner="a", source=str(tmp_path / "a.ipynb"))
    assert grading.failed_only([sub], tmp_path / "none-yet") == [sub]  # no report: all of them
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text("{ half a report")
    with pytest.raises(LabkitError) as caught:
        grading.failed_only([sub], tmp_path / "out")
    assert "report.json cannot be read" in caught.value.message and "--only-failed" in caught.value.next_step


def test_a_seeded_registry_that_cannot_be_made_says_why(tmp_path, monkeypatch, caplog):
    from labkit.errors import LabkitError
    from labkit.home import RegistryState

    def broken(*_args):
        raise LabkitError("the mirror at 127.0.0.1:1 is not reachable")

    from labkit.grading import labs, run

    monkeypatch.setattr(labs, "seeded_registry", broken)
    with caplog.at_level("WARNING", logger="labkit.grading"):
        assert run._seeded_registry(tmp_path, RegistryState(port=1), tmp_path) is None
    assert "each lab seeds its own" in caplog.text and "127.0.0.1:1 is not reachable" in caplog.text


def test_a_live_engine_that_refuses_to_remove_a_container_is_said(tmp_path, monkeypatch, caplog):
    from labkit.errors import EngineError
    from labkit.home import EngineState, LabPaths, State
    from labkit.labs import FreshLab, fresh

    class Refusing:
        def __init__(self, *_args, **_kwargs): ...
        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return False

        class containers:  # noqa: N801 - Engine's collection, as the lab reads it
            @staticmethod
            def list(_filters):
                return [{"Id": "c0ffee" * 10}, {"Id": "beef" * 16}]

            @staticmethod
            def remove(cid):
                raise EngineError(f"The Docker engine refused: cannot remove {cid[:4]}")

    monkeypatch.setattr(fresh, "Engine", Refusing)
    lab = FreshLab(LabPaths(tmp_path, tmp_path), tmp_path, tmp_path, State(engine=EngineState(host="unix:///x")))
    with caplog.at_level("WARNING", logger="labkit.labs.fresh"):
        fresh._remove_running_containers(lab)
    assert (
        "did not remove container c0ffeec0ffee" in caplog.text
        and "did not remove container beefbeefbeef" in caplog.text
    )


def test_a_submission_that_ran_into_its_limits_is_graded_and_told_which():
    """Before: a submission that started 3000 processes came back as "infrastructure" (its engine
    stopped answering), so a student could turn a zero into a lab fault, regraded for ever."""
    from labkit.course import CheckResult
    from labkit.grading.verify import blame_limits

    hit = ["tried to run more than 1,000 processes at once"]
    error = CheckResult.error("The Docker engine is not reachable at unix:///x: run `labkit up`.").scored(
        "start.pull", "Pull", 1
    )
    failed = CheckResult.fail("There is no image busybox:latest.").scored("start.pull", "Pull", 1)
    passed = CheckResult.ok("busybox is there.").scored("start.pull", "Pull", 1)
    blamed = blame_limits(error, hit)
    assert blamed.status == "failed" and blamed.points == 0 and blamed.possible == 1
    assert (
        "tried to run more than 1,000 processes at once" in blamed.feedback
        and "The Docker engine is not reachable" in blamed.feedback
    )
    assert "more than 1,000 processes" in blame_limits(failed, hit).feedback
    assert blame_limits(failed, hit).feedback.startswith("There is no image busybox:latest.")
    assert blame_limits(passed, hit) == passed
