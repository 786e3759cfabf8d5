"""gunicorn on a free loopback port, for the bench scripts (load.py, webhook.py).

The listening socket is bound here and handed to gunicorn as ``fd://``: the port is known
before the app starts (``IVR_PUBLIC_URL`` must name it, since Twilio signs the full URL) and no
other process can take it in between. The server runs in its own session and is stopped
gracefully (SIGTERM: workers finish their requests and flush the journal) on the way out,
whatever happened.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gunicorn import config as gunicorn_config

from ivr import REPO_ROOT, SETTINGS, migrations
from ivr.store import make_engine


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str  # http://127.0.0.1:PORT: what every request is signed over (IVR_PUBLIC_URL)
    log_path: Path
    settings: dict[str, Any]


class ServerFailed(RuntimeError):
    pass


def gunicorn_argv(app_spec: str, fd: int, settings: Mapping[str, Any],
                  chdir: Path = REPO_ROOT) -> list[str]:
    """The command line for ``settings`` (worker_class, workers, threads, keep_alive, ...)."""
    argv = [
        sys.executable, "-m", "gunicorn", app_spec,
        "--bind", f"fd://{fd}",
        "--chdir", str(chdir),
        "--worker-class", settings["worker_class"],
        "--workers", str(settings["workers"]),
        "--threads", str(settings.get("threads", 1)),
        "--keep-alive", str(settings.get("keep_alive", 5)),
        "--timeout", str(settings.get("timeout", 30)),
        "--graceful-timeout", str(settings.get("graceful_timeout", 10)),
        "--backlog", str(settings.get("backlog", 2048)),
        "--log-level", "info",
    ]
    if hasattr(gunicorn_config, "ControlSocketDisable"):  # gunicorn ≥ 27 opens one in ~/.gunicorn
        argv.append("--no-control-socket")
    return argv


@contextlib.contextmanager
def gunicorn(app_spec: str, settings: Mapping[str, Any], env_for: Callable[[str], dict[str, str]],
             log_path: Path, *, chdir: Path = REPO_ROOT, cpus: set[int] | None = None,
             probe: str = "/voice") -> Iterator[Server]:
    """gunicorn serving ``app_spec`` until the block ends; ``env_for(base_url)`` is its
    environment. ``cpus``: pin the master and its workers to these CPUs (None: no pinning).
    stdout and stderr (gunicorn's and the app's logs) go to ``log_path``."""
    settings = dict(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(settings.get("backlog", 2048))
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    argv = gunicorn_argv(app_spec, listener.fileno(), settings, chdir)
    settings["argv"] = " ".join(argv[1:])
    if cpus:
        settings["cpus"] = ",".join(map(str, sorted(cpus)))

    def pin() -> None:  # runs in the child before exec; gunicorn's workers inherit it
        if cpus:
            os.sched_setaffinity(0, cpus)

    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, env=env_for(base), stdout=log, stderr=subprocess.STDOUT,
                                pass_fds=(listener.fileno(),), start_new_session=True,
                                preexec_fn=pin if cpus else None)
    listener.close()  # gunicorn holds it now
    server = Server(proc, base, log_path, settings)
    try:
        wait_until_up(server, settings["workers"], probe=probe)
        yield server
    finally:
        stop_server(server)


def wait_until_up(server: Server, workers: int, limit: float = 60.0, probe: str = "/voice") -> None:
    """Until the app answers HTTP and every worker has booted (or gunicorn died)."""
    split = urlsplit(server.base)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ServerFailed(f"gunicorn exited with status {server.proc.returncode}:\n"
                               + tail(server.log_path))
        try:
            conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port,
                                              timeout=2)
            conn.request("GET", probe)  # any HTTP answer means the app is loaded
            conn.getresponse().read()
            conn.close()
            booted = server.log_path.read_text(errors="replace").count("Booting worker")
            if booted >= workers and len(worker_pids(server.proc.pid)) >= workers:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ServerFailed(f"gunicorn did not answer within {limit:.0f} s:\n" + tail(server.log_path))


def stop_server(server: Server) -> None:
    """SIGTERM = graceful stop: workers finish their requests, flush the journal, exit."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=server.settings.get("graceful_timeout", 10) + 10)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def worker_pids(master: int) -> list[int]:
    """gunicorn's workers: the master's child processes, by pid."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(master):
            children.append(int(entry))
    return sorted(children)


def proc_status_kib(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmHWM = peak resident memory, VmRSS = now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def server_env(database_url: str, at: str | None) -> dict[str, str]:
    """This process's environment minus every line setting, plus a throwaway database.

    Dropping the inherited settings keeps a developer's SMTP or Twilio account from being used
    by fake calls; IVR_CONFIG_DIR is kept so another config can be load-tested.
    """
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    if os.environ.get("IVR_CONFIG_DIR"):
        env["IVR_CONFIG_DIR"] = os.environ["IVR_CONFIG_DIR"]
    env["DATABASE_URL"] = database_url
    # A spool of its own: the repository's instance/ one may hold a dev server's rows.
    if database_url.startswith("sqlite:///"):
        env["IVR_SPOOL"] = database_url.removeprefix("sqlite:///") + ".spool"
    else:
        env["IVR_SPOOL"] = os.path.join(tempfile.mkdtemp(prefix="ivr-spool-"), "spool.sqlite3")
    if at:
        env["IVR_NOW"] = at
    return env


def migrate(database_url: str) -> None:
    """What ``ivr db upgrade`` does: the server expects its schema to be there."""
    engine = make_engine(database_url)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()
