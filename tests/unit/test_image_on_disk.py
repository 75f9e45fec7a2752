"""Lesson 11's reading of a saved image (labkit.course.checks.layouts): both formats `docker save`
writes, hashed as an engine hashes them, and a folder a learner changed or aimed outside itself."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from fakes import tar_bytes

from labkit.course.checks import layouts


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


LAYERS = [tar_bytes({"bin/sh": b"a shell"}), tar_bytes({"card.txt": b"Greetings\n"})]
DIFF_IDS = [f"sha256:{_sha(layer)}" for layer in LAYERS]
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": DIFF_IDS}})


def _classic(folder: Path) -> None:
    """Docker's older format (Engine 20.10): <digest>.json, <folder>/layer.tar uncompressed."""
    config = CONFIG.encode()
    (folder / f"{_sha(config)}.json").write_bytes(config)
    names = []
    for i, layer in enumerate(LAYERS):
        (folder / f"l{i}").mkdir(parents=True)
        (folder / f"l{i}" / "layer.tar").write_bytes(layer)
        names.append(f"l{i}/layer.tar")
    manifest = [{"Config": f"{_sha(config)}.json", "RepoTags": ["postcard:v1"], "Layers": names}]
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _oci(folder: Path) -> None:
    """Engine 25+: an OCI layout, every file a blob named by its digest, layers gzip'd (the containerd store)."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config = CONFIG.encode()
    (blobs / _sha(config)).write_bytes(config)
    names = []
    for layer in LAYERS:
        packed = gzip.compress(layer)
        (blobs / _sha(packed)).write_bytes(packed)
        names.append(f"blobs/sha256/{_sha(packed)}")
    manifest = [{"Config": f"blobs/sha256/{_sha(config)}", "RepoTags": ["postcard:v1"], "Layers": names}]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "index.json").write_text("{}")
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')


def test_both_formats_read_as_the_same_image(tmp_path):
    for make, oci in ((_classic, False), (_oci, True)):
        folder = tmp_path / make.__name__
        folder.mkdir()
        make(folder)
        saved = layouts.read(folder, "postcard:v1")
        assert not isinstance(saved, str), saved
        assert saved.oci is oci and saved.diff_ids == DIFF_IDS and saved.problems == ()


def test_a_changed_layer_or_config_is_a_problem_named(tmp_path):
    _oci(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())[0]
    (tmp_path / manifest["Layers"][1]).write_bytes(gzip.compress(tar_bytes({"card.txt": b"forged\n"})))
    config = tmp_path / manifest["Config"]
    config.write_text(config.read_text() + " ")
    saved = layouts.read(tmp_path, "postcard:v1")
    assert any("does not hash to its own name" in p for p in saved.problems), saved.problems
    assert any(p.startswith(f"the layer file {manifest['Layers'][1]} does not uncompress") for p in saved.problems)


def test_names_outside_the_folder_and_broken_files_are_sentences_not_tracebacks(tmp_path):
    assert layouts.read(tmp_path, "postcard:v1") == f"{tmp_path.name} has no manifest.json"
    (tmp_path / "manifest.json").write_text("{not json")
    assert "cannot be read" in layouts.read(tmp_path, "postcard:v1")
    secret = tmp_path.parent / "secret.json"
    secret.write_text(CONFIG)
    (tmp_path / "manifest.json").write_text(json.dumps([{"Config": "../secret.json", "Layers": []}]))
    assert layouts.read(tmp_path, "postcard:v1") == f"{tmp_path.name} has no file ../secret.json"
    (tmp_path / "manifest.json").write_text(json.dumps([{"Config": "a.json"}, {"Config": "b.json"}]))
    assert layouts.read(tmp_path, "postcard:v1") == f"{tmp_path.name}/manifest.json names no image postcard:v1"


def test_a_damaged_gzip_layer_or_a_config_of_another_shape_is_a_sentence_not_a_traceback(tmp_path):
    _oci(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())[0]
    layer = tmp_path / manifest["Layers"][0]
    layer.write_bytes(layer.read_bytes()[:40])  # a gzip cut short
    saved = layouts.read(tmp_path, "postcard:v1")
    assert any(p.startswith(f"the layer file {manifest['Layers'][0]} does not uncompress") for p in saved.problems)
    config = tmp_path / manifest["Config"]
    for shape in ("[1, 2]", '{"rootfs": "layers"}', '{"rootfs": {"diff_ids": [1]}}', "not json"):
        config.write_text(shape)
        said = layouts.read(tmp_path, "postcard:v1")
        assert said == f"{tmp_path.name}/{manifest['Config']} is not an image configuration (no rootfs.diff_ids)"


def test_a_fifo_in_place_of_a_learners_file_is_no_file_and_never_waited_on(tmp_path):
    """The tracker re-checks on every change of the workspace: a FIFO there must not hang it."""
    import os

    from labkit.course.checks.files import learner_text

    os.mkfifo(tmp_path / "manifest.json")
    assert learner_text(tmp_path / "manifest.json") is None
    assert layouts.read(tmp_path, "postcard:v1") == f"{tmp_path.name} has no manifest.json"
    (tmp_path / "text").write_text("é" * 3)
    assert learner_text(tmp_path / "text") == "ééé" and learner_text(tmp_path / "text", limit=2) == "é"
