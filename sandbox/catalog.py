"""Which documents exist: the bundled ones, synthesized ones, minus the ones removed.

Removal is how tests produce a 404 for a document that existed: Kladana answers so
when a document is deleted between the webhook and the enricher's call.
"""

import threading
from collections.abc import Mapping
from typing import Any

from sandbox.documents import SandboxDocuments
from sandbox.synthetic import Synthesizer
from shared.kladana_types import TRANSACTION_TYPES

# Kladana's docs also name Production Order ``processingorder``: both are entities.
TRANSACTION_ENTITIES = frozenset(
    transaction_type.entity
    for name in TRANSACTION_TYPES.names
    if (transaction_type := TRANSACTION_TYPES.by_name(name))
) | {"processingorder"}


class DocumentCatalog:
    """Looks documents up by entity and id; thread-safe."""

    def __init__(self, bundled: SandboxDocuments) -> None:
        self._bundled = bundled
        self._synthesizer = Synthesizer(bundled)
        self._removed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.entities = bundled.entities | TRANSACTION_ENTITIES

    def find(self, entity: str, document_id: str, *, synthesize: bool) -> Mapping[str, Any] | None:
        with self._lock:
            if (entity, document_id) in self._removed:
                return None
        document = self._bundled.find(entity, document_id)
        if document is None and synthesize and entity in self.entities:
            return self._synthesizer.document(entity, document_id)
        return document

    def linked(self, entity: str, document_id: str) -> Mapping[str, Any] | None:
        """A document another one links to (``operations``, ``customerOrder``), if bundled."""
        return self.find(entity, document_id, synthesize=False)

    def remove(self, entity: str, document_id: str) -> None:
        with self._lock:
            self._removed.add((entity, document_id))

    def restore(self, entity: str, document_id: str) -> None:
        with self._lock:
            self._removed.discard((entity, document_id))
