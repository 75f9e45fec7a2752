"""The lab's Debian package source, alone: a real HTTP proxy in this process, an upstream of the
test's own in place of Debian's archive."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from labkit.registries import package_source
from labkit.registries.package_source import holds, immutable, server, store_path


@contextmanager
def serving(made: ThreadingHTTPServer):
    thread = threading.Thread(target=made.serve_forever, daemon=True)
    thread.start()
    try:
        yield made.server_address[1]
    finally:
        made.shutdown()
        made.server_close()


class Archive(BaseHTTPRequestHandler):
    """Debian's archive, as the test tells it to answer; every request counted."""

    files: dict[str, bytes] = {}
    asked: list[str] = []

    def do_GET(self):  # noqa: N802
        self.asked.append(self.path)
        data = self.files.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def archive(monkeypatch):
    Archive.files, Archive.asked = {}, []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Archive)) as port:
        monkeypatch.setenv("http_proxy", "")  # the machine's own proxy, if any, is not the archive
        monkeypatch.setenv("no_proxy", "*")
        monkeypatch.setenv("LABKIT_DEBIAN_MIRROR", f"http://127.0.0.1:{port}/debian")  # Debian's archive, for the store
        yield f"127.0.0.1:{port}"


def ask(proxy_port: int, url: str) -> requests.Response:
    return requests.get(url, proxies={"http": f"http://127.0.0.1:{proxy_port}"}, timeout=10)


def test_a_package_is_fetched_once_kept_and_served_offline_after(tmp_path, archive):
    deb = f"http://{archive}/debian/pool/main/c/curl/curl_7.88.1_amd64.deb"
    Archive.files["/debian/pool/main/c/curl/curl_7.88.1_amd64.deb"] = b"the package"
    with serving(server(tmp_path, "127.0.0.1", 0, offline=False)) as port:
        assert ask(port, deb).content == b"the package"
        assert ask(port, deb).content == b"the package"
    assert len(Archive.asked) == 1  # a package never changes: kept, not asked again
    assert holds(tmp_path, "curl")
    Archive.files.clear()
    with serving(server(tmp_path, "127.0.0.1", 0, offline=True)) as port:
        assert ask(port, deb).content == b"the package"
        missing = ask(port, f"http://{archive}/debian/pool/main/v/vim/vim_9_amd64.deb")
        assert missing.status_code == 404 and "does not hold" in missing.text
        elsewhere = ask(port, "http://example.com/index.html")
        assert elsewhere.status_code == 502 and "no internet" in elsewhere.text


def test_an_index_is_asked_of_the_archive_first_and_the_kept_one_serves_when_it_cannot_be(tmp_path, archive):
    index = f"http://{archive}/debian/dists/bookworm/InRelease"
    Archive.files["/debian/dists/bookworm/InRelease"] = b"old"
    with serving(server(tmp_path, "127.0.0.1", 0, offline=False)) as port:
        assert ask(port, index).content == b"old"
        Archive.files["/debian/dists/bookworm/InRelease"] = b"new"
        assert ask(port, index).content == b"new"  # indices change: always asked when it can be
    with serving(server(tmp_path, "127.0.0.1", 0, offline=False)) as port:
        unreachable = index.replace(archive, "127.0.0.1:9")
        (store_path(tmp_path, "127.0.0.1:9", "/debian/dists/bookworm/InRelease")).parent.mkdir(parents=True)
        store_path(tmp_path, "127.0.0.1:9", "/debian/dists/bookworm/InRelease").write_bytes(b"kept")
        assert ask(port, unreachable).content == b"kept"


def test_a_shared_store_is_read_and_never_written(tmp_path, archive):
    shared, own = tmp_path / "class", tmp_path / "lab"
    kept = store_path(shared, archive, "/debian/pool/main/c/curl/curl_1_amd64.deb")
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"from the class")
    Archive.files["/debian/pool/main/o/other/other_1_amd64.deb"] = b"fetched"
    with serving(server(own, "127.0.0.1", 0, offline=False, shared=(shared,))) as port:
        assert ask(port, f"http://{archive}/debian/pool/main/c/curl/curl_1_amd64.deb").content == b"from the class"
        assert ask(port, f"http://{archive}/debian/pool/main/o/other/other_1_amd64.deb").content == b"fetched"
    assert not store_path(shared, archive, "/debian/pool/main/o/other/other_1_amd64.deb").exists()
    assert store_path(own, archive, "/debian/pool/main/o/other/other_1_amd64.deb").read_bytes() == b"fetched"


@pytest.mark.parametrize(
    "host, path",
    [
        ("deb.debian.org", "/debian/../../etc/passwd"),
        ("a/b", "/debian/pool/x.deb"),
        ("deb.debian.org", "/debian/pool/%2e%2e/x"),
        ("deb.debian.org", "/"),
    ],
)
def test_no_url_names_a_file_outside_the_store(tmp_path, host, path):
    assert store_path(tmp_path, host, path) is None


def test_packages_and_hashed_indices_never_change_other_indices_do():
    assert immutable("/debian/pool/main/c/curl/curl_7.88.1_amd64.deb")
    assert immutable("/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/abc")
    assert not immutable("/debian/dists/bookworm/InRelease")
    assert not immutable("/index.html")
    assert package_source.ARCHIVE.match("/debian-security/dists/bookworm-security/InRelease")


def test_the_lab_names_its_package_source_in_the_client_configuration(tmp_path):
    import json

    from labkit.engines.docker_cli import offer_packages

    (tmp_path / "config.json").write_text(json.dumps({"auths": {"127.0.0.1:5000": {"auth": "x"}}}))
    offer_packages(tmp_path, "http://10.1.2.1:4000")
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["proxies"]["default"] == {"httpProxy": "http://10.1.2.1:4000", "noProxy": "localhost,127.0.0.1,::1"}
    assert config["auths"] == {"127.0.0.1:5000": {"auth": "x"}}  # a login is kept
    offer_packages(tmp_path, "")
    assert "proxies" not in json.loads((tmp_path / "config.json").read_text())


def test_only_debians_archive_is_kept(tmp_path, archive, monkeypatch):
    """Anyone whose requests reach the package source (a hub learner's kernel shares the machine's
    network) could otherwise fill the class's store with any site's files under a pool/ path."""
    from labkit.registries.package_source import debian

    Archive.files["/x/pool/big.deb"] = b"not Debian's"
    monkeypatch.setenv("LABKIT_DEBIAN_MIRROR", "")
    with serving(server(tmp_path, "127.0.0.1", 0, offline=False)) as port:
        assert ask(port, f"http://{archive}/x/pool/big.deb").content == b"not Debian's"  # passed on
    assert not any(tmp_path.rglob("big.deb"))  # never kept
    assert debian("deb.debian.org") and debian("security.debian.org:80") and debian("ftp.de.debian.org")
    assert not debian("debian.org.evil.example") and not debian("example.com")
