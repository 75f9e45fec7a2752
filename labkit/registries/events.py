"""The course registry's own events, kept in a file every tracker can watch.

The lab's course registry (Distribution) posts an event for each manifest pushed, pulled or deleted
(its notifications: `programs.config_text`); a small listener started beside it (this module, as a
process of its own) writes each push and delete as one JSON line to `<lab home>/registry-events/
events.jsonl`. A tracker in a kernel or in the lab's JupyterLab watches that folder as it watches
the workspace (inotify), so a push no engine event reports (BuildKit's `--push`, a registry client)
wakes the registry exercises too. Because the listener runs as long as the registry does, the
registry never has events it cannot deliver (it would try again forever, logging each time). The
file is kept short: past `KEEP` bytes it is moved to `events.jsonl.1`, one file of history.

    python -m labkit.registries.events PORT FILE
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PATH = "/registry-events"  # where the registry posts
KEEP = 256 * 1024  # bytes of events kept before the file is turned over
LARGEST = 1 << 20  # bytes of one envelope read; the registry's are a few kilobytes


def told(body: bytes) -> list[dict]:
    """The pushes and deletes in one of Distribution's envelopes, as the lines the file keeps."""
    try:
        events = json.loads(body).get("events") or []
    except (ValueError, AttributeError):
        return []
    kept = []
    for event in events:
        if not isinstance(event, dict) or event.get("action") not in ("push", "delete"):
            continue
        target = event.get("target") if isinstance(event.get("target"), dict) else {}
        kept.append(
            {
                "action": event["action"],
                "repository": str(target.get("repository", "")),
                "tag": str(target.get("tag", "")),
                "digest": str(target.get("digest", "")),
                "time": time.time(),
            }
        )
    return kept


def keep(lines: list[dict], out: Path, limit: int = KEEP) -> None:
    """Append the lines to `out` (one write: a watcher sees whole lines), turning it over past `limit`."""
    if not lines:
        return
    try:
        if out.stat().st_size > limit:
            os.replace(out, out.with_name(out.name + ".1"))
    except FileNotFoundError:
        pass
    with open(out, "a", encoding="utf-8") as file:
        file.write("".join(json.dumps(line) + "\n" for line in lines))


def server(port: int, out: Path) -> ThreadingHTTPServer:
    """The listener on 127.0.0.1:`port`, writing to `out` (not yet serving)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = min(int(self.headers.get("Content-Length") or 0), LARGEST)
            body = self.rfile.read(length)
            if self.path == PATH:
                keep(told(body), out)
            self.send_response(200 if self.path == PATH else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet: the file is the record
            pass

    out.parent.mkdir(parents=True, exist_ok=True)
    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main(argv: list[str] | None = None) -> int:
    port, out = (argv if argv is not None else sys.argv[1:])[:2]
    server(int(port), Path(out)).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
