"""The ``requestId`` values of native webhooks this host accepted, to refuse their repeats.

Kladana repeats a delivery it got no timely 200 for, with the same ``requestId``, back to
back, and the repeat may reach another gunicorn worker: so the store is one SQLite file
(WAL mode) in the host's spool directory, shared by every worker process.

A request *claims* its ``requestId`` before handing its events to the sink, then
*confirms* the claim once they are accepted, or *releases* it when they are not, so that
Kladana's next attempt is accepted rather than dropped as a repeat.

The store is a shortcut, not the guarantee: when SQLite fails, a claim is granted (the
events are accepted twice rather than lost), and other hosts have stores of their own.
Repeats that get through carry the same event ids (see :mod:`ingest.native`), which is
what subscribers de-duplicate on.
"""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

log = logging.getLogger("ingest")

DATABASE_NAME = "request-ids.sqlite3"
PENDING_TIMEOUT_S = 30.0
"""A claim neither confirmed nor released within this long belongs to a request that died
(its worker was killed): the ``requestId`` may be claimed again. Far above the time a
request may take to be answered."""
PURGE_INTERVAL_S = 60.0
"""How often each process deletes expired entries."""
_BUSY_TIMEOUT_S = 0.25

_SCHEMA = """
CREATE TABLE IF NOT EXISTS request_ids (
    request_id TEXT PRIMARY KEY,
    accepted INTEGER NOT NULL,
    at REAL NOT NULL
) WITHOUT ROWID
"""


class Claim(Enum):
    CLAIMED = "claimed"
    """This request owns the ``requestId``: accept its events, then confirm or release."""
    DUPLICATE = "duplicate"
    """Its events were accepted already: answer success, accept nothing."""
    IN_FLIGHT = "in_flight"
    """Another request holds the claim and has not finished: wait, or ask for a retry."""


class RequestIds:
    """The store in ``directory`` (created if missing). Safe to use from many threads and
    processes at once; each thread gets its own connection, opened on first use.

    Accepted ids are remembered for ``ttl_s`` seconds.
    """

    def __init__(
        self, directory: Path, *, ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._path = directory / DATABASE_NAME
        self._ttl_s = ttl_s
        self._clock = clock
        self._local = threading.local()
        self._next_purge = 0.0

    def claim(self, request_id: str) -> Claim:
        now = self._clock()
        try:
            with self._transaction() as connection:
                self._purge_now_and_then(connection, now)
                row = connection.execute(
                    "SELECT accepted, at FROM request_ids WHERE request_id = ?", (request_id,)
                ).fetchone()
                if row is not None and not self._expired(bool(row[0]), row[1], now):
                    return Claim.DUPLICATE if row[0] else Claim.IN_FLIGHT
                connection.execute(
                    "INSERT OR REPLACE INTO request_ids VALUES (?, 0, ?)", (request_id, now)
                )
                return Claim.CLAIMED
        except (sqlite3.Error, OSError) as error:
            log.warning(
                "request id store unavailable; accepting without de-duplication",
                extra={"request_id": request_id, "reason": str(error)},
            )
            return Claim.CLAIMED

    def confirm(self, request_id: str) -> None:
        """The claimed ``requestId``'s events were accepted: refuse its repeats from now."""
        self._write(
            "UPDATE request_ids SET accepted = 1, at = ? WHERE request_id = ?",
            (self._clock(), request_id),
        )

    def release(self, request_id: str) -> None:
        """The claimed ``requestId``'s events were not accepted: let a repeat claim it."""
        self._write("DELETE FROM request_ids WHERE request_id = ? AND accepted = 0", (request_id,))

    def _expired(self, accepted: bool, at: float, now: float) -> bool:
        return at < now - (self._ttl_s if accepted else PENDING_TIMEOUT_S)

    def _purge_now_and_then(self, connection: sqlite3.Connection, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_INTERVAL_S
        connection.execute(
            "DELETE FROM request_ids WHERE at < CASE accepted WHEN 1 THEN ? ELSE ? END",
            (now - self._ttl_s, now - PENDING_TIMEOUT_S),
        )

    def _write(self, statement: str, parameters: tuple[object, ...]) -> None:
        try:
            with self._transaction() as connection:
                connection.execute(statement, parameters)
        except (sqlite3.Error, OSError) as error:
            # A lost confirm lets a repeat through, a lost release holds Kladana's retries
            # off until the claim expires: both logged, neither loses an accepted event.
            log.warning(
                "request id store unavailable",
                extra={"request_id": parameters[-1], "reason": str(error)},
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection in a write transaction, taken before its first read so
        that a claim's look-up and insert are atomic across processes."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.rollback()
            raise
        connection.commit()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are begun explicitly, as BEGIN IMMEDIATE.
            connection = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            self._local.connection = connection
        return connection
