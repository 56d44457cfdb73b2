"""The documents the sandbox serves, and how it renders one the way Kladana does.

``documents.json`` stores every referenced object (agent, state, ...) expanded, every
collection (positions, contact persons) with all its ``rows``, and every ``href``
relative to the API root; :func:`render` completes the hrefs with the sandbox's own URL
and reduces references and collections that were not asked for in ``expand`` to their
``meta``, as the real API does. An expanded collection keeps at most
:data:`EXPANDED_ROWS_LIMIT` rows (its ``meta.size`` still counts them all); the value of
an additional field that is a reference keeps its ``name``, expanded or not.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import Any

SEED_ORDER_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
"""The Sales Order of the seed example: 5643, 10.06.2024, 50,000 rupees, Shipped."""

_HREF_KEYS = frozenset({"href", "metadataHref"})

EXPANDED_ROWS_LIMIT = 100
"""Kladana expands no more rows of a collection than this (its rule for ``expand``)."""


class SandboxDocuments:
    """Kladana documents looked up by JSON API entity and id."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        self._by_key = {(doc["meta"]["type"], doc["id"]): doc for doc in documents}

    @classmethod
    def bundled(cls) -> "SandboxDocuments":
        """The sample documents shipped in ``sandbox/documents.json``."""
        text = resources.files("sandbox").joinpath("documents.json").read_text(encoding="utf-8")
        documents: list[Mapping[str, Any]] = json.loads(text)["documents"]
        return cls(documents)

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self._by_key.values())

    @property
    def entities(self) -> frozenset[str]:
        return frozenset(entity for entity, _ in self._by_key)

    def find(self, entity: str, document_id: str) -> Mapping[str, Any] | None:
        return self._by_key.get((entity, document_id))


def expand_paths(expand: str) -> frozenset[str]:
    """``"agent,rate.currency"`` -> every path it expands: agent, rate, rate.currency."""
    paths: set[str] = set()
    for item in filter(None, (part.strip() for part in expand.split(","))):
        steps = item.split(".")
        paths.update(".".join(steps[: depth + 1]) for depth in range(len(steps)))
    return frozenset(paths)


def render(document: Mapping[str, Any], *, api_url: str, expand: frozenset[str]) -> Any:
    """The document as the API answers it, built anew (the stored one is never changed)."""
    return _render(document, "", api_url, expand)


def _render(value: Any, path: str, api_url: str, expand: frozenset[str]) -> Any:
    if isinstance(value, list):
        return [_render(item, path, api_url, expand) for item in value]
    if not isinstance(value, Mapping):
        return value
    rendered: dict[str, Any] = {}
    for key, item in value.items():
        # A collection's rows are named by the collection's path: positions.assortment.
        item_path = path if key == "rows" else f"{path}.{key}" if path else key
        if isinstance(item, Mapping) and "meta" in item and not _stays(item_path, expand):
            item = {"meta": item["meta"]}
        if key == "rows" and isinstance(item, list):
            item = item[:EXPANDED_ROWS_LIMIT]
        if key in _HREF_KEYS and isinstance(item, str) and item.startswith("/"):
            item = api_url + item
        rendered[key] = _render(item, item_path, api_url, expand)
    return rendered


def _stays(path: str, expand: frozenset[str]) -> bool:
    """Whether the object at ``path`` is sent whole: expanded, or an attribute's value."""
    return path in expand or path == "attributes.value" or path.endswith(".attributes.value")
