"""The sandbox's knobs for latency and injected failures, changeable while it runs.

Every answered API request rolls the dice once (:func:`roll`) with a seedable random
generator, so a seeded sandbox asked the same requests in the same order misbehaves
the same way.
"""

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Milliseconds = Annotated[float, Field(ge=0, le=3_600_000)]
Fraction = Annotated[float, Field(ge=0, le=1)]

ServerError = Literal[500, 503]


class Faults(BaseModel):
    """How the sandbox misbehaves; the JSON body of ``PUT /__sandbox/faults``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: Milliseconds = 0.0
    """Added to every API answer."""
    latency_jitter_ms: Milliseconds = 0.0
    """A random extra delay between 0 and this, on top of ``latency_ms``."""
    error_rate: Fraction = 0.0
    """Share of requests answered 500 or 503 (half each)."""
    timeout_rate: Fraction = 0.0
    """Share of requests that hang ``hang_ms`` before answering normally."""
    hang_ms: Milliseconds = 10_000.0
    outage: bool = False
    """Every API request gets a gateway's 503."""
    rate_limit_storm: bool = False
    """Every authenticated API request gets 429 with code 1049."""
    synthesize: bool = False
    """Any UUID of a transaction entity is answered with a document made from the id."""
    forbidden_entities: list[str] = Field(default_factory=list)
    """Entities this user may not see (``cashout``...): 403 with code 1016."""
    seed: int | None = None
    """Seed of the random generator; setting it restarts the generator's sequence."""


@dataclass(frozen=True)
class FaultRoll:
    """What one request suffers: a delay before answering, then perhaps a server error."""

    delay_s: float
    error: ServerError | None = None


def roll(faults: Faults, dice: random.Random) -> FaultRoll:
    """One request's fate. Where error and timeout rates add up past 1, errors win."""
    # Every roll draws the same numbers whatever the knobs say, so changing one knob
    # does not reshuffle what the others do in a seeded run.
    jitter_ms = dice.uniform(0, faults.latency_jitter_ms)
    draw = dice.random()
    error: ServerError = dice.choice((500, 503))
    delay_ms = faults.latency_ms + jitter_ms
    if draw < faults.error_rate:
        return FaultRoll(delay_ms / 1000, error)
    if draw < faults.error_rate + faults.timeout_rate:
        return FaultRoll((delay_ms + faults.hang_ms) / 1000)
    return FaultRoll(delay_ms / 1000)


class Knobs:
    """The current :class:`Faults` and the dice, shared by every request thread."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self._faults = faults
        self._dice = random.Random(faults.seed)

    def current(self) -> Faults:
        return self._faults

    def update(self, changes: Mapping[str, Any]) -> Faults:
        """Change the knobs ``changes`` names; raises ``pydantic.ValidationError``."""
        with self._lock:
            self._faults = Faults.model_validate({**self._faults.model_dump(), **changes})
            if "seed" in changes:
                self._dice.seed(self._faults.seed)
            return self._faults

    def roll(self) -> FaultRoll:
        with self._lock:
            return roll(self._faults, self._dice)
