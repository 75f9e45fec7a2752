"""Reset must remove only what the course created: no prune call anywhere in labkit."""

import re
from pathlib import Path

import labkit

PRUNE = re.compile(
    r"\bprune_(images|containers|volumes|networks|builds)\s*\("
    r"|\b(system|image|container|volume|network|builder) prune\b"
)


def test_no_prune_call_in_labkit():
    sources = list(Path(labkit.__file__).parent.rglob("*.py"))
    assert len(sources) > 10
    offenders = [str(p) for p in sources if PRUNE.search(p.read_text())]
    assert offenders == []


def test_the_pattern_catches_what_it_should():
    assert PRUNE.search("client.api.prune_images(filters=None)")
    assert PRUNE.search("subprocess.run('docker system prune -af', shell=True)")
    assert not PRUNE.search("Nothing is pruned: an image that is not on the lists")
