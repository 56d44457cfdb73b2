"""Finding the number to text in Kladana's free-text phone field.

Only numbers that can receive an SMS count: mobiles, and numbers whose plan cannot
tell mobile from landline (FIXED_LINE_OR_MOBILE, e.g. the US). A landline is skipped
and the next number in the field is tried.
"""

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberMatcher, PhoneNumberType

SMS_CAPABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def is_known_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS


def first_mobile_number(text: str | None, region: str) -> str | None:
    """The first valid SMS-capable number in ``text``, in E.164; ``None`` if there is none.

    ``region`` (ISO 3166 alpha-2) is assumed for numbers written without a country code.
    """
    if not text:
        return None
    for match in PhoneNumberMatcher(text, region):
        if phonenumbers.number_type(match.number) in SMS_CAPABLE_TYPES:
            return phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
    return None
