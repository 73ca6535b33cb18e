"""Prefect's temporary API server for a one-off ``databook run``, started as early as possible.

Without ``PREFECT_API_URL`` Prefect starts a temporary server the first time a client needs one
(``SubprocessASGIServer``: a second Python process running Prefect's server under uvicorn) and
stops it when the process ends. Asking Prefect for it costs this process the import of
Prefect's server package first (1.5 s and 55 MiB on this project's 2-core VM), and only then
does the server's own process start importing the same. So the server's process is started
here, with the same command and environment Prefect uses, before that import; the import
follows while the server starts on the other core, and the running process is handed to
Prefect's ``SubprocessASGIServer``, which every Prefect client, event and log writer in this
process asks for the temporary server: they find it running, stop it at exit, and the run
record names its pid (``flows.nightly._engine``) for the next run to clean up after a killed
one.

A council avoids all of this with a long-running server (docs/how-to/nightly-operations.md).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager

log = logging.getLogger("databook")

#: uvicorn's exit code when it could not start: a port taken meanwhile (Prefect's own start
#: tries another port then, as this does) or a failed start-up (a database it cannot open),
#: hence a few tries only, within the start-up timeout.
PORT_TAKEN = 3
MAX_RESTARTS = 3


def warm() -> Callable[[], float | None]:
    """Start the temporary server now, unless a server is configured or Prefect's temporary
    server is disabled; returns the wait for it, which gives the seconds its start took (None:
    no temporary server). A start that fails is left to the flow's own start, which tries
    again and reports it as it always did."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return lambda: None
    asked = time.monotonic()
    port = _free_port()
    process = _start(port)
    # Stopped when this process ends, whatever happens before Prefect owns it (Prefect's own
    # stop, registered on adoption, runs first; this one then finds the process gone).
    atexit.register(lambda: _stop(process))
    log.info("Starting temporary server on http://127.0.0.1:%d (Prefect's, for this run)", port)
    took: list[float] = []

    def adopt() -> None:
        nonlocal port, process
        try:
            from prefect.server.api.server import SubprocessASGIServer
            from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

            deadline = asked + PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
            restarts = 0
            while not _healthy(port):
                ended = process.poll()
                if ended == PORT_TAKEN and restarts < MAX_RESTARTS and \
                        time.monotonic() < deadline:
                    restarts += 1
                    port = _free_port()
                    process = _start(port)
                elif ended is not None or time.monotonic() > deadline:
                    _stop(process)
                    log.debug("early start of Prefect's temporary server failed (exit %s)",
                              ended)
                    return
                time.sleep(0.1)
            server = SubprocessASGIServer()
            if server.running:  # something started one meanwhile: keep that one
                _stop(process)
                return
            server.port, server.server_process, server.running = port, process, True
            atexit.register(server.stop)
        except Exception:  # the flow's own start tries again and reports it
            _stop(process)
            log.debug("early start of Prefect's temporary server failed", exc_info=True)
            return
        took.append(time.monotonic() - asked)

    thread = threading.Thread(target=adopt, name="prefect-server-start", daemon=True)
    thread.start()

    def ready() -> float | None:
        thread.join()
        return took[0] if took else None

    return ready


def without_heartbeats() -> AbstractContextManager[object]:
    """No flow-run heartbeats on the temporary server: they let a long-running server mark a
    crashed run (the scheduled deployment keeps them), but this server ends with the run, and
    Prefect's heartbeat thread, which sleeps in 1 s steps, held a run's end up to 1 s."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


def _start(port: int) -> subprocess.Popen[bytes]:
    """Prefect's own command and environment for its temporary server
    (``SubprocessASGIServer._run_uvicorn_command``, Prefect 3.x), without this product's
    settings: the server needs none of them, and source URLs may hold passwords."""
    import prefect
    from prefect.settings import PREFECT_HOME, get_current_settings

    # Its output goes to a file in Prefect's home, not the terminal: the server is stopped
    # when the run ends, and uvicorn's shutdown (a CancelledError traceback at times) must
    # not make a run that succeeded look like a crash.
    home = PREFECT_HOME.value().expanduser()
    home.mkdir(parents=True, exist_ok=True)
    with (home / SERVER_LOG).open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
             "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("DATABOOK_")},
                 "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                 "PREFECT__SERVER_FINAL": "1",
                 **get_current_settings().to_environment_variables(exclude_unset=True)},
            stdout=output, stderr=subprocess.STDOUT)


#: The temporary server's own output, in Prefect's home.
SERVER_LOG = "temporary-server.log"


def drain() -> None:
    """Send Prefect's queued events and logs now, while the temporary server still runs: left
    to the process's exit, they were flushed after the server had stopped ("Error flushing 1
    events", a traceback on a run that succeeded)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=10)
        except Exception:  # nothing to send, or the server is gone: nothing to add
            log.debug("could not drain %s", worker.__name__, exc_info=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Straight to the loopback address, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(port: int) -> bool:
    try:
        with _DIRECT.open(f"http://127.0.0.1:{port}/api/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
