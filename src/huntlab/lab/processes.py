"""Supervision of the lab's local processes: pid files, logs, bounded waits, clean stops.

Each service runs in its own session (process group) with its output appended to
``$HUNTLAB_HOME/logs/<name>.log``; its pid, start time and argv go to
``$HUNTLAB_HOME/run/<name>.pid``. A service counts as running only when a live process has that
pid, was created at that time *and* carries in its environment the random tag recorded with it
(:data:`TAG_VARIABLE`; an environment survives the launchers' exec into Java, a command line
does not), so a stale record, a recycled pid or a record naming somebody else's process is
never signalled nor trusted. Such a record is removed and reported (:class:`Stranger`).

Services run with umask 077: whatever they write in the home is private to its owner. A secret
goes to a service only after :func:`listens` has checked that the socket belongs to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from huntlab.errors import ServiceError
from huntlab.files import PRIVATE_FILE, atomic_write, private_dirs
from huntlab.settings import verbose

POLL_SECONDS = 0.5
# Set in each service's environment to the random tag of its pid record.
TAG_VARIABLE = "HUNTLAB_SUPERVISED"
# What the services create (logs, data, runtime files) is readable by the lab's owner only.
SERVICE_UMASK = 0o077


def run_dir(home: Path) -> Path:
    return home / "run"


def logs_dir(home: Path) -> Path:
    return home / "logs"


def log_path(home: Path, name: str) -> Path:
    return logs_dir(home) / f"{name}.log"


def pid_path(home: Path, name: str) -> Path:
    return run_dir(home) / f"{name}.pid"


def _psutil() -> Any:
    try:
        import psutil
    except ImportError as exc:
        raise ServiceError(
            "the native lab needs the 'psutil' package: pip install 'huntlab[lab]'"
        ) from exc
    return psutil


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different ports free on ``host`` right now (all sockets stay bound until
    every port is picked, so none is handed out twice)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Running:
    name: str
    pid: int
    log: Path
    # What the service was started with (address, port, certificate), to notice a change.
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stranger:
    """A live process named by a service's pid record that huntlab did not start."""

    name: str
    pid: int
    command: str
    record: Path

    def message(self) -> str:
        return (
            f"{self.name}: its pid record {self.record} named process {self.pid} "
            f"({self.command}), which huntlab did not start: left it alone, removed the record"
        )


# While a process execs (unshare execs the Elasticsearch launcher, a shell script execs Java),
# its environment can read as empty, or be refused, for an instant: look again before calling
# it a stranger (which would also drop its pid record).
_ENVIRON_TRIES = 5
_ENVIRON_RETRY_SECONDS = 0.05


def _ours(proc: Any, started: float, tag: str) -> bool:
    """Whether ``proc`` is the one a pid record describes (see the module's note)."""
    psutil = _psutil()
    try:
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if abs(proc.create_time() - started) >= 1.0 or not tag:
            return False
        for attempt in range(_ENVIRON_TRIES):
            try:
                environ = proc.environ()
            except psutil.AccessDenied:  # mid-exec into the server's user namespace
                environ = {}
            if environ:
                return bool(environ.get(TAG_VARIABLE) == tag)
            if attempt + 1 < _ENVIRON_TRIES:
                time.sleep(_ENVIRON_RETRY_SECONDS)
        return False
    except psutil.Error:  # gone, or another user's (its environment is not ours to read)
        return False


def _describe(pid: int) -> str | None:
    """A live process's command line (or name) for a message; None when there is none."""
    psutil = _psutil()
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        try:
            command = " ".join(proc.cmdline()) or proc.name()
            owner = proc.username()
        except psutil.AccessDenied:
            return proc.name()
        return f"{command[:80]}, user {owner}"
    except psutil.Error:
        return None


def lookup(home: Path, name: str) -> Running | Stranger | None:
    """The service's process when its pid record names ours; a :class:`Stranger` when it
    names a live process huntlab did not start; None when nothing runs. A record that does
    not name our process is removed."""
    path = pid_path(home, name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        text = ""
    try:
        record = json.loads(text)
        pid = int(record["pid"])
        started, tag = float(record["started"]), str(record.get("tag", ""))
    except (ValueError, KeyError, TypeError):
        # Not a record we wrote (a bare pid, say): it names nothing of ours.
        path.unlink(missing_ok=True)
        bare = text.strip()
        command = _describe(int(bare)) if bare.isdigit() else None
        return Stranger(name, int(bare), command, path) if command is not None else None
    psutil = _psutil()
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        proc = None
    if proc is None or not _ours(proc, started, tag):
        path.unlink(missing_ok=True)
        command = _describe(pid)
        return Stranger(name, pid, command, path) if command is not None else None
    meta = record.get("meta")
    return Running(name, pid, log_path(home, name), meta if isinstance(meta, dict) else {})


def running(home: Path, name: str) -> Running | None:
    """The service's process if its pid record names a live process of ours."""
    found = lookup(home, name)
    return found if isinstance(found, Running) else None


def start(
    home: Path,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    meta: dict[str, Any] | None = None,
) -> Running:
    """Start ``argv`` detached, its output appended to the service's log; record its pid."""
    log = log_path(home, name)
    private_dirs(log.parent)
    private_dirs(pid_path(home, name).parent)
    tag = secrets.token_hex(16)
    child_env = dict(env if env is not None else os.environ)
    child_env[TAG_VARIABLE] = tag
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    with os.fdopen(fd, "ab") as out:
        out.write(f"\n--- huntlab: starting {name}: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=cwd,
                umask=SERVICE_UMASK,
                # Own session: the service survives the command that started it, and `down`
                # can signal its whole process group.
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ServiceError(f"{name}: cannot run {argv[0]} ({exc})") from exc
    started = _psutil().Process(proc.pid).create_time()
    record = {
        "pid": proc.pid,
        "started": started,
        "tag": tag,
        "argv": list(argv),
        "meta": meta or {},
    }
    atomic_write(pid_path(home, name), json.dumps(record))
    return Running(name, proc.pid, log, meta or {})


def ensure(
    home: Path,
    name: str,
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    meta: dict[str, Any],
    say: Callable[[str], None],
) -> Running:
    """Start ``name`` unless it already runs as asked; restart it when asked differently
    (another port, address or certificate: ``meta`` differs from the recorded one)."""
    current = running(home, name)
    if current is not None:
        if current.meta == meta:
            return current
        say(f"huntlab: restarting {name} with the new settings")
        stop(home, name)
    started = start(home, name, argv, env=env, cwd=cwd, meta=meta)
    if verbose():
        say(f"huntlab: started {name}, pid {started.pid}, log {started.log}: {' '.join(argv)}")
    return started


def family(pid: int) -> list[int]:
    """``pid`` and all its descendants (kernels and executors run in their own sessions)."""
    psutil = _psutil()
    try:
        proc = psutil.Process(pid)
        return [pid, *(child.pid for child in proc.children(recursive=True))]
    except psutil.Error:
        return []


def stop(
    home: Path, name: str, *, timeout: float = 30.0, say: Callable[[str], None] | None = None
) -> bool:
    """Stop the service and every process it started; True if something was running. A pid
    record naming a process huntlab did not start is removed, the process left alone, and
    ``say`` told so."""
    current = lookup(home, name)
    if isinstance(current, Stranger):
        if say is not None:
            say(current.message())
        return False
    if current is None:
        return False
    psutil = _psutil()
    procs = []
    for pid in family(current.pid):
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(current.pid, signal.SIGTERM)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _, still = psutil.wait_procs(alive, timeout=10)
    if still:
        pids = ", ".join(str(p.pid) for p in still)
        raise ServiceError(f"{name}: processes {pids} did not stop; see {current.log}")
    pid_path(home, name).unlink(missing_ok=True)
    return True


def listens(home: Path, name: str, port: int) -> bool:
    """Whether the service ``name`` (its process or one it started) is what listens on TCP
    ``port``: asked before a secret is sent to that port, or an answer on it is trusted."""
    current = running(home, name)
    if current is None:
        return False
    psutil = _psutil()
    for pid in family(current.pid):
        try:
            proc = psutil.Process(pid)
            sockets = getattr(proc, "net_connections", None) or proc.connections
            for conn in sockets(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return True
        except psutil.Error:
            continue
    return False


def _tail_of(fh: BinaryIO, end: int, lines: int) -> str:
    """The last ``lines`` lines before offset ``end`` of an open file (the position is left
    at ``end``)."""
    start = max(0, end - 16384)
    fh.seek(start)
    text = fh.read(end - start).decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as fh:
            return _tail_of(fh, fh.seek(0, os.SEEK_END), lines)
    except OSError:
        return ""


def follow(path: Path, lines: int) -> None:
    """Print the last ``lines`` lines of ``path``, then what is appended to it, until
    interrupted (Ctrl-C). The tail and the new lines meet exactly (nothing lost or doubled),
    and an interrupt at any point after the tail was printed ends it cleanly."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            print(_tail_of(fh, fh.tell(), lines), flush=True)
            while True:
                chunk = fh.read(65536)
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                else:
                    time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    log: Path,
    timeout: float,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``check`` until true; fail after ``timeout`` seconds (or when the process died)
    with a message naming the log to read."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if alive is not None and not alive():
            raise ServiceError(
                f"{what}: the process exited; read {log}\n--- last lines of {log}:\n{log_tail(log)}"
            )
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"{what}: not ready after {timeout:.0f} s; read {log}\n"
                f"--- last lines of {log}:\n{log_tail(log)}"
            )
        time.sleep(POLL_SECONDS)


def loopback_tls_context() -> ssl.SSLContext:
    # Health probes talk to our own process on loopback; the certificate (possibly made out
    # to a public host name) is checked by the people who connect from elsewhere.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def http_get(
    url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 3.0
) -> tuple[int, bytes] | None:
    """(status, body) of a GET, or None when nothing answers."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    context = loopback_tls_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError, ValueError):
        return None


def http_json(
    url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 3.0
) -> Any | None:
    answer = http_get(url, headers=headers, timeout=timeout)
    if answer is None or answer[0] != 200:
        return None
    try:
        return json.loads(answer[1])
    except ValueError:
        return None
