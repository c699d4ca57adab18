"""Process pools whose workers die with the job that started them.

A pool worker is an ordinary child process: when its parent is killed (SIGKILL from a scheduler, an OOM kill)
nothing stops it, and it keeps using a core for minutes. On Linux each worker asks the kernel for SIGKILL when
its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a watcher thread notices the parent is gone.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.pool import Pool
from typing import Any, Callable

PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` (the pid that spawned it) does."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:            # the parent died before the request took effect
        os._exit(1)


def _init(parent: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(processes: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> Pool:
    """A ``spawn`` pool (a child forked after OpenCV started its thread pools can deadlock) whose workers die
    with this process."""
    return multiprocessing.get_context("spawn").Pool(processes, _init, (os.getpid(), initializer, initargs))
