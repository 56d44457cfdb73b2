"""A production WSGI server (waitress) running in a background thread of a consumer process.

Serves the consumers' health and metrics endpoints and the notifier's Twilio status
callbacks, which face the internet: so the worker threads, the open connections, a
request's body and an idle connection's life are all bounded, and no traceback is ever
shown to a client.
"""

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from wsgiref.types import WSGIApplication

from waitress.server import TcpWSGIServer
from waitress.trigger import trigger
from waitress.wasyncore import close_all

_LOOP_JOIN_TIMEOUT_S = 10.0
_WORKERS_STOP_TIMEOUT_S = 5


@dataclass(frozen=True)
class ServerLimits:
    """What one server may take on; the defaults suit small internal and callback traffic."""

    threads: int = 4
    """Requests handled at once; more wait in waitress's queue."""
    connection_limit: int = 100
    """Open connections; past it, no new one is accepted until one closes."""
    max_request_body_bytes: int = 64 * 1024
    """A request body's most bytes; a larger one is answered 413 without being read."""
    channel_timeout_s: int = 30
    """A connection idle this long (a slow or silent client) is closed."""


DEFAULT_LIMITS = ServerLimits()


class HttpServer:
    """``with HttpServer(app) as server: requests.get(server.url + "/healthz")``.

    Listens from construction (so ``port`` is known at once, also for port 0: a free
    port); serves from :meth:`start` until :meth:`stop`.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ServerLimits = DEFAULT_LIMITS,
    ) -> None:
        # waitress's stubs disagree on what the socket map holds (its dispatchers, by fd).
        self._sockets: dict[Any, Any] = {}
        self._server = TcpWSGIServer(
            app,
            map=self._sockets,
            host=host,
            port=port,
            threads=limits.threads,
            connection_limit=limits.connection_limit,
            # waitress refuses a body of exactly its limit: one more lets that size through.
            max_request_body_size=limits.max_request_body_bytes + 1,
            channel_timeout=limits.channel_timeout_s,
            # How often idle connections are looked for: within a third of their timeout.
            cleanup_interval=max(1, limits.channel_timeout_s // 3),
            expose_tracebacks=False,
        )
        # Stopping must happen in the server's own thread (its socket map is not
        # thread-safe): this trigger wakes that thread and runs the stop there.
        self._wake = trigger(self._sockets)
        listening = self._server.socket
        assert listening is not None  # bound and listening since construction
        self._host = host
        self.port: int = listening.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.run, name=f"http-server-{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        """Where a client on this machine reaches the server (loopback when it listens on
        every interface)."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104
        return f"http://{host}:{self.port}"

    def start(self) -> "HttpServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Let the worker threads finish the requests in hand (bounded), then close the
        listening socket and every connection."""
        # Workers first: a worker that finishes a request wakes the server thread through
        # the server's own trigger, which must still be open then.
        self._server.task_dispatcher.shutdown(timeout=_WORKERS_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self._wake.pull_trigger(self._close_all)
            self._thread.join(timeout=_LOOP_JOIN_TIMEOUT_S)
        else:
            self._close_all()

    def _close_all(self, _: None = None) -> None:
        # The unused parameter matches waitress's stub of a trigger's callback. An empty
        # socket map ends waitress's loop, and with it the server thread.
        close_all(self._sockets)

    def __enter__(self) -> "HttpServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
