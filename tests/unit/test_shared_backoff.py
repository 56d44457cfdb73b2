import pytest

from shared.backoff import backoff_delay


@pytest.mark.parametrize(
    ("attempt", "expected_ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 30.0)]
)
def test_ceiling_doubles_per_attempt_up_to_the_cap(attempt: int, expected_ceiling: float) -> None:
    assert backoff_delay(attempt, base=0.5, cap=30.0, jitter_draw=1.0) == expected_ceiling


def test_full_jitter_scales_the_ceiling() -> None:
    assert backoff_delay(3, base=0.5, cap=30.0, jitter_draw=0.25) == 0.5
    assert backoff_delay(3, base=0.5, cap=30.0, jitter_draw=0.0) == 0.0


def test_floor_from_the_other_side_wins_even_over_the_cap() -> None:
    assert backoff_delay(1, base=0.5, cap=1.0, jitter_draw=0.5, floor=2.5) == 2.5


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0, base=1, cap=1, jitter_draw=0.5)
