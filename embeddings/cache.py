"""An on-disk embedding cache keyed by model id and text hash, so an unchanged text is never embedded twice."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from embeddings.base import Embedder


def text_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x00{text}".encode()).hexdigest()


class VectorCache(Protocol):
    """What ``CachedEmbedder`` needs of a cache: vectors by key. ``EmbeddingCache`` keeps them in a file; the
    matcher's ``DatabaseEmbeddingCache`` keeps them in the service's database, shared by every replica."""

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]: ...

    def put_many(self, items: dict[str, np.ndarray]) -> None: ...


class EmbeddingCache:
    """Vectors in one SQLite file (stdlib sqlite3: a derived artifact, safe to delete, not the product's data).

    SQLite gives atomic writes and safe concurrent readers for free, which a folder of .npy files would not.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB)")
            self._conn = conn
        return self._conn

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            db = self._db()
            for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                # Only "?" placeholders are formatted into the SQL; the keys are bound parameters.
                for key, dim, blob in db.execute(f"SELECT key, dim, vec FROM vectors WHERE key IN ({marks})", chunk):  # nosec B608
                    found[key] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        rows = [(k, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()]
        with self._lock:
            db = self._db()
            with db:
                db.executemany("INSERT OR REPLACE INTO vectors (key, dim, vec) VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return self._db().execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class CachedEmbedder:
    """Wraps an embedder: texts already in the cache are read back, only the rest reach the model."""

    def __init__(self, embedder: Embedder, cache: VectorCache) -> None:
        self.embedder = embedder
        self.cache = cache
        self.model_id = embedder.model_id

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        keys = [text_key(self.model_id, t) for t in texts]
        cached = self.cache.get_many(list(dict.fromkeys(keys)))
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in cached))
        if missing:
            fresh = self.embedder.encode(missing, batch_size=batch_size, show_progress=show_progress)
            new = {text_key(self.model_id, t): v for t, v in zip(missing, fresh)}
            self.cache.put_many(new)
            cached.update(new)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = cached[key]
        return out
