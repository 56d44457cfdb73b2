"""devstack's restart policy: 1 s doubling to a cap while a service keeps dying, back to
1 s once it has run a while."""

import pytest

from devstack.restart_policy import RestartPolicy

POLICY = RestartPolicy(first_delay_s=1.0, max_delay_s=30.0, healthy_after_s=10.0)


@pytest.mark.parametrize(
    ("deaths_in_a_row", "delay_s"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (50, 30.0)]
)
def test_the_delay_doubles_with_each_death_in_a_row_up_to_the_cap(
    deaths_in_a_row: int, delay_s: float
) -> None:
    assert POLICY.delay_s(deaths_in_a_row) == delay_s


def test_a_service_dying_soon_after_its_start_adds_to_the_count() -> None:
    assert POLICY.deaths_in_a_row(0, ran_for_s=0.2) == 1
    assert POLICY.deaths_in_a_row(3, ran_for_s=9.9) == 4


def test_a_service_that_ran_a_while_starts_a_new_count() -> None:
    assert POLICY.deaths_in_a_row(7, ran_for_s=10.0) == 1
    assert POLICY.delay_s(POLICY.deaths_in_a_row(7, ran_for_s=3600)) == 1.0


def test_the_defaults_are_those_make_run_documents() -> None:
    assert RestartPolicy() == POLICY
