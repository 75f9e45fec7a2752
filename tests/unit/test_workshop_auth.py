"""Signing in to the class hub: workshop code, a name of one's own, a PIN that keeps it."""

from __future__ import annotations

import asyncio
import json
import os
from types import SimpleNamespace

import pytest

from labkit.classroom._auth import INSTRUCTOR, WorkshopAuthenticator
from labkit.classroom._names import ADDRESS_LIMIT, CLAIMED, FREE_TRIES, LOCK_AFTER, LOCKED, RIGHT, WAIT, WRONG, Names


@pytest.fixture
def auth(tmp_path):
    return WorkshopAuthenticator(
        code="blue-42", admin_code="teach-me", claims_file=str(tmp_path / "claims.json"), refusal_delay=0
    )


def _sign_in(auth, address="10.0.0.7", **data):
    handler = SimpleNamespace(request=SimpleNamespace(remote_ip=address))
    name = asyncio.run(auth.authenticate(handler, data))
    return name, getattr(handler, "labkit_refusal", "")


def test_a_new_name_is_claimed_and_its_owner_comes_back_with_the_pin(auth, tmp_path):
    assert _sign_in(auth, username="  Ada Lovelace ", code="blue-42", pin="1815") == ("ada-lovelace", "")
    assert oct(os.stat(tmp_path / "claims.json").st_mode & 0o777) == "0o600"
    assert "1815" not in (tmp_path / "claims.json").read_text()  # only a hash of the PIN is kept
    again = WorkshopAuthenticator(
        code="blue-42", admin_code="teach-me", claims_file=str(tmp_path / "claims.json"), refusal_delay=0
    )
    assert _sign_in(again, username="ada-lovelace", code="blue-42", pin="1815") == (
        "ada-lovelace",
        "",
    )  # after a hub restart


def test_a_name_taken_by_someone_else_is_refused_with_a_reason(auth):
    _sign_in(auth, username="ada", code="blue-42", pin="1815")
    name, why = _sign_in(auth, username="ada", code="blue-42", pin="9999")
    assert name is None and "taken by someone else" in why


def test_a_wrong_workshop_code_says_so(auth):
    name, why = _sign_in(auth, username="bob", code="red-1", pin="1234")
    assert name is None and "workshop code is not right" in why


@pytest.mark.parametrize(
    "username", ["a", "instructor2-but-far-too-long-for-a-name", "9lives", "bob!", "root", "admin"]
)
def test_names_that_cannot_be_a_learners_are_refused(auth, username):
    name, why = _sign_in(auth, username=username, code="blue-42", pin="1234")
    assert name is None and "Pick another name" in why


def test_a_short_pin_is_refused(auth):
    assert _sign_in(auth, username="bob", code="blue-42", pin="12")[1] == "Your PIN must be at least 4 digits."


def test_the_instructor_signs_in_with_the_admin_code_only(auth):
    assert _sign_in(auth, username="instructor", code="teach-me") == (INSTRUCTOR, "")
    assert _sign_in(auth, username="instructor", code="blue-42", pin="1234") == (
        None,
        "That is not the instructor's code.",
    )
    assert INSTRUCTOR in auth.admin_users and auth.allow_all


def test_no_code_set_lets_nobody_in(tmp_path):
    empty = WorkshopAuthenticator(claims_file=str(tmp_path / "c.json"), refusal_delay=0)
    assert _sign_in(empty, username="bob", code="", pin="1234")[0] is None
    assert _sign_in(empty, username="instructor", code="")[0] is None


def test_a_hub_of_an_earlier_labkit_keeps_its_names(tmp_path):
    import bcrypt

    (tmp_path / "claims.json").write_text(json.dumps({"ada": bcrypt.hashpw(b"1815", bcrypt.gensalt(4)).decode()}))
    auth = WorkshopAuthenticator(
        code="blue-42", admin_code="x", claims_file=str(tmp_path / "claims.json"), refusal_delay=0
    )
    assert _sign_in(auth, username="ada", code="blue-42", pin="1815") == ("ada", "")
    assert _sign_in(auth, username="ada", code="blue-42", pin="0000")[0] is None


# --- guessing a PIN ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_pins_cost_time_then_lock_the_name_until_the_instructor_unlocks_it(tmp_path):
    clock = Clock()
    names = Names(tmp_path / "names.json", clock)
    assert names.sign_in("ada", "1815").verdict == CLAIMED
    verdicts = []
    for guess in range(LOCK_AFTER):
        answer = names.sign_in("ada", f"{guess:04d}")
        while answer.verdict == WAIT:  # the guesser waits as told, and tries again
            clock.now += answer.wait
            answer = names.sign_in("ada", f"{guess:04d}")
        verdicts.append(answer.verdict)
    assert verdicts == [WRONG] * (LOCK_AFTER - 1) + [LOCKED]
    assert names.sign_in("ada", "1815").verdict == LOCKED  # even the right PIN, until unlocked
    clock.now += 86400
    assert names.sign_in("ada", "1815").verdict == LOCKED
    assert names.taken()["ada"]["locked"]
    assert names.unlock("ada") and names.sign_in("ada", "1815").verdict == RIGHT
    assert not names.unlock("nobody")


def test_a_try_inside_the_wait_is_not_looked_at(tmp_path):
    clock = Clock()
    names = Names(tmp_path / "names.json", clock)
    names.sign_in("ada", "1815")
    for guess in range(FREE_TRIES):
        assert names.sign_in("ada", f"{guess:04d}").verdict == WRONG
    waiting = names.sign_in("ada", "1815")  # the right PIN, too early: not even checked
    assert waiting.verdict == WAIT and 0 < waiting.wait <= 30
    clock.now += waiting.wait
    assert names.sign_in("ada", "1815").verdict == RIGHT
    assert names.taken()["ada"]["failures"] == 0  # a right PIN clears the count


def test_a_new_pin_from_the_instructor(tmp_path):
    names = Names(tmp_path / "names.json", Clock())
    names.sign_in("ada", "1815")
    for guess in range(LOCK_AFTER):
        names.wrong("ada")
    pin = names.new_pin("ada")
    assert pin.isdigit() and len(pin) == 6
    assert names.sign_in("ada", "1815").verdict == WRONG  # the old one is gone
    assert names.sign_in("ada", pin).verdict == RIGHT
    assert names.new_pin("nobody") is None


def test_150_guesses_for_one_name_do_not_get_in(auth):
    """The attack that worked: 150 wrong PINs in 3 s, then the right one accepted."""
    _sign_in(auth, username="ada", code="blue-42", pin="1815")
    said = [
        _sign_in(auth, address=f"10.1.{i // 250}.{i % 250}", username="ada", code="blue-42", pin=f"{i:04d}")
        for i in range(2000, 2150)
    ]
    assert all(name is None for name, _why in said)
    assert "After 5 more wrong PINs, ada is locked" in said[FREE_TRIES - 1][1]
    assert "wait" in said[FREE_TRIES][1]
    name, why = _sign_in(auth, username="ada", code="blue-42", pin="1815")  # the owner, too, waits a while
    assert name is None and "Too many wrong tries for ada: wait" in why


def test_one_address_guessing_across_names_is_refused(auth):
    for i in range(ADDRESS_LIMIT):
        _sign_in(auth, username=f"learner{i}", code="blue-42", pin="1234")  # claims each
    for i in range(ADDRESS_LIMIT):
        _sign_in(auth, address="10.9.9.9", username=f"learner{i}", code="blue-42", pin="9999")
    name, why = _sign_in(auth, address="10.9.9.9", username="learner0", code="blue-42", pin="1234")
    assert name is None and "from your address" in why
    assert _sign_in(auth, address="10.9.9.8", username="learner0", code="blue-42", pin="1234") == ("learner0", "")


def test_the_instructor_is_never_locked_out_only_slowed(auth):
    for _ in range(LOCK_AFTER + 2):
        name, why = _sign_in(auth, address="10.2.2.2", username="instructor", code="guess")
    assert name is None and "wait" in why and "locked" not in why


def test_the_sign_in_form_prints_nothing_it_is_given_as_markup():
    """JupyterHub renders the form with Jinja2 without escaping: every value is escaped in the form."""
    from jinja2 import Template

    from labkit.classroom._auth import FORM

    evil = '"><script>alert(1)</script><b>x</b>'
    auth = WorkshopAuthenticator(code="c", admin_code="a")
    page = Template(auth.get_custom_html("/hub/")).render(
        username=evil, login_error=f"The name {evil} is taken", xsrf=evil, authenticator_login_url=evil
    )
    assert "<script>" not in page and "<b>x</b>" not in page and "&lt;script&gt;" in page
    assert "{{" in FORM  # still a template: JupyterHub fills it
