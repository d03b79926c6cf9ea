"""Map a function over chunks of points: in this process, on a process pool, or on Ray.

No sweep logic here: an executor takes ``fn`` and a list of chunks and yields ``(chunk number, result)``
as chunks finish (in any order; the store puts rows back in point order).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from typing import Callable, Iterable, Iterator

from hwsim.errors import HwsimError


def _windowed(chunks: Iterable, submit: Callable, wait_any: Callable, result: Callable, window: int,
              pending: dict) -> Iterator[tuple[int, object]]:
    """Keep at most ``window`` chunks in flight: submit, wait for any to finish, yield it, submit the next.

    ``pending`` maps a handle to its chunk number (the caller may cancel what is left in it).
    """
    source = enumerate(chunks)
    for i, chunk in source:
        pending[submit(chunk)] = i
        if len(pending) >= window:
            break
    while pending:
        for handle in wait_any(list(pending)):
            yield pending.pop(handle), result(handle)
            nxt = next(source, None)
            if nxt is not None:
                pending[submit(nxt[1])] = nxt[0]


def _worker_init() -> None:
    """Workers leave interruptions to the driver: Ctrl-C reaches the whole process group, and the driver, not
    each worker, decides what happens (it stops them); SIGTERM keeps its default (end at once)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with_parent()


def _end_with_parent() -> None:
    """Linux: this process gets SIGTERM when the driver dies, even by SIGKILL or the OOM killer (no orphan
    keeps computing or holds the caller's stderr).  Elsewhere the driver's own handlers are the guard."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the driver died before the request took effect
        os._exit(1)


def _stop(pool, timeout: float = 1.5) -> None:
    """End a process pool now: drop what is queued, terminate the workers, reap them (no orphans)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout)


def run_local(fn: Callable, chunks: Iterable, jobs: int) -> Iterator[tuple[int, object]]:
    """``jobs == 1``: in this process, in order; otherwise a process pool of ``jobs`` workers.

    At most ``4 x jobs`` chunks are in flight, so memory does not grow with the number of chunks.  When the
    caller stops early (an interruption, SIGTERM, an error), the workers are terminated within about 2 s.
    """
    if jobs <= 1:
        for i, chunk in enumerate(chunks):
            yield i, fn(chunk)
        return
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init)
    pending: dict = {}
    try:
        yield from _windowed(chunks, lambda chunk: pool.submit(fn, chunk),
                             lambda handles: wait(handles, return_when=FIRST_COMPLETED)[0],
                             lambda fut: fut.result(), 4 * jobs, pending)
    except BaseException:
        _stop(pool)
        raise
    finally:  # GeneratorExit (the caller stopped iterating) lands here too
        _stop(pool)


def require_ray():
    """The ray module, or one HwsimError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise HwsimError("--ray needs Ray: pip install 'hwsim[ray]' (or pip install ray)") from None
    return ray


@contextlib.contextmanager
def _stderr_held() -> Iterator[None]:
    """File descriptor 2 into a scratch file for the block: Ray's C++ core logs every connection retry there,
    below Python's logging, and the error that follows says it in one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def check_ray_address(address: str, timeout: float = 5.0) -> None:
    """Refuse a malformed or unreachable ``--ray-address`` in one line, within ``timeout`` seconds (Ray itself
    retries an unreachable head for minutes, logging each attempt on stderr)."""
    if address == "auto":
        return
    import socket

    allowed = "allowed: host:port of a running Ray head (ray start --head prints it), ray://host:10001, or auto"
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise HwsimError(f"--ray-address {address!r}: not an address; {allowed}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise HwsimError(f"--ray-address {address}: cannot reach it ({exc.strerror or exc}); {allowed}") from None


def connect_ray(address: str | None = None, jobs: int | None = None) -> bool:
    """Start a local Ray (``address`` None, ``jobs`` CPUs) or reach the cluster at ``address`` now, or say in one
    HwsimError line why not; returns whether this call connected (then the caller calls ``ray.shutdown()``)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    if address:
        check_ray_address(address)
    kwargs = {"address": address} if address else {"num_cpus": jobs, "include_dashboard": False}
    try:
        with _stderr_held():
            ray.init(ignore_reinit_error=True, log_to_driver=False, logging_level="ERROR", **kwargs)
    except Exception as exc:  # noqa: BLE001  (Ray raises many types here; each becomes the one line)
        auth = getattr(getattr(ray, "exceptions", None), "AuthenticationError", ())
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if (auth and isinstance(exc, auth)) or "auth" in str(exc).lower():
            raise HwsimError(f"the Ray cluster at {address} refused this driver's token ({first}); set "
                             "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH to the cluster's token (ray get-auth-token "
                             "on the head prints it)") from None
        if not isinstance(exc, (ConnectionError, ValueError, RuntimeError)) and "ray" not in type(exc).__module__:
            raise
        raise HwsimError(f"cannot start or reach Ray{' at ' + address if address else ''}: {first}") from None
    return True


def run_ray(fn: Callable, chunks: Iterable, address: str | None = None, jobs: int | None = None
            ) -> Iterator[tuple[int, object]]:
    """The same tasks on Ray: a local Ray (``address`` None, ``jobs`` CPUs) or a cluster at ``address`` (connected
    here unless :func:`connect_ray` already did)."""
    ray = require_ray()
    started = connect_ray(address, jobs)
    try:
        remote = ray.remote(fn)
        window = 4 * int(ray.cluster_resources().get("CPU", jobs or 1))
        yield from _windowed(chunks, remote.remote, lambda refs: ray.wait(refs, num_returns=1)[0], ray.get,
                             window, {})
    finally:
        if started:
            ray.shutdown()
