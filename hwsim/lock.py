"""One run per output folder: an exclusive lock on the folder, held for the whole run (the filelock library).

A second run into a folder that a live run holds gets one error naming the holder's pid; a lock left
by a run that died is free again (the operating system drops a dead process's lock).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from hwsim.errors import HwsimError

LOCK_NAME = ".hwsim.lock"
OWNER_NAME = ".hwsim.owner"  # who holds the lock: pid, host, start time (the lock file itself stays empty)


@contextlib.contextmanager
def folder_lock(out: Path, what: str = "run") -> Iterator[None]:
    """Hold ``out``'s lock for the duration of the block, or raise HwsimError naming the run that holds it."""
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / LOCK_NAME), timeout=0)
    owner = out / OWNER_NAME
    try:
        lock.acquire()
    except Timeout:
        holder = "another process"
        try:
            holder = owner.read_text(encoding="utf-8").strip() or holder
        except OSError:
            pass
        raise HwsimError(f"{out}: another {what} is writing into this folder ({holder}); wait for it to end or "
                         f"give another output folder") from None
    try:
        owner.write_text(f"pid {os.getpid()} on {socket.gethostname()}, started "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        lock.release()
