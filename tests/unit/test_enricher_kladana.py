"""Reading Kladana's answers: error bodies, error codes and rate-limit headers.

The client's requests against real local HTTP servers: tests/integration/test_enricher_kladana.py.
"""

import pytest

from enricher.kladana import (
    describe_error_body,
    error_codes,
    header_count,
    is_expand_refusal,
    is_type_forbidden,
    retry_after_s,
)


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ('{"errors": [{"error": "a", "code": 1073}, {"error": "b", "code": 1049}]}', {1073, 1049}),
        ('{"errors": [{"error": "a", "code": "1073"}, "odd", {"error": "b"}]}', set()),
        ('{"errors": "none"}', set()),
        ("[1073]", set()),
        ("<html>429 Too Many Requests</html>", set()),
        ("", set()),
    ],
)
def test_error_codes_are_read_defensively(body: str, codes: set[int]) -> None:
    assert error_codes(body) == codes


@pytest.mark.parametrize(
    ("body", "described"),
    [
        (
            '{"errors": [{"error": "Authentication error", "code": 1056, '
            '"moreInfo": "https://dev.kladana.com/api/remap/1.2/#error_1056"}]}',
            "Authentication error (code 1056)",
        ),
        (
            '{"errors": [{"error": "Bad field", "code": 3004, "parameter": "sum"},'
            ' {"error_message": "second"}]}',
            "Bad field (code 3004, parameter sum); second",
        ),
        ('{"errors": ["plain string"]}', "plain string"),
        ('{"errors": [{}]}', "unnamed error"),
        ('{"errors": []}', '{"errors": []}'),
        ('{"message": "no errors list"}', '{"message": "no errors list"}'),
        ("<html>\n<h1>Service   Unavailable</h1>\n</html>", "Service Unavailable"),
        ("", "(empty body)"),
        ("   \n ", "(empty body)"),
        ("x" * 500, "x" * 200 + "..."),
    ],
)
def test_error_bodies_are_described_defensively(body: str, described: str) -> None:
    assert describe_error_body(body) == described


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"X-Lognex-Retry-After": "1500"}, 1.5),
        ({"X-Lognex-Retry-After": "250"}, 0.25),
        ({"X-Lognex-Retry-After": "3000.0"}, 3.0),
        ({"X-Lognex-Retry-After": "0"}, None),
        ({"X-Lognex-Retry-After": "-5"}, None),
        ({"X-Lognex-Retry-After": "soon"}, None),
        ({"X-Lognex-Retry-After": "nan"}, None),
        ({"X-Lognex-Retry-After": "inf"}, None),
        ({"Retry-After": "2"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_milliseconds_turned_into_seconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_s(headers) == seconds


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("41", 41),
        (" 7 ", 7),
        ("0", 0),
        ("-1", None),
        ("4.5", None),
        ("many", None),
        ("", None),
        (None, None),
    ],
)
def test_rate_limit_counts_are_read_defensively(value: str | None, count: int | None) -> None:
    headers = {} if value is None else {"X-RateLimit-Remaining": value}
    assert header_count(headers, "X-RateLimit-Remaining") == count


# Found by tests/unit/test_properties_enricher.py: Python's JSON parser gives up on
# deep nesting with RecursionError, not ValueError.
TOO_DEEP = "[" * 5000 + "]" * 5000


def test_an_error_body_nested_too_deeply_is_described_as_text() -> None:
    body = '{"errors": ' + TOO_DEEP + "}"
    assert describe_error_body(body) == body[:200] + "..."
    assert error_codes(body) == set()


@pytest.mark.parametrize(
    ("body", "described"),
    [
        (
            '{"errors": [{"error": "Bad\\nfield", "parameter": "a\\r\\nb"}]}',
            "Bad field (parameter a b)",
        ),
        ('{"errors": [{"error": " \\n "}]}', "unnamed error"),
        ('{"errors": ["\\n"]}', "unnamed error"),
    ],
)
def test_an_error_description_is_one_line(body: str, described: str) -> None:
    # Found by tests/unit/test_properties_enricher.py: line breaks were kept.
    assert describe_error_body(body) == described


# Kladana's own wording: _errors.md, codes 1016 and 1089.
ACCESS_DENIED = (
    '{"errors": [{"error": "Access Denied: You do not have permission to view this item", '
    '"code": 1016}]}'
)
NOT_SUPPORTED = '{"errors": [{"error": "Expand field sourceStore is not supported", "code": 1089}]}'


@pytest.mark.parametrize(
    ("body", "forbidden"),
    [
        (ACCESS_DENIED, True),
        ('{"errors": [{"error": "No access to entity cashout", "code": 1000}]}', True),
        ('{"errors": [{"error_message": "CashOut is not available to this user"}]}', True),
        ('{"errors": [{"error": "Authentication error", "code": 1056}]}', False),
        ('{"errors": [{"error": "Access to the API is forbidden for this account"}]}', False),
        ("<html>403 Forbidden</html>", False),
        ("", False),
    ],
)
def test_a_403_about_one_type_is_told_from_a_refused_token(body: str, forbidden: bool) -> None:
    assert is_type_forbidden(body, "cashout") is forbidden


def test_an_entity_is_named_by_a_whole_word_only() -> None:
    body = '{"errors": [{"error": "Token removed by the administrator"}]}'
    assert not is_type_forbidden(body, "move")
    assert is_type_forbidden('{"errors": [{"error": "No access to move documents"}]}', "move")


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (NOT_SUPPORTED, True),
        ('{"errors": [{"error": "Invalid request parameters", "parameter": "expand"}]}', True),
        ('{"errors": [{"error": "Unknown field agent in expand", "code": 1040}]}', True),
        ('{"errors": [{"error": "Invalid value of filter parameter", "code": 1014}]}', False),
        ("<html>400 Bad Request</html>", False),
        ("", False),
    ],
)
def test_a_refused_expand_is_recognised_by_code_or_parameter(body: str, refused: bool) -> None:
    assert is_expand_refusal(body) is refused
