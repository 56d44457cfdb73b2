"""The enricher's settings, read once from the environment at start-up."""

from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, PositiveFloat, SecretStr

from shared.kladana_types import TRANSACTION_TYPES, TypeTable
from shared.settings import ConsumerSettings, HttpUrl

_ENTITY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


def parse_entity_overrides(text: str) -> dict[str, str]:
    """``"ProductionTask=processingorder,Move=move"`` -> ``{"ProductionTask": ..., "Move": ...}``.

    Raises ``ValueError`` on a malformed pair or an unknown transaction type.
    """
    overrides: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, equals, entity = (side.strip() for side in pair.partition("="))
        if not equals or not name or not entity or not set(entity) <= _ENTITY_CHARACTERS:
            raise ValueError("expected Type=entity pairs with lower-case entities, comma-separated")
        overrides[name] = entity
    try:
        TRANSACTION_TYPES.with_entities(overrides)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    return overrides


def _check_entity_overrides(text: str) -> str:
    parse_entity_overrides(text)
    return text


class EnricherSettings(ConsumerSettings):
    kladana_api_url: HttpUrl = "https://api.kladana.com/api/remap/1.2"
    kladana_token: SecretStr = Field(min_length=1)
    kladana_timezone: ZoneInfo = ZoneInfo("Europe/Moscow")
    """The zone of Kladana's zone-less dates (the docs say Moscow time)."""
    kladana_timeout_s: PositiveFloat = 30.0
    kladana_entity_overrides: Annotated[str, AfterValidator(_check_entity_overrides)] = ""
    enricher_group_id: str = Field(default="enricher", min_length=1)

    def transaction_types(self) -> TypeTable:
        """The type table with ``KLADANA_ENTITY_OVERRIDES`` applied."""
        return TRANSACTION_TYPES.with_entities(
            parse_entity_overrides(self.kladana_entity_overrides)
        )
