"""The suite's choice of a Kafka container: only when the engine has Kafka's image or can
pull it, so an engine that reaches no registry leaves the suite on the embedded broker."""

import threading

from docker.errors import APIError, ImageNotFound

from tests.docker_kafka import KAFKA_IMAGE, image_ready


class _Images:
    def __init__(self, *, present: bool, pull: Exception | None = None) -> None:
        self._present = present
        self._pull = pull
        self.pulled: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def get(self, name: str) -> object:
        if not self._present:
            raise ImageNotFound(f"No such image: {name}")
        return object()

    def pull(self, name: str) -> object:
        self.pulled.append(name)
        self.release.wait()
        if self._pull is not None:
            raise self._pull
        return object()


class _Client:
    def __init__(self, images: _Images) -> None:
        self.images = images


def test_an_image_the_engine_has_is_used_without_a_pull() -> None:
    images = _Images(present=True)
    assert image_ready(_Client(images), KAFKA_IMAGE)
    assert images.pulled == []


def test_an_image_the_registry_gives_is_pulled() -> None:
    images = _Images(present=False)
    assert image_ready(_Client(images), KAFKA_IMAGE)
    assert images.pulled == ["confluentinc/cp-kafka:7.6.0"]


def test_an_engine_that_reaches_no_registry_gives_no_image() -> None:
    refused = APIError("Get https://registry-1.docker.io/v2/: dial tcp: lookup failed")
    images = _Images(present=False, pull=refused)
    assert not image_ready(_Client(images), KAFKA_IMAGE)


def test_a_pull_that_hangs_is_given_up_after_the_timeout() -> None:
    images = _Images(present=False)
    images.release.clear()
    try:
        assert not image_ready(_Client(images), KAFKA_IMAGE, pull_timeout_s=0.05)
    finally:
        images.release.set()
