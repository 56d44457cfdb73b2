"""Would a new revision of an event schema break a subscriber of the released one?

A subscriber of ``v1`` relies on every field ``v1`` promised, with its type and its
constraints. So, from the released schema to the current one of the same version:

- removing a property, or making a required one optional, breaks it;
- changing a ``type``, ``const``, ``format`` or ``pattern`` breaks it;
- ``anyOf``/``oneOf``/``allOf`` must keep their branches, in number and order; each
  branch is compared with its released self by these same rules (so a property may be
  added to the object branch of ``{"oneOf": [{"type": "null"}, {"type": "object"}]}``;
  keep the branches of a ``oneOf`` disjoint when you do);
- tightening a constraint breaks it (a larger minimum, a smaller maximum, fewer ``enum``
  values, an optional property made required, ``additionalProperties: false``), since
  events that subscribers have stored or replay no longer validate;
- adding a property (optional or required) or an ``enum`` value does not: subscribers are
  told to ignore what they do not know (docs/events.md).

No well-kept library answers exactly this: jsoncompat (alpha) either lets tightening pass
(its serializer role) or fails every new optional property (its deserializer role). This
walks the subset of JSON Schema 2020-12 that ``shared/schemas`` uses; a keyword it does
not understand must be unchanged, so an unknown change is reported, never let through.
"""

from collections.abc import Iterator, Mapping
from typing import Any

Schema = Mapping[str, Any]

_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_MUST_STAY = ("type", "const", "format", "pattern", "not")
_COMBINATORS = ("anyOf", "oneOf", "allOf")
_UNDERSTOOD = frozenset(
    (
        *_LOWER_BOUNDS,
        *_UPPER_BOUNDS,
        *_MUST_STAY,
        *_COMBINATORS,
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "$ref",
        "$defs",
        "$schema",
        "$id",
        "title",
        "description",
        "examples",
        "default",
    )
)


def breaking_changes(released: Schema, current: Schema) -> list[str]:
    """Every change from ``released`` to ``current`` that breaks a subscriber, as
    ``"<JSON pointer>: <what changed>"``; empty when the change is compatible."""
    return list(_Walk(released, current).compare(released, current, "#", frozenset()))


class _Walk:
    def __init__(self, released_root: Schema, current_root: Schema) -> None:
        self._roots = (released_root, current_root)

    def compare(
        self, old: Schema, new: Schema, where: str, seen: frozenset[tuple[str, str]]
    ) -> Iterator[str]:
        old, new = self._resolve(old, 0), self._resolve(new, 1)
        pair = (repr(old), repr(new))
        if pair in seen:  # a recursive $ref already being compared
            return
        seen = seen | {pair}
        yield from _unknown_keywords(old, new, where)
        for keyword in _MUST_STAY:
            before, after = old.get(keyword), new.get(keyword)
            if before != after:
                yield f"{where}: {keyword} changed from {before!r} to {after!r}"
        yield from self._branches(old, new, where, seen)
        yield from _bounds(old, new, where)
        yield from _enum(old, new, where)
        yield from self._object(old, new, where, seen)
        if isinstance(old.get("items"), Mapping):
            if not isinstance(new.get("items"), Mapping):
                yield f"{where}/items: item schema removed"
            else:
                yield from self.compare(old["items"], new["items"], f"{where}/items", seen)

    def _branches(
        self, old: Schema, new: Schema, where: str, seen: frozenset[tuple[str, str]]
    ) -> Iterator[str]:
        for keyword in _COMBINATORS:
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
                for index, (old_branch, new_branch) in enumerate(zip(before, after, strict=True)):
                    yield from self.compare(
                        old_branch, new_branch, f"{where}/{keyword}/{index}", seen
                    )
            else:
                yield f"{where}: {keyword} changed from {before!r} to {after!r}"

    def _object(
        self, old: Schema, new: Schema, where: str, seen: frozenset[tuple[str, str]]
    ) -> Iterator[str]:
        old_properties: Schema = old.get("properties", {})
        new_properties: Schema = new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name in sorted(old_required - new_required):
            yield f"{where}/properties/{name}: no longer required"
        for name in sorted((new_required - old_required) & set(old_properties)):
            yield f"{where}/properties/{name}: optional property made required"
        for name, old_property in old_properties.items():
            if name not in new_properties:
                yield f"{where}/properties/{name}: removed"
            else:
                yield from self.compare(
                    old_property, new_properties[name], f"{where}/properties/{name}", seen
                )
        if old.get("additionalProperties", True) is not False and (
            new.get("additionalProperties", True) is False
        ):
            yield f"{where}: additionalProperties forbidden"

    def _resolve(self, schema: Schema, side: int) -> Schema:
        """Follow a local ``$ref`` (``#/$defs/...``) to the schema it names."""
        reference = schema.get("$ref")
        if not isinstance(reference, str):
            return schema
        if not reference.startswith("#/"):
            raise ValueError(f"only local $ref targets are supported, not {reference!r}")
        target: Any = self._roots[side]
        for part in reference[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return self._resolve(target, side)


def _unknown_keywords(old: Schema, new: Schema, where: str) -> Iterator[str]:
    for keyword in sorted((set(old) | set(new)) - _UNDERSTOOD):
        if old.get(keyword) != new.get(keyword):
            yield f"{where}: {keyword} changed (a keyword this check cannot judge)"


def _bounds(old: Schema, new: Schema, where: str) -> Iterator[str]:
    for keyword in _LOWER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
            yield f"{where}: {keyword} raised to {new[keyword]!r}"
    for keyword in _UPPER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
            yield f"{where}: {keyword} lowered to {new[keyword]!r}"


def _enum(old: Schema, new: Schema, where: str) -> Iterator[str]:
    if "enum" not in new:
        return
    if "enum" not in old:
        yield f"{where}: enum added"
        return
    removed = [value for value in old["enum"] if value not in new["enum"]]
    if removed:
        yield f"{where}: enum values removed: {removed!r}"
