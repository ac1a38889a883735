"""``DatabaseEmbeddingCache``: the embedding cache in the Store's database (table ``embeddings``).

Every replica shares it, so vectors computed once (by a build, an import or a write) are read back by every
other process instead of being embedded again. Keys are ``embeddings.cache.text_key`` (model id and text hash).
"""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from embeddings.cache import VectorCache
from matcher.storage.store import Store
from matcher.storage.tables import EmbeddingRow

# Keys per SELECT and rows per INSERT: within every database's limits on bound parameters.
_READ_CHUNK = 500
_WRITE_CHUNK = 1000

log = logging.getLogger("matcher")


class DatabaseEmbeddingCache:
    """Vectors by key in the ``embeddings`` table; implements ``embeddings.cache.VectorCache``."""

    def __init__(self, store: Store, *, fallback: VectorCache | None = None) -> None:
        """``fallback``: an older cache (the file one a data folder kept before this table existed) whose vectors
        are copied into the table as they are asked for, so an upgrade does not embed everything again."""
        self.store = store
        self.fallback = fallback

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self.store.session() as session:
            for start in range(0, len(keys), _READ_CHUNK):
                rows = session.execute(select(EmbeddingRow.key, EmbeddingRow.dim, EmbeddingRow.vec)
                                       .where(EmbeddingRow.key.in_(keys[start : start + _READ_CHUNK])))
                for key, dim, blob in rows:
                    found[key] = np.frombuffer(blob, dtype="<f4", count=dim)
        if self.fallback is not None and len(found) < len(keys):
            inherited = self.fallback.get_many([k for k in keys if k not in found])
            if inherited:
                self.put_many(inherited)
                found.update(inherited)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        """Store vectors; a key already there is kept (the same text under the same model has the same vector,
        and another replica may have written it a moment ago)."""
        rows = [{"key": k, "dim": int(v.shape[0]), "vec": np.asarray(v, dtype="<f4").tobytes()}
                for k, v in items.items()]
        if not rows:
            return
        dialect = self.store.engine.dialect.name
        statement = (postgresql.insert(EmbeddingRow).on_conflict_do_nothing() if dialect == "postgresql" else
                     sqlite.insert(EmbeddingRow).on_conflict_do_nothing() if dialect == "sqlite" else
                     insert(EmbeddingRow))
        try:
            with self.store.engine.begin() as connection:
                for start in range(0, len(rows), _WRITE_CHUNK):
                    connection.execute(statement, rows[start : start + _WRITE_CHUNK])
        except SQLAlchemyError as e:  # derived data only: this build still uses the vectors; a later one recomputes
            log.warning("could not store %d embeddings in the database (%s: %s); they will be computed again "
                        "next time", len(rows), type(e).__name__, e)

    def __len__(self) -> int:
        with self.store.session() as session:
            return session.scalar(select(func.count()).select_from(EmbeddingRow)) or 0
