"""Signing in to the class hub: workshop code, a name of one's own, a PIN that keeps it."""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

import pytest

from labkit.classroom._auth import INSTRUCTOR, WorkshopAuthenticator


@pytest.fixture
def auth(tmp_path):
    return WorkshopAuthenticator(code="blue-42", admin_code="teach-me", claims_file=str(tmp_path / "claims.json"))


def _sign_in(auth, **data):
    handler = SimpleNamespace()
    name = asyncio.run(auth.authenticate(handler, data))
    return name, getattr(handler, "labkit_refusal", "")


def test_a_new_name_is_claimed_and_its_owner_comes_back_with_the_pin(auth, tmp_path):
    assert _sign_in(auth, username="  Ada Lovelace ", code="blue-42", pin="1815") == ("ada-lovelace", "")
    assert oct(os.stat(tmp_path / "claims.json").st_mode & 0o777) == "0o600"
    assert "1815" not in (tmp_path / "claims.json").read_text()  # only a hash of the PIN is kept
    again = WorkshopAuthenticator(code="blue-42", admin_code="teach-me", claims_file=str(tmp_path / "claims.json"))
    assert _sign_in(again, username="ada-lovelace", code="blue-42", pin="1815") == ("ada-lovelace", "")  # after a hub restart


def test_a_name_taken_by_someone_else_is_refused_with_a_reason(auth):
    _sign_in(auth, username="ada", code="blue-42", pin="1815")
    name, why = _sign_in(auth, username="ada", code="blue-42", pin="9999")
    assert name is None and "taken by someone else" in why


def test_a_wrong_workshop_code_says_so(auth):
    name, why = _sign_in(auth, username="bob", code="red-1", pin="1234")
    assert name is None and "workshop code is not right" in why


@pytest.mark.parametrize("username", ["a", "instructor2-but-far-too-long-for-a-name", "9lives", "bob!", "root", "admin"])
def test_names_that_cannot_be_a_learners_are_refused(auth, username):
    name, why = _sign_in(auth, username=username, code="blue-42", pin="1234")
    assert name is None and "Pick another name" in why


def test_a_short_pin_is_refused(auth):
    assert _sign_in(auth, username="bob", code="blue-42", pin="12")[1] == "Your PIN must be at least 4 digits."


def test_the_instructor_signs_in_with_the_admin_code_only(auth):
    assert _sign_in(auth, username="instructor", code="teach-me") == (INSTRUCTOR, "")
    assert _sign_in(auth, username="instructor", code="blue-42", pin="1234") == (None, "That is not the instructor's code.")
    assert INSTRUCTOR in auth.admin_users and auth.allow_all


def test_no_code_set_lets_nobody_in(tmp_path):
    empty = WorkshopAuthenticator(claims_file=str(tmp_path / "c.json"))
    assert _sign_in(empty, username="bob", code="", pin="1234")[0] is None
    assert _sign_in(empty, username="instructor", code="")[0] is None
