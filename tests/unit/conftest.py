"""Unit tests start no process and serve nothing: each runs in this process, in memory.

In every phase of a unit test (set-up, call, teardown), starting a process or binding
or listening on a socket fails the test with a message saying where it belongs. Hooks
rather than an autouse fixture, so a module-scoped fixture that starts a server (set up
before any function-scoped fixture) is caught too; pytest calls these ``runtest`` hooks
only for the tests under this directory.
"""

import multiprocessing.process
import os
import socket
import subprocess
from collections.abc import Callable, Generator
from typing import Any, NoReturn

import pytest

_MOVE = "a unit test must not {what}: move the test to tests/integration/"


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        # pytest.fail, not an exception: code under test that catches Exception (a client
        # reporting "unreachable", a server retrying its bind) cannot swallow it.
        pytest.fail(_MOVE.format(what=what))

    return refuse


def _refusing() -> pytest.MonkeyPatch:
    patch = pytest.MonkeyPatch()
    # Every Popen goes through this method, so subprocess.run, asyncio's subprocesses and
    # a Popen imported by name are all caught.
    patch.setattr(subprocess.Popen, "_execute_child", _refuse("start a process"))
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        patch.setattr(os, name, _refuse(f"start a process (os.{name})"))
    patch.setattr(multiprocessing.process.BaseProcess, "start", _refuse("start a process"))
    # Connecting stays allowed: a client meeting a closed port is a unit of its own.
    patch.setattr(socket.socket, "bind", _refuse("bind a socket (serve, or pick a free port)"))
    patch.setattr(socket.socket, "listen", _refuse("listen on a socket"))
    return patch


def _isolated() -> Generator[None, object, object]:
    patch = _refusing()
    try:
        return (yield)
    finally:
        patch.undo()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    for marker in ("broker", "e2e"):
        if item.get_closest_marker(marker):
            pytest.fail(_MOVE.format(what=f"carry the {marker} marker"))
    return (yield from _isolated())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _isolated())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _isolated())
