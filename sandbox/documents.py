"""The documents the sandbox serves, and how it renders one the way Kladana does.

``documents.json`` stores every referenced object (agent, state, ...) expanded but links to
other documents (``operations``, ``customerOrder``...) bare, every collection (positions,
contact persons) with all its ``rows``, and every ``href`` relative to the API root;
:func:`render` completes the hrefs with the sandbox's own URL and reduces references and
collections that were not asked for in ``expand`` to their ``meta``, as the real API does.
An expanded collection keeps at most :data:`EXPANDED_ROWS_LIMIT` rows (its ``meta.size``
still counts them all); the value of an additional field that is a reference keeps its
``name``, expanded or not.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
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


Linked = Callable[[str, str], Mapping[str, Any] | None]
"""Finds a document by entity and id: the one a link (``customerOrder``...) points to."""


def render(
    document: Mapping[str, Any],
    *,
    api_url: str,
    expand: frozenset[str],
    linked: Linked | None = None,
) -> Any:
    """The document as the API answers it, built anew (the stored one is never changed).

    Links to other documents are stored as bare ``meta``; expanded, they become the
    document ``linked`` finds (its own references following the same ``expand``).
    """
    return _Renderer(api_url, expand, linked).render(document, "")


class _Renderer:
    def __init__(self, api_url: str, expand: frozenset[str], linked: Linked | None) -> None:
        self._api_url = api_url
        self._expand = expand
        self._linked = linked

    def render(self, value: Any, path: str) -> Any:
        if isinstance(value, list):
            # A list of links (a payment's ``operations``) is named by the list's path.
            return [self.render(self._resolved(item, path), path) for item in value]
        if not isinstance(value, Mapping):
            return value
        rendered: dict[str, Any] = {}
        for key, item in value.items():
            # A collection's rows are named by the collection's path: positions.assortment.
            item_path = path if key == "rows" else f"{path}.{key}" if path else key
            if isinstance(item, Mapping) and "meta" in item:
                item = self._resolved(item, item_path)
                if not _stays(item_path, self._expand):
                    item = {field: item[field] for field in _LINK_FIELDS if field in item}
            if key == "rows" and isinstance(item, list):
                item = item[:EXPANDED_ROWS_LIMIT]
            if key in _HREF_KEYS and isinstance(item, str) and item.startswith("/"):
                item = self._api_url + item
            rendered[key] = self.render(item, item_path)
        return rendered

    def _resolved(self, item: Any, path: str) -> Any:
        """A bare link that ``expand`` names, as the document it links to (if bundled)."""
        is_bare_link = isinstance(item, Mapping) and "meta" in item and set(item) <= _LINK_FIELDS
        if not is_bare_link or self._linked is None or path not in self._expand:
            return item
        meta = item["meta"]
        target = self._linked(meta["type"], meta["href"].rsplit("/", 1)[-1])
        # ``linkedSum`` belongs to the payment's link, not to the paid document: it stays.
        return item if target is None else {**target, **item}


# A reference's own fields: what is left of it when it is not expanded.
_LINK_FIELDS = frozenset({"meta", "linkedSum"})


def _stays(path: str, expand: frozenset[str]) -> bool:
    """Whether the object at ``path`` is sent whole: expanded, or an attribute's value."""
    return path in expand or path == "attributes.value" or path.endswith(".attributes.value")
