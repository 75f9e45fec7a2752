"""Image bundles (`docker save` archives), mirror names, and the Docker Hub probe."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import requests

from labkit.errors import BundleError, LabkitError
from labkit.registries import seeding
from labkit.registries.bundles import names as bundle_names
from labkit.registries.seeding import hub_reachable, mirror_ref, repo_tag


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _bundle(path: Path, manifest: object) -> Path:
    return _tar(path, {"manifest.json": json.dumps(manifest).encode(), "blobs/sha256/abc": b"layer"})


def test_bundle_names_adds_latest_where_missing(tmp_path):
    bundle = _bundle(
        tmp_path / "b.tar",
        [
            {"Config": "c1.json", "RepoTags": ["busybox:latest", "nginx"], "Layers": []},
            {"Config": "c2.json", "RepoTags": ["docker.io/library/debian:bookworm-slim"], "Layers": []},
        ],
    )
    assert bundle_names(bundle) == ["busybox:latest", "nginx:latest", "docker.io/library/debian:bookworm-slim"]


def test_bundle_names_port_of_a_registry_is_not_a_tag(tmp_path):
    bundle = _bundle(tmp_path / "b.tar", [{"RepoTags": ["127.0.0.1:5001/library/nginx"]}, {"RepoTags": None}])
    assert bundle_names(bundle) == ["127.0.0.1:5001/library/nginx:latest"]


def _refused(path: Path) -> BundleError:
    with pytest.raises(BundleError) as info:
        bundle_names(path)
    assert isinstance(info.value, LabkitError)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert "\n  Next:" in str(info.value)
    return info.value


def test_non_tar_file_is_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a tar archive\n" * 40)
    assert "not a `docker save` archive" in _refused(text).message


def test_tar_without_manifest_is_refused(tmp_path):
    bundle = _tar(tmp_path / "b.tar", {"hello.txt": b"hi"})
    assert "not a `docker save` archive" in _refused(bundle).message


def test_manifest_that_is_not_a_list_is_refused(tmp_path):
    bundle = _bundle(tmp_path / "b.tar", {"RepoTags": ["busybox:latest"]})
    assert "not a list" in _refused(bundle).message


def test_missing_file_is_refused(tmp_path):
    assert "does not exist" in _refused(tmp_path / "nothing-here.tar").message


def test_manifest_entries_that_are_not_objects_are_refused(tmp_path):
    _refused(_bundle(tmp_path / "b.tar", ["busybox:latest"]))


def test_repo_tag_and_mirror_ref():
    assert repo_tag("nginx:latest") == ("library/nginx", "latest")
    assert repo_tag("nginx") == ("library/nginx", "latest")
    assert repo_tag("debian:bookworm-slim") == ("library/debian", "bookworm-slim")
    assert mirror_ref("127.0.0.1:5001", "debian:bookworm-slim") == "127.0.0.1:5001/library/debian:bookworm-slim"


def test_hub_not_probed_when_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("hub_reachable made a network call although LABKIT_OFFLINE=1")

    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    monkeypatch.setattr(seeding.requests, "get", no_network)
    assert hub_reachable() is False


def test_hub_probe_uses_requests_get(monkeypatch):
    """The offline test patches the function the probe really calls."""
    calls = []

    def refused(url, timeout):
        calls.append((url, timeout))
        raise requests.exceptions.ConnectionError("no route")

    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    monkeypatch.setattr(seeding.requests, "get", refused)
    assert hub_reachable() is False
    assert calls == [(seeding.HUB_PROBE_URL, 3)]
    monkeypatch.setattr(seeding.requests, "get", lambda url, timeout: object())
    assert hub_reachable() is True


def test_a_bundle_cut_short_is_refused_before_any_engine_loads_it(tmp_path):
    """A copy that did not finish (a USB stick pulled out): its last layer goes past the file's end."""
    whole = _tar(tmp_path / "whole.tar", {"blobs/sha256/abc": b"x" * 40000, "manifest.json": b"[]"})
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[:20000])
    error = _refused(cut)
    assert "cut short" in error.message or "not all of one" in error.message
