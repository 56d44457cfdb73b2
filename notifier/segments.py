"""What an SMS text costs: its encoding (GSM-7 or UCS-2) and its number of segments.

A text that every character of fits GSM 03.38, the SMS alphabet, goes as 7-bit septets
(an extension character such as ``€`` or ``{`` takes two); anything else, a Hindi letter
or an emoji, makes the whole message UCS-2 (UTF-16 code units). One segment carries 160
septets or 70 units; a longer message is split into parts of 153 or 67, since each part
spends some on the header that joins them.
"""

import math
from dataclasses import dataclass
from typing import Literal

import gsm0338  # noqa: F401  # registers the "gsm03.38" codec

_GSM_CODEC = "gsm03.38"
_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SmsLength:
    encoding: Encoding
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    segments: int


def sms_length(text: str) -> SmsLength:
    encoding: Encoding
    try:
        units = len(text.encode(_GSM_CODEC))
        encoding = "GSM-7"
    except UnicodeEncodeError:
        units = len(text.encode("utf-16-be")) // 2
        encoding = "UCS-2"
    single, part = _LIMITS[encoding]
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsLength(encoding, units, segments)
