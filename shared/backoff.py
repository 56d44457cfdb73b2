"""The one backoff function: exponential growth, a cap and full jitter.

It is pure: the caller passes the random draw, so tests need no seeding or patching.
"""


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    jitter_draw: float,
    floor: float = 0.0,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    "Full jitter": a uniform pick in ``[0, min(cap, base * 2**(attempt-1))]``, with
    ``jitter_draw`` in ``[0, 1)`` as the pick. ``floor`` is a minimum the other side
    asked for (e.g. a rate limiter's retry-after); it wins over the cap.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    return max(floor, ceiling * jitter_draw)
