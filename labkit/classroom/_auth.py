"""Signing in to the class's hub: a workshop code, a name the learner picks, and a PIN that keeps it theirs.

No accounts to prepare: whoever has the workshop code picks a name on first sign-in, with a PIN
of their choosing; the name is then theirs (the PIN's bcrypt hash is kept in `claims_file`, see
`_names`), so a learner who comes back, from any browser, signs in with the same name and PIN and
finds their work, and someone else who picks that name is told it is taken. The instructor signs
in as `instructor` with the admin code. Wrong PINs and codes cost time, per name and per address,
and lock a learner's name after `_names.LOCK_AFTER` (the instructor unlocks it, or gives a new
PIN, on the class view); every refusal says which, and what to do.

The sign-in form is JupyterHub's custom HTML, which it renders with Jinja2 without escaping: every
value in `FORM` is escaped by its own `| e`. Written here because no authenticator on PyPI does this:
JupyterHub's shared-password one lets anyone with the code be anyone, and NativeAuthenticator
needs the instructor to approve each sign-up.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import re

from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from traitlets import Float, Unicode, default

from . import _names
from ._names import PIN_DIGITS, AddressGuard, Names

INSTRUCTOR = "instructor"
RESERVED = {INSTRUCTOR, "admin", "root", "hub", "user", "jupyter", "jupyterhub"}
NAME = re.compile(r"^[a-z][a-z0-9-]{1,19}$")

FORM = """
<form action="{{ authenticator_login_url | e }}" method="post" role="form">
  <div class="auth-form-header"><h1>Docker Images Lab</h1></div>
  <div class="auth-form-body m-auto">
    {% if login_error %}<p class="login_error" id="login-error">{{ login_error | e }}</p>{% endif %}
    <input type="hidden" name="_xsrf" value="{{ xsrf | e }}"/>
    <label for="code">Workshop code</label>
    <input id="code" name="code" type="password" class="form-control" autocomplete="off" required/>
    <label for="username_input">Your name (a-z, 0-9, -)</label>
    <input id="username_input" name="username" type="text" class="form-control" autocapitalize="off"
           autocorrect="off" value="{{ (username or '') | e }}" required/>
    <label for="pin">A PIN of at least 4 digits (the first time you choose it; it keeps your name yours; \
the instructor leaves it empty)</label>
    <input id="pin" name="pin" type="password" class="form-control" inputmode="numeric" autocomplete="off"/>
    <input type="submit" id="login_submit" class="btn btn-jupyter form-control" value="Sign in"/>
    {certificate_note}
    <p class="small text-muted">A name is locked after {{ lock_after | e }} wrong PINs; your instructor can \
unlock it.</p>
  </div>
</form>
"""


def normalize(name: str) -> str:
    """The name as the hub keeps it: trimmed, lower case, spaces as dashes."""
    return re.sub(r"\s+", "-", (name or "").strip().lower())


class WorkshopLoginHandler(LoginHandler):
    """JupyterHub's login page, saying why a sign-in failed instead of "Invalid username or password"."""

    def _render(self, login_error=None, username=None, **kwargs):
        return super()._render(
            login_error=getattr(self, "labkit_refusal", None) or login_error, username=username, **kwargs
        )


class WorkshopAuthenticator(Authenticator):
    code = Unicode(help="The workshop code learners sign in with.").tag(config=True)
    admin_code = Unicode(help="The code the instructor signs in with, as `instructor`.").tag(config=True)
    claims_file = Unicode(help="Where the names taken and their PINs' hashes are kept (JSON, 0600).").tag(config=True)
    certificate_note = Unicode(
        "", help="What the sign-in page says of a certificate the hub made (its fingerprint), shown as text."
    ).tag(config=True)
    refusal_delay = Float(1.0, help="Seconds a wrong code or PIN waits before it is answered.").tag(config=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.addresses = AddressGuard()

    @default("allow_all")
    def _allow_all(self) -> bool:  # whoever has the code may sign in: that is the point
        return True

    @default("admin_users")
    def _admins(self) -> set[str]:
        return {INSTRUCTOR}

    def get_custom_html(self, base_url: str) -> str:
        note = (
            f'<p class="small" id="certificate-note">{html.escape(self.certificate_note)}</p>'
            if self.certificate_note
            else ""
        )
        return FORM.replace("{{ lock_after | e }}", str(_names.LOCK_AFTER)).replace("{certificate_note}", note)

    def get_handlers(self, app):
        return [("/login", WorkshopLoginHandler)]

    async def authenticate(self, handler, data: dict) -> str | None:
        address = getattr(getattr(handler, "request", None), "remote_ip", "") or ""
        name, refusal, wrong = self.check(data, address)
        if refusal:
            if handler is not None:
                handler.labkit_refusal = refusal
            self.log.info("sign-in refused for %r from %s: %s", name[:32], address, refusal)
            if wrong:
                self.addresses.wrong(address)
                await asyncio.sleep(self.refusal_delay)  # a guesser's every wrong try costs time
            return None
        return name

    def check(self, data: dict, address: str = "") -> tuple[str, str, bool]:
        """(the name, why it may not sign in: "" when it may, whether a secret was wrong)."""
        name, code, pin = normalize(data.get("username", "")), data.get("code") or "", data.get("pin") or ""
        if (wait := self.addresses.wait(address)) > 0:
            return (
                name,
                (
                    f"Too many wrong codes or PINs from your address: wait {_minutes(wait)} and try again, "
                    "or ask your instructor."
                ),
                False,
            )
        names = Names(self.claims_file)
        if name == INSTRUCTOR:
            if held := names.waiting(name):
                return name, _held(name, held), False
            entered = code or data.get("password") or ""
            if self.admin_code and hmac.compare_digest(entered.encode(), self.admin_code.encode()):
                names.right(name)
                return name, "", False
            return name, _wrong("That is not the instructor's code.", name, names.wrong(name, lockable=False)), True
        if not (self.code and hmac.compare_digest(code.encode(), self.code.encode())):
            return name, "That workshop code is not right: ask your instructor for it.", True
        if name in RESERVED or not NAME.match(name):
            return (
                name,
                (
                    "Pick another name: 2 to 20 characters, starting with a letter, using a-z, 0-9 and -"
                    + (f" ({name} is kept for the hub)." if name in RESERVED else ".")
                ),
                False,
            )
        if not (pin.isdigit() and len(pin) >= PIN_DIGITS):
            return name, f"Your PIN must be at least {PIN_DIGITS} digits.", False
        answer = names.sign_in(name, pin)
        if answer.verdict in (_names.CLAIMED, _names.RIGHT):
            return name, "", False
        if answer.verdict == _names.WRONG:
            return (
                name,
                _wrong(
                    f"The name {name} is taken by someone else (or that is not the PIN you chose): "
                    "pick another name, or type your own PIN.",
                    name,
                    answer,
                ),
                True,
            )
        return name, _held(name, answer), False


def _wrong(said: str, name: str, answer: _names.Answer) -> str:
    """A refusal for a wrong secret, and what the next wrong one brings."""
    if answer.verdict == _names.LOCKED:
        return _held(name, answer)
    left = _names.LOCK_AFTER - answer.failures
    if name != INSTRUCTOR and left <= _names.LOCK_AFTER - _names.FREE_TRIES:
        said += (
            f" After {left} more wrong PIN{'s' if left != 1 else ''}, {name} is locked until your instructor "
            "unlocks it."
        )
    return said


def _held(name: str, answer: _names.Answer) -> str:
    if answer.verdict == _names.LOCKED:
        return (
            f"Signing in as {name} is locked after {answer.failures} wrong PINs: ask your instructor to unlock it "
            "(or to give you a new PIN) on the class view."
        )
    return f"Too many wrong tries for {name}: wait {_minutes(answer.wait)} before the next one."


def _minutes(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} minutes"
