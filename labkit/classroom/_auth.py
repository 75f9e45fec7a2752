"""Signing in to the class's hub: a workshop code, a name the learner picks, and a PIN that keeps it theirs.

No accounts to prepare: whoever has the workshop code picks a name on first sign-in, with a PIN
of their choosing; the name is then theirs (the PIN's bcrypt hash is kept in `claims_file`), so a
learner who comes back, from any browser, signs in with the same name and PIN and finds their
work, and someone else who picks that name is told it is taken. The instructor signs in as
`instructor` with the admin code. Written here because no authenticator on PyPI does this:
JupyterHub's shared-password one lets anyone with the code be anyone, and NativeAuthenticator
needs the instructor to approve each sign-up.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from pathlib import Path

import bcrypt
from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from traitlets import Unicode, default

INSTRUCTOR = "instructor"
RESERVED = {INSTRUCTOR, "admin", "root", "hub", "user", "jupyter", "jupyterhub"}
NAME = re.compile(r"^[a-z][a-z0-9-]{1,19}$")
PIN_DIGITS = 4
BCRYPT_ROUNDS = 8  # one hash per sign-in, not per request

FORM = """
<form action="{{ authenticator_login_url }}" method="post" role="form">
  <div class="auth-form-header"><h1>Docker Images Lab</h1></div>
  <div class="auth-form-body m-auto">
    {% if login_error %}<p class="login_error" id="login-error">{{ login_error }}</p>{% endif %}
    <input type="hidden" name="_xsrf" value="{{ xsrf }}"/>
    <label for="code">Workshop code</label>
    <input id="code" name="code" type="password" class="form-control" autocomplete="off" required/>
    <label for="username_input">Your name (a-z, 0-9, -)</label>
    <input id="username_input" name="username" type="text" class="form-control" autocapitalize="off"
           autocorrect="off" value="{{ username or '' }}" required/>
    <label for="pin">A PIN of at least 4 digits (the first time you choose it; it keeps your name yours; the instructor leaves it empty)</label>
    <input id="pin" name="pin" type="password" class="form-control" inputmode="numeric" autocomplete="off"/>
    <input type="submit" id="login_submit" class="btn btn-jupyter form-control" value="Sign in"/>
  </div>
</form>
"""


def normalize(name: str) -> str:
    """The name as the hub keeps it: trimmed, lower case, spaces as dashes."""
    return re.sub(r"\s+", "-", (name or "").strip().lower())


class WorkshopLoginHandler(LoginHandler):
    """JupyterHub's login page, saying why a sign-in failed instead of "Invalid username or password"."""

    def _render(self, login_error=None, username=None, **kwargs):
        return super()._render(login_error=getattr(self, "labkit_refusal", None) or login_error, username=username, **kwargs)


class WorkshopAuthenticator(Authenticator):
    code = Unicode(help="The workshop code learners sign in with.").tag(config=True)
    admin_code = Unicode(help="The code the instructor signs in with, as `instructor`.").tag(config=True)
    claims_file = Unicode(help="Where the names taken and their PINs' hashes are kept (JSON, 0600).").tag(config=True)

    @default("allow_all")
    def _allow_all(self) -> bool:  # whoever has the code may sign in: that is the point
        return True

    @default("admin_users")
    def _admins(self) -> set[str]:
        return {INSTRUCTOR}

    def get_custom_html(self, base_url: str) -> str:
        return FORM

    def get_handlers(self, app):
        return [("/login", WorkshopLoginHandler)]

    async def authenticate(self, handler, data: dict) -> str | None:
        name, refusal = self.check(data)
        if refusal:
            if handler is not None:
                handler.labkit_refusal = refusal
            self.log.info("sign-in refused for %r: %s", name[:32], refusal)
            return None
        return name

    def check(self, data: dict) -> tuple[str, str]:
        """(the name, why it may not sign in: "" when it may)."""
        name, code, pin = normalize(data.get("username", "")), data.get("code") or "", data.get("pin") or ""
        if name == INSTRUCTOR:
            entered = code or data.get("password") or ""
            if self.admin_code and hmac.compare_digest(entered.encode(), self.admin_code.encode()):
                return name, ""
            return name, "That is not the instructor's code."
        if not (self.code and hmac.compare_digest(code.encode(), self.code.encode())):
            return name, "That workshop code is not right: ask your instructor for it."
        if name in RESERVED or not NAME.match(name):
            return name, ("Pick another name: 2 to 20 characters, starting with a letter, using a-z, 0-9 and -"
                          + (f" ({name} is kept for the hub)." if name in RESERVED else "."))
        if not (pin.isdigit() and len(pin) >= PIN_DIGITS):
            return name, f"Your PIN must be at least {PIN_DIGITS} digits."
        claims = self._claims()
        if name not in claims:
            claims[name] = bcrypt.hashpw(pin.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
            self._save(claims)
            return name, ""
        if bcrypt.checkpw(pin.encode(), claims[name].encode()):
            return name, ""
        return name, (f"The name {name} is taken by someone else (or that is not the PIN you chose): "
                      "pick another name, or type your own PIN.")

    def _claims(self) -> dict[str, str]:
        try:
            claims = json.loads(Path(self.claims_file).read_text())
        except FileNotFoundError:
            return {}
        return claims if isinstance(claims, dict) else {}

    def _save(self, claims: dict[str, str]) -> None:
        path = Path(self.claims_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(claims, handle)
        os.replace(tmp, path)
