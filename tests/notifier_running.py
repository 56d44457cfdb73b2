"""The notifier's loop in a thread against the real broker, as the integration tests run it."""

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from notifier.rules import RuleSet
from notifier.settings import NotifierSettings
from notifier.wiring import notifier_loop
from tests.conftest import PipelineTopics
from tests.helpers import running_loop


def notifier_settings(
    bootstrap: str, topics: PipelineTopics, database_url: str, sms_url: str, **more: Any
) -> NotifierSettings:
    """Settings of one instance: HTTP provider at ``sms_url``, quick retries and releases."""
    fields: dict[str, Any] = {
        **topics.settings(bootstrap),
        "notifier_group_id": f"{topics.group_prefix}-notifier",
        "sms_provider": "http",
        "sms_http_url": sms_url,
        "notifier_database_url": database_url,
        "notifier_send_backoff_base_s": 0.01,
        "notifier_send_backoff_cap_s": 0.05,
        "notifier_release_interval_s": 0.2,
        **more,
    }
    return NotifierSettings(**fields)


@contextmanager
def running_notifier(settings: NotifierSettings, rules: RuleSet | None = None) -> Iterator[None]:
    """One notifier instance (loop and releaser), wired as ``python -m notifier`` wires it."""
    stop = threading.Event()
    with (
        notifier_loop(settings, rules or RuleSet.load(None), stop, sys.stdout) as loop,
        running_loop(loop, stop),
    ):
        yield
