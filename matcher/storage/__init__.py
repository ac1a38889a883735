"""The database: its tables (``tables``), the ``Store`` of organisations and projects (``store``), the store of
shortlist jobs and decisions (``shortlist_store``), the shared embedding cache (``embedding_cache``) and the Alembic migrations that version the schema
(``migrations``)."""

from matcher.storage.embedding_cache import DatabaseEmbeddingCache
from matcher.storage.shortlist_store import (
    DecisionRecord,
    ShortlistAssignment,
    ShortlistJob,
    ShortlistStore,
)
from matcher.storage.store import Page, RecordChange, Store, record_etag

__all__ = ["DatabaseEmbeddingCache", "DecisionRecord", "Page", "RecordChange", "ShortlistAssignment", "ShortlistJob", "ShortlistStore",
           "Store", "record_etag"]
