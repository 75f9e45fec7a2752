"""The instructor's class view: a JupyterHub service at /services/class/, for the admin only.

    python -m labkit.classroom._service      (started by the hub, with LABKIT_HUB_HOME set)

A page that asks for the class every second and redraws the grid (learners by exercises: passed,
or failed with the feedback the learner saw; hints; who is stuck; the pass rate per exercise), a
CSV of it, a button that collects every learner's notebooks into one folder and gives the
`labkit grade` command for them (pasted as is, it grades every notebook of every learner), and for
each learner a button that unlocks their name after too many wrong PINs, one that gives them a
new PIN (`_names`), and their lab's health (running, its engine answering, its memory against its
limit) with a button that restarts it, their work kept (through the hub's API: the service's token holds
the `class-view` role, `hub._config`).
Only a user holding the scope `access:services!service=class` gets in: the hub's admin
(`instructor`); learners get 403.

Each learner's progress store is read from a copy (the database and its write-ahead log, copied to
a temporary folder): opening the learner's own file as root would leave files of root's beside it
that the learner's lab could no longer write.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import httpclient, ioloop, web

from .. import sandbox
from ..course import FILE_NAME, ProgressStore, catalog
from ..errors import LabkitError
from ._classview import ClassView, class_view
from ._names import Names
from ._spawner import PROBLEM_FILE

NAME = "class"
HEALTH_EVERY = 5.0  # seconds a reading of the labs' health is shown before it is read again


def read_class(learners: Path, now: float | None = None) -> ClassView:
    """The class as its learners' progress stores say now."""
    with tempfile.TemporaryDirectory(prefix="labkit-class-") as tmp:
        stores = {}
        unreadable = {}
        for folder in (
            sorted(p for p in learners.iterdir() if p.is_dir() and not p.is_symlink()) if learners.is_dir() else []
        ):
            source = folder / "progress" / FILE_NAME
            copy = Path(tmp) / folder.name / FILE_NAME
            copy.parent.mkdir()
            for suffix in ("", "-wal"):
                if _plain_file(Path(f"{source}{suffix}")):  # a learner's link to another file is not followed
                    shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
            try:
                store = ProgressStore(copy)
                store.since_reset()
            except LabkitError as e:  # one learner's broken store does not hide the class
                unreadable[folder.name] = f"their progress cannot be read ({e.message})"
                copy.unlink(missing_ok=True)
                Path(f"{copy}-wal").unlink(missing_ok=True)
                store = ProgressStore(copy)
            stores[folder.name] = store
        view = class_view(stores, catalog.EXERCISES, now or time.time())
    for row in view.learners:
        row.problem = unreadable.get(row.name, "")
        problem = learners / row.name / PROBLEM_FILE
        try:
            if _plain_file(problem):
                row.problem = json.loads(problem.read_text()).get("problem", "") or row.problem
        except (OSError, ValueError, AttributeError):
            pass
    return view


def collect(home: Path, now: float | None = None) -> tuple[Path, int]:
    """Every learner's notebooks copied to collected/<time>/<learner>/; (that folder, how many)."""
    (home / "collected").mkdir(mode=0o700, exist_ok=True)  # learners' work: the instructor's (root's) only
    target = home / "collected" / time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    count = 0
    for folder in sorted((home / "learners").iterdir()) if (home / "learners").is_dir() else []:
        if folder.is_symlink() or (folder / "workspace").is_symlink():
            continue
        for notebook in sorted(n for n in (folder / "workspace").glob("*.ipynb") if _plain_file(n)):
            (target / folder.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, target / folder.name / notebook.name)
            count += 1
    return target, count


def grade_command(folder: Path, environ: dict[str, str] | None = None) -> tuple[str, Path]:
    """(the command that grades every notebook collected in `folder`, pasted as is into a shell on this
    machine; where its reports go): this labkit by its full path (sudo's PATH has no virtual
    environment's), the class lab's home (sudo gives root's own), the reports beside the folder, with
    the gradebooks Canvas and Moodle import."""
    environ = os.environ if environ is None else environ
    labkit = Path(sys.executable).with_name("labkit")
    program = [str(labkit)] if labkit.exists() else [sys.executable, "-m", "labkit"]
    out = folder.with_name(f"{folder.name}-grades")
    variables = [f"{name}={environ[name]}" for name in ("LABKIT_HOME", "LABKIT_CACHE") if environ.get(name)]
    root = [] if os.geteuid() != 0 or not shutil.which("sudo") else ["sudo"]
    argv = [
        *root,
        *(["env", *variables] if variables else []),
        *program,
        "grade",
        str(folder),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--format",
        "canvas",
        "--format",
        "moodle",
    ]
    return shlex.join(argv), out


def _plain_file(path: Path) -> bool:
    """A regular file, not a link: what root reads out of a learner's folder."""
    return path.is_file() and not path.is_symlink()


async def hub_api(method: str, path: str, body: dict | None = None) -> tuple[int, dict | list | None]:
    """The hub's REST API, with this service's token: (status, the answer's JSON)."""
    client = httpclient.AsyncHTTPClient()
    answer = await client.fetch(
        f"{os.environ['JUPYTERHUB_API_URL'].rstrip('/')}/{path}",
        method=method,
        headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"},
        body=json.dumps(body) if body is not None else (b"" if method in ("POST", "PUT") else None),
        allow_nonstandard_methods=True,
        raise_error=False,
        request_timeout=30,
    )
    try:
        return answer.code, json.loads(answer.body) if answer.body else None
    except ValueError:
        return answer.code, None


class Labs:
    """Each learner's lab as the hub (its spawner's state names the sandbox) and the machine (its
    engine, its cgroup) say, read at most every HEALTH_EVERY seconds however many pages ask."""

    def __init__(self, limit: int) -> None:
        self.limit, self.read_at, self.labs = limit, 0.0, {}
        self._reading: asyncio.Future | None = None

    async def now(self) -> dict[str, dict]:
        if time.monotonic() - self.read_at > HEALTH_EVERY:
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._read())
            try:
                await self._reading
            finally:
                self._reading = None
        return self.labs

    async def _read(self) -> None:
        code, users = await hub_api("GET", "users?limit=200")
        labs = {}
        for user in users if code == 200 and isinstance(users, list) else []:
            server = (user.get("servers") or {}).get("") or {}
            name = (server.get("state") or {}).get("sandbox", "")
            health = await asyncio.get_running_loop().run_in_executor(None, sandbox.health, name) if name else None
            labs[user["name"]] = {
                "running": bool(server.get("ready")),
                "pending": server.get("pending") or "",
                "engine": health.engine if health else None,
                "memory": health.memory if health else None,
                "limit": self.limit,
            }
        self.labs, self.read_at = labs, time.monotonic()


async def restart(name: str, timeout: float = 120) -> str:
    """`name`'s lab taken down and made again, their work kept; "" when done, else why not."""
    who = quote(name, safe="")
    code, _ = await hub_api("DELETE", f"users/{who}/server")
    if code == 404:
        return f"there is no learner {name}"
    deadline = time.monotonic() + timeout
    while code in (202, 204):  # stopping: wait until the hub says it has no server
        code, user = await hub_api("GET", f"users/{who}")
        if code == 200 and isinstance(user, dict) and not user.get("servers"):
            break
        if time.monotonic() > deadline:
            return "their lab did not stop in time: try again in a minute"
        await asyncio.sleep(0.5)
    code, answer = await hub_api("POST", f"users/{who}/server")
    if code in (201, 202):
        return ""
    return (answer or {}).get("message", f"the hub answered {code}") if isinstance(answer, dict) else str(code)


class _Handler(HubOAuthenticated, web.RequestHandler):
    @property
    def home(self) -> Path:
        return self.settings["hub_home"]


class PageHandler(_Handler):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE)


class ViewHandler(_Handler):
    @web.authenticated
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        view = read_class(self.home / "learners").to_dict()
        view["names"] = Names(self.home / "names.json").taken()  # wrong PINs, locks
        view["labs"] = await self.settings["labs"].now()
        self.finish(json.dumps(view))


class CsvHandler(_Handler):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="class-progress.csv"')
        self.finish(read_class(self.home / "learners").to_csv())


class CollectHandler(_Handler):
    @web.authenticated
    def post(self) -> None:
        folder, count = collect(self.home)
        command, out = grade_command(folder)
        self.finish({"folder": str(folder), "notebooks": count, "grade": command, "reports": str(out / "report.html")})


class NameHandler(_Handler):
    """POST api/unlock?name=N: N may sign in again; POST api/pin?name=N: a new PIN for N, shown once."""

    @web.authenticated
    def post(self, action: str) -> None:
        names, name = Names(self.home / "names.json"), self.get_argument("name")
        if action == "unlock":
            done = names.unlock(name)
            self.finish({"name": name, "unlocked": done})
        else:
            pin = names.new_pin(name)
            self.finish({"name": name, "pin": pin})


class RestartHandler(_Handler):
    """POST api/restart?name=N: N's lab taken down and made again (their work kept)."""

    @web.authenticated
    async def post(self) -> None:
        name = self.get_argument("name")
        why = await restart(name)
        self.settings["labs"].read_at = 0.0  # the next view reads the labs again
        self.finish({"name": name, "restarted": not why, "problem": why})


def app(prefix: str, home: Path) -> web.Application:
    route = lambda path: url_path_join(prefix, path)  # noqa: E731
    return web.Application(
        [
            (route(""), PageHandler),
            (route("api/view"), ViewHandler),
            (route("class.csv"), CsvHandler),
            (route("api/collect"), CollectHandler),
            (route(r"api/(unlock|pin)"), NameHandler),
            (route("api/restart"), RestartHandler),
            (route("oauth_callback"), HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
        hub_home=home,
        labs=Labs(int(os.environ.get("LABKIT_HUB_LAB_MEMORY") or 0)),
        xsrf_cookies=False,
    )


def main() -> None:
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    url = os.environ["JUPYTERHUB_SERVICE_URL"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    app(prefix, Path(os.environ["LABKIT_HUB_HOME"])).listen(port, "127.0.0.1")
    hub = os.getppid()  # a hub killed hard leaves its service behind: it goes once it is another's child
    ioloop.PeriodicCallback(lambda: os.getppid() == hub or os._exit(0), 2000).start()
    ioloop.IOLoop.current().start()


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Docker Images Lab: the class</title>
<style>
 body{font-family:system-ui,sans-serif;margin:1.5em;color:#1f2328}
 table{border-collapse:collapse;font-size:0.9em} th,td{border:1px solid #d0d7de;padding:0.3em 0.5em;vertical-align:top}
 th{background:#f6f8fa;font-weight:600} td.passed{background:#dafbe1} td.failed{background:#fff1e5}
 td.stuck,tr.stuck td.name{outline:2px solid #cf222e} .feedback{font-size:0.8em;color:#57606a;max-width:18em}
 .why{color:#cf222e;font-size:0.85em} #updated{color:#57606a;font-size:0.85em}
 button.small{font-size:0.75em} .pin{font-family:monospace;background:#fff8c5}
</style></head>
<body>
<h1>The class</h1>
<p><a href="class.csv" id="csv">Download the class's progress (CSV)</a>
 · <button id="collect">Collect every learner's notebooks</button> <span id="collected"></span></p>
<p id="reports"></p>
<p id="updated">loading…</p>
<p id="locked"></p>
<table id="grid"></table>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
// JupyterHub asks a script's requests for the _xsrf cookie's value back (a page's own navigation needs none)
const xsrf = () => decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "");
const pins = {};  // new PINs given on this page, shown until it is closed
async function name(action, who) {
  const r = await fetch(`api/${action}?name=${encodeURIComponent(who)}`, {method: "POST", \
headers: {"X-XSRFToken": xsrf()}});
  const j = await r.json();
  if (action === "pin" && j.pin) pins[who] = j.pin;
  if (action === "restart") restarts[who] = j.restarted ? "restarting…" : `not restarted: ${j.problem}`;
  draw();
}
const restarts = {};  // what a restart asked on this page said
const mb = n => `${Math.round(n / 2 ** 20)} MB`;
const health = (who, lab) => !lab ? "" : `<div class="lab" data-lab-for="${esc(who)}">`
  + (lab.running ? `lab running · engine ${lab.engine ? "up" : "<span class=why>not answering</span>"}`
     + (lab.memory != null ? ` · ${mb(lab.memory)} of ${mb(lab.limit)}` : "")
     : lab.pending ? `lab: ${esc(lab.pending)}…` : "no lab running")
  + ` <button class="small restart" data-name="${esc(who)}">Restart lab</button>`
  + (restarts[who] ? ` <span>${esc(restarts[who])}</span>` : "") + "</div>";
const buttons = (who, n) => (n && n.locked ? \
`<div class="why">sign-in locked after ${n.failures} wrong PINs</div>` : "")
  + (n && (n.locked || n.failures) ? `<button class="small unlock" data-name="${esc(who)}">Unlock</button> ` : "")
  + `<button class="small newpin" data-name="${esc(who)}">New PIN</button>`
  + (pins[who] ? ` <span class="pin" data-pin-for="${esc(who)}">new PIN: ${esc(pins[who])}</span>` : "");
document.addEventListener("click", e => {
  const b = e.target.closest("button[data-name]");
  if (!b) return;
  const action = b.classList.contains("unlock") ? "unlock" : b.classList.contains("restart") ? "restart" : "pin";
  if (action === "restart" && !confirm(`Restart ${b.dataset.name}'s lab? Their notebooks are kept; \
running kernels and containers stop.`)) return;
  name(action, b.dataset.name);
});
async function draw() {
  const r = await fetch("api/view", {cache: "no-store", headers: {"X-XSRFToken": xsrf()}});
  if (!r.ok) { document.getElementById("updated").textContent = "cannot read the class: " + r.status; return; }
  const v = await r.json();
  let h = "<tr><th>learner</th>" + \
v.exercises.map(e => `<th title="${esc(e.title)}">${esc(e.id)}</th>`).join("") + "</tr>";
  for (const l of v.learners) {
    h += `<tr class="${l.stuck.length ? "stuck" : ""}" \
data-learner="${esc(l.name)}"><td class="name"><b>${esc(l.name)}</b>`;
    h += l.stuck.map(w => `<div class="why">stuck: ${esc(w)}</div>`).join("");
    h += l.problem ? `<div class="why">lab did not start: ${esc(l.problem)}</div>` : "";
    h += `<div>${buttons(l.name, v.names[l.name])}</div>`;
    h += health(l.name, v.labs[l.name]);
    h += "</td>";
    for (const e of v.exercises) {
      const c = l.cells[e.id];
      const mark = c.status === "passed" ? "✓ passed" : c.status === "failed" ? "✗ failed" : "";
      const hints = c.hints ? ` · ${c.hints} hint${c.hints > 1 ? "s" : ""}` : "";
      const fb = c.status === "failed" ? `<div class="feedback">${esc(c.feedback)}</div>` : "";
      h += `<td class="${c.status === "not tried" ? "" : c.status}${c.stuck ? " stuck" : ""}" \
data-exercise="${esc(e.id)}">${mark}${hints}${fb}</td>`;
    }
    h += "</tr>";
  }
  h += "<tr><th>passed</th>" + v.exercises.map(e => `<th>${Math.round(100 * e.pass_rate)}%</th>`).join("") + "</tr>";
  document.getElementById("grid").innerHTML = h;
  const shown = new Set(v.learners.map(l => l.name));  // names locked before their first lab: not in the grid
  const more = Object.entries(v.names).filter(([who, n]) => !shown.has(who) && (n.locked || n.failures));
  document.getElementById("locked").innerHTML = \
more.map(([who, n]) => `<b>${esc(who)}</b> ${buttons(who, n)}`).join(" · ");
  document.getElementById("updated").textContent = \
`${v.learners.length} learner(s), updated ${new Date(v.now * 1000).toLocaleTimeString()}`;
}
document.getElementById("collect").onclick = async () => {
  const r = await fetch("api/collect", {method: "POST", headers: {"X-XSRFToken": xsrf()}});
  const j = await r.json();
  document.getElementById("collected").textContent = \
`${j.notebooks} notebooks in ${j.folder}; grade them all, in a shell on this machine: ${j.grade}`;
  document.getElementById("reports").textContent = \
`The reports will be in ${j.reports} (with report.csv, report.json, and each graded notebook beside it).`;
};
draw(); setInterval(draw, 1000);
</script></body></html>
"""


if __name__ == "__main__":
    main()
