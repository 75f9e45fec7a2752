"""How long-running work reports progress, without knowing who is watching.

Library functions take a `Reporter`; the base class is silent. The command line
passes one that draws spinners (see `cli.py`); tests pass the silent one.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

Update = Callable[[str], None]


class Reporter:
    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Update]:
        """A long step; the yielded function takes a line of detail as the work goes on."""
        yield lambda _text: None

    def note(self, text: str) -> None:
        """Something the user should know (a port moved, an image came from the cache)."""
