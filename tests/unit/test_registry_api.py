"""RegistryClient against a tiny in-process imitation of the Registry HTTP API v2."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labkit.errors import CredentialsRefused, RegistryError, RegistryUnreachable
from labkit.machine.processes import free_port
from labkit.registries import RegistryClient

V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DIGEST = "sha256:" + "ab" * 32
ACCOUNT = ("learner", "s3cret")
MANIFESTS = {("library/nginx", "latest"): DIGEST, ("private/app", "v1"): DIGEST}
TAGS = {"library/nginx": ["latest", "1.25", "alpine"], "private/app": ["v1"]}


class FakeRegistry(BaseHTTPRequestHandler):
    """Open, except under /v2/private/, which needs the learner's basic auth."""

    requests: list[tuple[str, str, dict]] = []

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: object = None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _allowed(self) -> bool:
        if not self.path.startswith("/v2/private/"):
            return True
        expected = "Basic " + base64.b64encode(":".join(ACCOUNT).encode()).decode()
        return self.headers.get("Authorization") == expected

    def _route(self) -> None:
        type(self).requests.append((self.command, self.path, dict(self.headers)))
        path = self.path.split("?", 1)[0]
        if not self._allowed():
            self._answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": 'Basic realm="labkit"'})
        elif path == "/v2/":
            self._answer(200, {})
        elif path == "/v2/_catalog":
            self._answer(200, {"repositories": ["private/app", "library/nginx"]})
        elif path.startswith("/v2/broken/"):
            self._answer(500, {"errors": [{"code": "UNKNOWN"}]})
        elif "/manifests/" in path:
            repo, _, tag = path[len("/v2/") :].partition("/manifests/")
            if (repo, tag) not in MANIFESTS:
                self._answer(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})
            elif V2_MANIFEST in self.headers.get("Accept", ""):
                self._answer(200, None, {"Docker-Content-Digest": MANIFESTS[repo, tag]})
            else:  # a schema-1 answer: not the digest the engine records
                self._answer(200, None)
        elif path.endswith("/tags/list"):
            repo = path[len("/v2/") : -len("/tags/list")]
            if repo in TAGS:
                self._answer(200, {"name": repo, "tags": TAGS[repo]})
            else:
                self._answer(404, {"errors": [{"code": "NAME_UNKNOWN"}]})
        else:
            self._answer(404, {"errors": [{"code": "NOT_FOUND"}]})

    do_GET = do_HEAD = _route


@pytest.fixture
def registry(request) -> str:
    """The address of a fake registry, shut down after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    FakeRegistry.requests = []

    def finish() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    request.addfinalizer(finish)
    host, port = server.server_address[:2]
    return f"{host}:{port}"


def test_ping_and_is_up(registry):
    client = RegistryClient(registry)
    assert client.ping() == 200
    assert client.is_up()
    assert client.url == f"http://{registry}"


def test_manifest_digest_asks_for_v2_manifests(registry):
    client = RegistryClient(registry)
    assert client.manifest_digest("library/nginx", "latest") == DIGEST
    method, path, headers = FakeRegistry.requests[-1]
    assert (method, path) == ("HEAD", "/v2/library/nginx/manifests/latest")
    assert V2_MANIFEST in headers["Accept"]


def test_manifest_digest_of_unknown_tag_is_none(registry):
    client = RegistryClient(registry)
    assert client.manifest_digest("library/nginx", "no-such-tag") is None
    assert client.manifest_digest("library/nothing", "latest") is None


def test_tags_are_sorted_and_empty_for_unknown_repo(registry):
    client = RegistryClient(registry)
    assert client.tags("library/nginx") == ["1.25", "alpine", "latest"]
    assert client.tags("library/nothing") == []


def test_catalog(registry):
    assert RegistryClient(registry).catalog() == ["library/nginx", "private/app"]
    method, path, _ = FakeRegistry.requests[-1]
    assert (method, path) == ("GET", "/v2/_catalog?n=1000")


def test_credentials(registry):
    anonymous = RegistryClient(registry)
    with pytest.raises(CredentialsRefused) as info:
        anonymous.tags("private/app")
    assert info.value.url == f"http://{registry}"
    assert "refused" in info.value.message and "\n  Next:" in str(info.value)
    with pytest.raises(CredentialsRefused):
        anonymous.manifest_digest("private/app", "v1")
    with pytest.raises(CredentialsRefused):
        RegistryClient(registry, auth=("learner", "wrong")).tags("private/app")
    learner = RegistryClient(registry, auth=ACCOUNT)
    assert learner.tags("private/app") == ["v1"]
    assert learner.manifest_digest("private/app", "v1") == DIGEST


def test_server_error_is_a_registry_error(registry):
    with pytest.raises(RegistryError) as info:
        RegistryClient(registry).manifest_digest("broken/repo", "latest")
    assert not isinstance(info.value, (CredentialsRefused, RegistryUnreachable))
    assert "500" in info.value.message and "HEAD /v2/broken/repo/manifests/latest" in info.value.message
    assert "Next:" in str(info.value)


def test_unused_port_is_unreachable():
    address = f"127.0.0.1:{free_port()}"
    client = RegistryClient(address, timeout=2)
    assert client.is_up() is False
    with pytest.raises(RegistryUnreachable) as info:
        client.tags("library/nginx")
    assert info.value.url == f"http://{address}"
    assert f"http://{address}" in str(info.value)
    assert "\n  Next:" in str(info.value)
    assert isinstance(info.value.__cause__, Exception)
