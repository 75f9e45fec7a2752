"""Lesson 10's pure parts: a .dockerignore read by Docker's rules, and the files each layer of an
exported image holds, in both export formats (the engine's side: tests/integration/test_exercises.py)."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from fakes import tar_bytes

from labkit.course.catalog.multistage import ignored
from labkit.engines._sdk import _layer_listing


@pytest.mark.parametrize(
    "patterns, path, out",
    [
        ([".env"], ".env", True),
        (["/.env"], ".env", True),
        (["*.env"], ".env", True),
        (["**/.env"], "src/.env", True),
        (["*.env"], "src/.env", False),  # `*` stays within a folder
        ([".env", "!.env"], ".env", False),  # the last match wins
        (["# .env", ""], ".env", False),
        (["src"], "src/.env", True),  # a folder named takes what is inside
        (["Dockerfile*"], "Dockerfile.single", True),
        (["[.]env"], ".env", True),
    ],
)
def test_dockerignore_patterns_follow_dockers_rules(patterns, path, out):
    assert ignored(patterns, path) is out


def test_layers_of_both_export_formats_are_listed_in_manifest_order():
    base, page = tar_bytes({"bin/sh": b"x" * 5000}), tar_bytes({"usr/share/nginx/html/index.html": b"<h1>My site</h1>"})
    classic = tar_bytes(
        {
            "a1/layer.tar": page,  # the export's own order is not the layers'
            "a1/json": b"{}",
            "b2/layer.tar": base,
            "c0nf1g.json": b'{"rootfs": {}}',
            "manifest.json": json.dumps(
                [{"Config": "c0nf1g.json", "Layers": ["b2/layer.tar", "a1/layer.tar"]}]
            ).encode(),
        }
    )
    oci = tar_bytes(
        {
            "blobs/sha256/aaa": gzip.compress(page),  # the containerd store keeps layers compressed
            "blobs/sha256/bbb": base,
            "blobs/sha256/ccc": b'{"rootfs": {}}',
            "index.json": b"{}",
            "oci-layout": b"{}",
            "manifest.json": json.dumps(
                [{"Config": "blobs/sha256/ccc", "Layers": ["blobs/sha256/bbb", "blobs/sha256/aaa"]}]
            ).encode(),
        }
    )
    for export in (classic, oci):
        assert _layer_listing(io.BytesIO(export)) == [
            {"bin/sh": 5000},
            {"usr/share/nginx/html/index.html": 16},
        ]
