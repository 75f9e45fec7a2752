"""How long-running work tells its progress to whoever is watching, without knowing who.

Library functions take a `Watcher`; the base one watches nothing. The command line passes one
that draws spinners (`cli.ConsoleWatcher`); tests pass the silent one.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

Update = Callable[[str], None]


class Watcher:
    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Update]:
        """A long step; the yielded function takes a line of detail as the work goes on."""
        yield lambda _text: None

    def note(self, text: str) -> None:
        """Something the user should know (a port moved, an image came from the cache)."""
