"""Bad input to the exercise engine: clear words, never a traceback, and the lab recovers."""

from __future__ import annotations

from conftest import start_lab, stop_lab

from labkit.course.exercises import run_check
from labkit.ui import Lab


def test_unknown_exercise_lists_close_matches(lab, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(lab.home))
    said = "No such exercise `layers.cahce`: did you mean `layers.cache`?"
    shown = Lab().check("layers.cahce")  # the learner's typo: not a lab problem, not "not yet"
    assert repr(shown) == said and "LAB PROBLEM" not in shown._repr_mimebundle_()["text/html"]
    cli = lab.labkit("check", "layers.cahce", check=False)
    assert cli.returncode == 3 and cli.stderr == f"labkit: {said}\n" and "Traceback" not in cli.stderr
    assert lab.labkit("hint", "nope", check=False).returncode == 1


def test_answers_of_the_wrong_type_get_feedback_not_an_exception(ctx):
    for answer in (42, "nginx", ["b"], None):
        result = run_check(ctx, "inspect.read", answer)
        assert result.status == "failed" and 'answer={"cmd"' in result.feedback
    for answer in (2, ["b"], "z", None):
        result = run_check(ctx, "commit.why-not", answer)
        assert result.status == "failed" and "one letter" in result.feedback
    wrong = run_check(ctx, "commit.why-not", "a")
    assert wrong.status == "failed" and "does show the size" in wrong.feedback


def test_engine_stopped_between_two_checks(lab, tmp_path, monkeypatch):
    """A lab of its own: stop its engine between two checks, then bring it back."""
    other = start_lab(tmp_path / "home", tmp_path / "docker-config", "--managed")
    try:
        monkeypatch.setenv("LABKIT_HOME", str(other.home))
        monkeypatch.setenv("LABKIT_WORKSPACE", str(tmp_path))
        notebook = Lab()
        other.docker("pull", "busybox")
        assert notebook.check("start.pull").passed

        from labkit.engines.dockerd import stop
        from labkit.home import LabPaths

        assert stop(LabPaths(home=other.home, cache=tmp_path / "cache"))
        down = notebook.check("start.pull")
        assert down.status == "error" and down.points == 0
        assert "not reachable" in down.feedback and "labkit up" in down.feedback
        assert "LAB PROBLEM" in str(down)

        other.labkit("up")
        assert notebook.check("start.pull").passed  # same kernel, same `lab`: works again
    finally:
        stop_lab(other)


def test_lab_not_up_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "never-up"))
    result = Lab().check("start.pull")
    assert result.status == "error"
    assert "The lab is not up" in result.feedback and "labkit up" in result.feedback
    assert "Not up" not in repr(Lab()) and "labkit up" in repr(Lab())
