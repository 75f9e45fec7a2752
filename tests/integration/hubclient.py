"""A learner of the class hub, as a browser would be one, over HTTP or HTTPS: sign in, open JupyterLab,
run code in a kernel of their own lab (over the kernel's websocket)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
import uuid
from urllib.parse import urlsplit

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


class HubLearner:
    def __init__(self, base: str, name: str, verify: str = "") -> None:
        """`verify`: the certificate (PEM) a hub over HTTPS is trusted by."""
        self.base, self.name = base, name
        self.http = requests.Session()
        if verify:
            self.http.verify = verify
            self.http.trust_env = False  # else a REQUESTS_CA_BUNDLE of the machine's is trusted instead
        self.kernel = ""

    def sign_in(self, code: str, pin: str = "") -> tuple[int, str]:
        """(HTTP status, the login page's error: "" when signed in)."""
        self.http.get(f"{self.base}/hub/login", timeout=30)
        xsrf = next((c.value for c in self.http.cookies if c.name == "_xsrf" and c.path.startswith("/hub")), "")
        form = {"_xsrf": xsrf, "username": self.name, "code": code, "pin": pin}
        answer = self.http.post(f"{self.base}/hub/login", data=form, timeout=300)
        error = re.findall(r'id="login-error">([^<]*)<', answer.text)
        return answer.status_code, html.unescape(error[0]) if error else ""

    def post(self, url: str, **params) -> requests.Response:
        """A POST as the hub's own pages send one: JupyterHub wants its _xsrf cookie's value back."""
        path = urlsplit(url).path
        mine = sorted(
            (c for c in self.http.cookies if c.name == "_xsrf" and path.startswith(c.path)), key=lambda c: -len(c.path)
        )
        return self.http.post(url, params=params, headers={"X-XSRFToken": mine[0].value if mine else ""}, timeout=60)

    def save(self, path: str, notebook: dict) -> int:
        """Save a notebook into this learner's workspace, as JupyterLab's File → Save does; its status."""
        xsrf = next(
            (c.value for c in self.http.cookies if c.name == "_xsrf" and c.path.startswith(f"/user/{self.name}")), ""
        )
        done = self.http.put(
            f"{self.base}/user/{self.name}/api/contents/{path}",
            headers={"X-XSRFToken": xsrf},
            json={"type": "notebook", "format": "json", "content": notebook},
            timeout=60,
        )
        return done.status_code

    def open_lab(self, timeout: float = 300) -> int:
        """Open JupyterLab, waiting while the hub shows "your server is starting"; its status."""
        deadline = time.monotonic() + timeout
        while True:
            page = self.http.get(f"{self.base}/user/{self.name}/lab", timeout=60)
            if page.url.endswith(f"/user/{self.name}/lab") or time.monotonic() > deadline:
                return page.status_code
            time.sleep(0.5)

    def run(self, code: str, timeout: float = 300) -> str:
        """Run `code` in this learner's kernel (started on first use); its text output."""
        return asyncio.run(self._run(code, timeout))

    async def _run(self, code: str, timeout: float) -> str:
        xsrf = next(
            (c.value for c in self.http.cookies if c.name == "_xsrf" and c.path.startswith(f"/user/{self.name}")), ""
        )
        if not self.kernel:
            made = self.http.post(
                f"{self.base}/user/{self.name}/api/kernels",
                headers={"X-XSRFToken": xsrf},
                json={"name": "python3"},
                timeout=60,
            )
            assert made.status_code == 201, f"{self.name}'s kernel: {made.status_code} {made.text[:800]}"
            self.kernel = made.json()["id"]
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        url = self.base.replace("http", "ws", 1) + f"/user/{self.name}/api/kernels/{self.kernel}/channels"
        trust = {"ca_certs": self.http.verify} if isinstance(self.http.verify, str) else {}
        socket = await websocket_connect(
            HTTPRequest(
                url, headers={"Cookie": cookie, "X-XSRFToken": xsrf}, connect_timeout=60, request_timeout=60, **trust
            )
        )
        msg_id = uuid.uuid4().hex
        await socket.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": self.name,
                        "session": uuid.uuid4().hex,
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                    },
                }
            )
        )
        said = []
        try:
            while True:
                msg = json.loads(await asyncio.wait_for(socket.read_message(), timeout))
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    said.append(content["text"])
                elif kind in ("execute_result", "display_data"):
                    said.append(content["data"].get("text/plain", ""))
                elif kind == "error":
                    said.append(f"{content['ename']}: {content['evalue']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    return "".join(said)
        finally:
            socket.close()
