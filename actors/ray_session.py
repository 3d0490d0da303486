"""The Ray this process joins or starts.

- ``check_reachable(address)``: a TCP connect, with a short timeout, to the cluster's GCS
  (for ``auto``, the address Ray itself would resolve), so an address nobody answers on fails
  with one line instead of ``ray.init`` retrying "Failed to connect to GCS" for ever.
- ``start_local_ray()`` / ``stop_local_ray()``: a local Ray that stops completely, whenever the
  stop comes. Ctrl-C in a terminal reaches the whole foreground process group, so it kills the
  raylet and GCS mid start-up and leaves their agents (DashboardAgent, RuntimeEnvAgent) retrying
  a dead GCS for about 100 s. Every process of a local Ray started here inherits a marker in its
  environment; ``stop_local_ray`` shuts Ray down and then ends whatever still carries it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import ray

from engine.errors import ConfigError

CONNECT_TIMEOUT_S = 3.0
RAY_CLIENT_PORT = 10001
_MARKER = "RAYTRADER_LOCAL_RAY"
_local: list[str] = []   # the marker of the local Ray this process started, while it runs
_host: list[tuple[threading.Thread, threading.Event]] = []   # the thread that started it


def check_reachable(address: str, *, what: str = "address",
                    timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ``ConfigError`` (naming ``what`` and the address) unless something accepts a TCP
    connection at the Ray cluster ``address`` within ``timeout_s``."""
    target = _bootstrap_address(address, what)
    if target is None:           # "local": ray.init starts a new local Ray
        return
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        reason = (f"no answer within {timeout_s:g} s" if isinstance(exc, TimeoutError)
                  else getattr(exc, "strerror", None) or str(exc))
        resolved = f" ({target})" if target != address else ""
        raise ConfigError(f"{what} {address}{resolved}: no Ray cluster answers there "
                          f"({reason}); start one with `ray start --head` or give the head "
                          f"node's host:port") from None


def _bootstrap_address(address: str, what: str) -> str | None:
    if address.startswith("ray://"):          # Ray Client, on port 10001 unless given
        target = address.removeprefix("ray://")
        return target if ":" in target.rpartition("]")[2] else f"{target}:{RAY_CLIENT_PORT}"
    from ray._private.services import canonicalize_bootstrap_address

    try:
        found: str | None = canonicalize_bootstrap_address(address)
    except ConnectionError:     # "auto" with no cluster recorded on this machine
        raise ConfigError(f"{what} {address}: no running Ray cluster found on this machine; "
                          f"start one with `ray start --head` or give its host:port") from None
    except ValueError as exc:
        raise ConfigError(f"{what} {address}: {exc}") from None
    return found


def start_local_ray(**init_args: Any) -> Any:
    """``ray.init(**init_args)`` starting a local Ray whose processes ``stop_local_ray`` can
    find; an interrupt or error during the start stops what had started, then re-raises.
    Returns Ray's context (``dashboard_url`` among others).

    Ray starts its GCS and raylet with ``PR_SET_PDEATHSIG``: Linux kills them when the
    *thread* that started them ends, not the process. Called from a thread that ends before
    the process does (a server's job pool), the local Ray would die with it, and the next
    ``ray.shutdown()`` would wait some 15 s on the dead GCS. Off the main thread, a thread of
    its own (``ray-host``) therefore starts Ray and lives until ``stop_local_ray``."""
    marker = uuid.uuid4().hex
    _local[:] = [marker]
    # the host of a Ray that ended with a bare ray.shutdown() (not stop_local_ray) has
    # nothing left to keep alive
    for _, release in _host:
        release.set()
    _host.clear()
    if threading.current_thread() is threading.main_thread():
        return _init_marked(marker, init_args)
    outcome: dict[str, Any] = {}
    started, release = threading.Event(), threading.Event()

    def host() -> None:
        try:
            outcome["context"] = _init_marked(marker, init_args)
        except BaseException as exc:   # handed to the caller
            outcome["error"] = exc
        finally:
            started.set()
        if "error" not in outcome:
            release.wait()

    thread = threading.Thread(target=host, name="ray-host", daemon=True)
    thread.start()
    started.wait()
    if "error" in outcome:
        thread.join()
        raise outcome["error"]
    _host[:] = [(thread, release)]
    return outcome["context"]


def _init_marked(marker: str, init_args: dict[str, Any]) -> Any:
    os.environ[_MARKER] = marker
    try:
        return ray.init(**init_args)
    except BaseException:
        stop_local_ray()
        raise
    finally:
        # Ray's processes have it; later children of this process are none of Ray's
        os.environ.pop(_MARKER, None)


def stop_local_ray(grace_s: float = 3.0, timeout_s: float = 10.0) -> None:
    """Shut down the local Ray this process started (nothing when it started none): Ray's own
    shutdown, then every process still carrying its marker is sent SIGTERM, and SIGKILL when
    still there after ``grace_s``. Looks again until none is left (a raylet may have been
    starting an agent while it was stopped), for ``timeout_s`` at most."""
    if not _local:
        return
    marker = _local.pop()
    try:
        ray.shutdown()
    finally:
        for thread, release in _host:   # Ray's processes may end with their thread now
            release.set()
            thread.join()
        _host.clear()
        start = time.monotonic()
        asked: set[int] = set()
        while left := [pid for pid in _marked_processes(marker) if _running(pid)]:
            waited = time.monotonic() - start
            if waited > timeout_s:
                break
            for pid in left:
                if pid not in asked:
                    _send(pid, signal.SIGTERM)
                    asked.add(pid)
                elif waited > grace_s:
                    _send(pid, signal.SIGKILL)
            time.sleep(0.05)


@contextlib.contextmanager
def exit_within_after_interrupt(seconds: float = 30.0) -> Iterator[None]:
    """While the block runs: once a Ctrl-C (SIGINT) arrives, this process ends within
    ``seconds`` whatever it is waiting in. Ray's clean shutdown, and a graceful cancel before
    it, can wait on a GCS the same Ctrl-C killed; past the deadline every process of the local
    Ray started here is killed, ``interrupted`` goes to stderr and the process exits 130.
    The Ctrl-C itself still raises ``KeyboardInterrupt`` as usual; a block that finishes in
    time ends the watch. In the main thread only (elsewhere the block just runs)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd)   # the signal's number, written in C at once
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            if ready and signal.SIGINT in os.read(read_fd, 64):
                break
        else:
            return
        if finished.wait(seconds):
            return
        for marker in _local:
            for pid in _marked_processes(marker):
                _send(pid, signal.SIGKILL)
        os.write(2, b"interrupted\n")
        os._exit(130)

    watcher = threading.Thread(target=watch, name="interrupt-deadline", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        signal.set_wakeup_fd(previous)
        watcher.join()
        os.close(read_fd)
        os.close(write_fd)


def _marked_processes(marker: str) -> list[int]:
    """Pids of the other processes whose environment carries ``marker`` (Linux /proc; elsewhere
    none, and Ray's own shutdown is all there is)."""
    needle = f"{_MARKER}={marker}".encode()
    me = os.getpid()
    found = []
    for pid in (int(n) for n in _proc_entries() if n.isdigit()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
        except OSError:          # gone, or not ours to read
            continue
        if pid != me and needle in environ:
            found.append(pid)
    return found


def _proc_entries() -> list[str]:
    try:
        return os.listdir("/proc")
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs; a child of this process that exited is reaped."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _send(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
