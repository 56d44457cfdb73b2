"""The local spool: accepted events the broker has not acknowledged yet, on disk.

One SQLite database in WAL mode with ``synchronous=FULL``, so a committed append is
fsynced before :meth:`Spool.append` returns. Every gunicorn worker opens the same file;
SQLite serialises their writes. Only the holder of an ``flock`` on ``drain.lock`` drains,
so no two workers publish the same record; the OS releases the lock when its holder dies,
even by SIGKILL.
"""

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import SinkUnavailable
from shared.events import Record

DATABASE_NAME = "spool.sqlite3"
DRAIN_LOCK_NAME = "drain.lock"
MIN_FREE_BYTES = 1_048_576
"""Below this much free disk the spool reports itself as not writable."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    spooled_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spooled_by_key ON spooled (key);
"""


@dataclass(frozen=True)
class SpooledRecord:
    seq: int
    topic: str
    record: Record


@dataclass(frozen=True)
class SpoolDepth:
    count: int
    oldest_spooled_at: float | None


class Spool:
    """The spool in ``directory`` (created if missing). Safe to use from many threads and
    processes at once; each thread gets its own connection, opened on first use.

    Every failure to read or write raises :class:`SinkUnavailable`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        write_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self._write_timeout_s = write_timeout_s
        self._clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    def append(self, topic: str, records: Sequence[Record]) -> None:
        """Write ``records`` in order; returns once they are fsynced."""
        now = self._clock()
        rows = [
            (topic, record.key, record.value, _encode_headers(record.headers), now)
            for record in records
        ]
        with self._transaction() as connection:
            connection.executemany(
                "INSERT INTO spooled (topic, key, value, headers, spooled_at)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def is_empty(self) -> bool:
        with self._failures_as_unavailable():
            row = self._connection().execute("SELECT 1 FROM spooled LIMIT 1").fetchone()
        return row is None

    def holds_any_of(self, keys: Collection[bytes | None]) -> bool:
        """Whether a record with one of ``keys`` waits here; a ``None`` key (a record of no
        particular document) asks whether anything waits at all."""
        if None in keys:
            return not self.is_empty()
        with self._failures_as_unavailable():
            connection = self._connection()
            return any(
                connection.execute("SELECT 1 FROM spooled WHERE key = ? LIMIT 1", (key,)).fetchone()
                for key in keys
            )

    def depth(self) -> SpoolDepth:
        with self._failures_as_unavailable():
            count, oldest = (
                self._connection()
                .execute("SELECT COUNT(*), MIN(spooled_at) FROM spooled")
                .fetchone()
            )
        return SpoolDepth(count=count, oldest_spooled_at=oldest)

    def oldest(self, limit: int) -> list[SpooledRecord]:
        """Up to ``limit`` records, oldest first."""
        with self._failures_as_unavailable():
            rows = (
                self._connection()
                .execute(
                    "SELECT seq, topic, key, value, headers FROM spooled ORDER BY seq LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )
        return [
            SpooledRecord(
                seq=seq,
                topic=topic,
                record=Record(key=key, value=value, headers=_decode_headers(headers)),
            )
            for seq, topic, key, value, headers in rows
        ]

    def remove(self, seqs: Sequence[int]) -> None:
        """Forget records the broker acknowledged."""
        if not seqs:
            return
        with self._transaction() as connection:
            connection.executemany("DELETE FROM spooled WHERE seq = ?", [(seq,) for seq in seqs])

    def writable(self) -> bool:
        """Whether an append can be expected to succeed: the database opens, its directory
        is writable and the disk has room."""
        try:
            self._connection()
            free = os.statvfs(self.directory)
        except (SinkUnavailable, OSError):
            return False
        return os.access(self.directory, os.W_OK) and free.f_bavail * free.f_frsize >= (
            MIN_FREE_BYTES
        )

    @contextmanager
    def drain_lock(self) -> Iterator[bool]:
        """Try, without waiting, to become the one drainer; yields whether this caller is."""
        with self._failures_as_unavailable():
            self._make_directory()
            descriptor = os.open(self.directory / DRAIN_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._failures_as_unavailable():
            connection = self._connection()
            # IMMEDIATE: wait (up to the busy timeout) for the write lock now, not mid-way.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.commit()
            except BaseException:
                if connection.in_transaction:
                    with suppress(sqlite3.Error):
                        connection.rollback()
                raise

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        with self._failures_as_unavailable():
            connection = self._open()
        self._local.connection = connection
        with self._connections_lock:
            self._connections.append(connection)
        return connection

    def _make_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _open(self) -> sqlite3.Connection:
        self._make_directory()
        connection = sqlite3.connect(
            self.directory / DATABASE_NAME,
            timeout=self._write_timeout_s,
            isolation_level=None,  # transactions are begun explicitly
            check_same_thread=False,  # used by one thread only; closed by close()
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is fsynced before it returns; that is what makes a 202 safe.
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    @contextmanager
    def _failures_as_unavailable(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as error:
            raise SinkUnavailable(f"the spool failed: {type(error).__name__}: {error}") from error


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> str:
    return json.dumps([[name, value.hex()] for name, value in headers])


def _decode_headers(encoded: str) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, bytes.fromhex(value)) for name, value in json.loads(encoded))
