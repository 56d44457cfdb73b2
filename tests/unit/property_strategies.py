"""Hypothesis strategies and settings shared by the ``test_properties_*`` files.

The parsers of outside data are fuzzed with JSON-like values of every odd shape: what
``json.loads`` can produce (NaN and infinities included, which Python's JSON reads),
plus lone surrogates, which JSON escapes (``"\\ud800"``) can produce too.
"""

from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FAST = settings(
    # Derandomized and without deadlines unless HYPOTHESIS_PROFILE says otherwise
    # (tests/conftest.py); the `explore` profile's larger example count wins.
    max_examples=max(150, settings.default.max_examples),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Under a second per test, a few seconds for all, even on a shared machine."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    # json.loads refuses integers of more than 4300 digits; up to that, anything goes.
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any value ``json.loads`` could hand a parser."""


ZONES = [
    ZoneInfo(name)
    for name in ("Asia/Kolkata", "Europe/Moscow", "UTC", "Pacific/Kiritimati", "America/Adak")
]
"""Account and notifier time zones, from UTC-10 to UTC+14."""
zones = st.sampled_from(ZONES)

# Kladana's document JSON (remap 1.2): each field there or not, realistic or odd.
moments = st.one_of(
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]),
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S")),
    st.sampled_from(["2024-06-10 12:57:00.000", "2024-02-30 00:00:00", "", "10.06.2024"]),
    st.sampled_from(["0001-01-01 00:00:00.000", "9999-12-31 23:59:59.999"]),
)
amounts = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.floats(min_value=-1e15, max_value=1e15).map(lambda value: round(value, 3)),
)


def maybe_odd(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The realistic shape, or any other value (null included) in its place."""
    return st.one_of(strategy, json_values)


def kladana_object(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A Kladana object whose fields are each there or not, realistic or odd."""
    return maybe_odd(
        st.fixed_dictionaries({}, optional={k: maybe_odd(v) for k, v in fields.items()})
    )


texts = st.text(max_size=30)
attributes = st.lists(
    kladana_object(
        name=st.sampled_from(["Courier", "Advance", "Due", ""]),
        type=st.sampled_from(["string", "double", "time", "customentity", "boolean", "file"]),
        value=st.one_of(moments, amounts, st.booleans(), kladana_object(name=texts), texts),
    ),
    max_size=4,
)
rows = st.lists(
    kladana_object(
        id=texts,
        quantity=amounts,
        price=amounts,
        discount=amounts,
        vat=amounts,
        vatEnabled=st.booleans(),
        assortment=kladana_object(
            name=texts, code=texts, article=texts, meta=kladana_object(type=st.just("product"))
        ),
    ),
    max_size=4,
)
collection_meta = kladana_object(size=st.integers(min_value=-2, max_value=200), href=texts)
kladana_documents = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe_odd(st.sampled_from(["34efe2ee-015e-11e6-9464-e4de0000006b", "x"])),
        "meta": kladana_object(href=texts, type=texts),
        "name": maybe_odd(texts),
        "moment": maybe_odd(moments),
        "sum": maybe_odd(amounts),
        "payedSum": maybe_odd(amounts),
        "paidSum": maybe_odd(amounts),
        "shippedSum": maybe_odd(amounts),
        "state": kladana_object(name=texts),
        "rate": kladana_object(
            currency=kladana_object(isoCode=st.sampled_from(["INR", "RUB", ""]))
        ),
        "agent": kladana_object(
            id=texts,
            name=texts,
            phone=texts,
            email=texts,
            legalAddress=texts,
            actualAddress=texts,
            tags=st.lists(maybe_odd(texts), max_size=3),
            attributes=attributes,
            contactpersons=kladana_object(
                meta=collection_meta,
                rows=st.lists(kladana_object(name=texts, phone=texts, email=texts), max_size=3),
            ),
        ),
        "organization": kladana_object(name=texts),
        "attributes": attributes,
        "positions": kladana_object(meta=collection_meta, rows=rows),
        "extra": json_values,
    },
)


Result = TypeVar("Result")
Expected = TypeVar("Expected", bound=Exception)


def result_or_error(call: Callable[[], Result], *expected: type[Expected]) -> Result | Expected:
    """What ``call`` returns, or the ``expected`` error it raised; any other error
    propagates and fails the test."""
    try:
        return call()
    except expected as error:
        return error


def deeply_nested(depth: int) -> str:
    """JSON nested ``depth`` arrays deep: Python's parser gives up with RecursionError."""
    return "[" * depth + "]" * depth
