"""The suite's second choice of broker: a testcontainers Kafka, when a Docker engine
answers and can give Kafka's image. An engine that answers but reaches no image registry
(this project's CI machines, docs/compose.md) cannot, and the suite falls back to the
embedded broker instead of failing (tests/conftest.py)."""

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
"""testcontainers' default Kafka image, named so that it is the one looked for."""
PULL_TIMEOUT_S = 120.0
"""A registry that drops packets would hold a pull for many minutes."""


def docker_client() -> Any | None:
    """A client of the engine at DOCKER_HOST (or the default socket), if one answers."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
    except Exception:
        return None
    return client


def image_ready(client: Any, image: str, *, pull_timeout_s: float = PULL_TIMEOUT_S) -> bool:
    """Whether the engine has ``image``, pulling it if need be within ``pull_timeout_s``."""
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(image)
    except ImageNotFound:
        pass
    except DockerException:
        return False
    else:
        return True
    finished = threading.Event()
    pulled: list[bool] = []

    def pull() -> None:
        try:
            client.images.pull(image)
            pulled.append(True)
        except DockerException:
            pass
        finally:
            finished.set()

    # A daemon thread: a pull that outlives the timeout must not hold the run's exit.
    threading.Thread(target=pull, name="kafka-image-pull", daemon=True).start()
    finished.wait(pull_timeout_s)
    return bool(pulled)


@contextmanager
def kafka_container() -> Iterator[str | None]:
    """A Kafka container's bootstrap servers; None when there is no engine, no image, or
    the container does not start (testcontainers needs its Ryuk image too)."""
    client = docker_client()
    if client is None or not image_ready(client, KAFKA_IMAGE):
        if client is not None:
            warnings.warn(
                f"a Docker engine answers but has no {KAFKA_IMAGE} and cannot pull it:"
                " using the embedded broker",
                stacklevel=2,
            )
        yield None
        return
    from testcontainers.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    try:
        container.start()
    except Exception as error:
        warnings.warn(
            f"the Kafka container did not start ({type(error).__name__}): using the embedded"
            " broker",
            stacklevel=2,
        )
        yield None
        return
    try:
        yield container.get_bootstrap_server()
    finally:
        container.stop()
