"""Settings of the core, passed in explicitly. Only ``Settings.from_env`` reads the environment (at the doors)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpus.loaders import default_data_dir

ENV_PREFIX = "PM_"
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")  # shown in histories and exports


class Settings(BaseModel):
    """Where things live and which model to use. Unset fields mean the embedded default works out of the box."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(Path("var"), description="Index, embedding cache and default SQLite database location.")
    corpus_dir: Path | None = Field(
        None, description="Corpus to seed from; default: DATA_DIR/corpus if it exists, else the bundled corpus."
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite under data_dir.")
    model: str | None = Field(None, description="sentence-transformers model name or folder; default bundled.")
    # Name -> key. The name is recorded with every write and decision; the key never is, nor printed.
    api_keys: dict[str, str] = Field(default_factory=dict, repr=False)
    # Off by default: it did not raise nDCG@10 on the train split by 0.005 (docs/ranking.md), and off, the list is
    # simply in score order.
    diversity: float = Field(0.0, ge=0, le=1, description="MMR trade-off; 0 (default) ranks by score alone.")
    weak_below: float | None = Field(
        None, description="Calibrated fit (a result's probability of being a good partner) under which results are "
                          "flagged weak; default: the calibrated line for the bundled model (matcher/ranking/"
                          "calibration.json), none for other models.")
    batch_size: int = 32
    backend: str | None = Field(
        None, pattern="^(torch|onnx|onnx-int8)$",
        description="Embedding backend: torch, onnx or onnx-int8; default: the fastest that meets the quality bar.")
    onnx_threads: int | None = Field(None, ge=1, description="ONNX Runtime threads per query; default: usable cores.")
    blas_threads: int | None = Field(1, ge=1, description="numpy's BLAS threads in a process that serves queries: "
                                                          "their products are small, and a second thread costs more "
                                                          "than it saves; empty: the library's default.")
    ann_threshold: int = Field(50_000, ge=1, description="Search units from which dense search is approximate (IVF).")
    ann_nprobe: int | None = Field(None, ge=1, description="IVF lists scanned per query; default: 1/16 of them.")
    query_cache_size: int = Field(1024, ge=0, description="Query embeddings kept in memory (least recently used).")
    rate_limit: str = Field("300 per minute", description="HTTP requests per route and client; empty: no limit.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins whose browsers may call the API.")
    trusted_proxies: int = Field(0, ge=0, le=5, description="Reverse proxies in front of the service whose "
                                 "X-Forwarded-For/-Proto are believed (1 behind scripts/proxy.sh); 0: none.")
    public_url: str | None = Field(None, description="The service's public address (https://host[/prefix]): export "
                                   "links are built on it, never on the request's Host header; empty: the request's "
                                   "own address.")
    log_json: bool = Field(False, description="The HTTP service logs one JSON object per line, with request ids.")
    log_level: str = Field("INFO", description="Level of the HTTP service's JSON logs (and gunicorn's).")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"PM_PUBLIC_URL {value!r} must be an http(s) address with a host and no query, such as "
                             "https://partners.example.org or https://example.org/partner-matcher")
        return value.strip().rstrip("/")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _named_keys(cls, value: Any) -> dict[str, str]:
        return cls.named_api_keys(value)

    @staticmethod
    def named_api_keys(value: Any) -> dict[str, str]:
        """Keys by name from ``PM_API_KEYS``'s form: ``name:key`` entries, comma-separated (a string or a list);
        a plain ``key`` (no colon) is named ``key-N`` by its place in the list. A mapping is taken as it is."""
        if isinstance(value, Mapping):
            entries = [(str(name), str(key)) for name, key in value.items()]
        else:
            items = value.split(",") if isinstance(value, str) else list(value or [])
            entries = []
            for item in (str(i).strip() for i in items):
                if not item:
                    continue
                name, sep, key = item.partition(":")
                entries.append((name.strip(), key.strip()) if sep else (f"key-{len(entries) + 1}", item))
        keys: dict[str, str] = {}
        for name, key in entries:
            if not KEY_NAME.match(name):
                raise ValueError(f"API key name {name!r} must be 1-64 letters, digits, spaces or . _ @ - (in "
                                 "PM_API_KEYS=name:key,...)")
            if not key:
                raise ValueError(f"API key {name!r} is empty; write PM_API_KEYS=name:key,...")
            if name in keys:
                raise ValueError(f"API key name {name!r} is given twice in PM_API_KEYS; names must be unique")
            keys[name] = key
        return keys

    @property
    def resolved_corpus_dir(self) -> Path:
        if self.corpus_dir is not None:
            return self.corpus_dir
        own = self.data_dir / "corpus"
        return own if (own / "organisations").is_dir() else default_data_dir()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'partner-matcher.db').resolve()}"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index" / "partner-index.npz"

    @property
    def cache_path(self) -> Path:
        return self.data_dir / "cache" / "embeddings.sqlite"

    @property
    def models_dir(self) -> Path:
        """Where ONNX exports of the embedding model are kept (made on first use)."""
        return self.data_dir / "models"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Read ``PM_DATA_DIR``, ``PM_CORPUS_DIR``, ``PM_DATABASE_URL``, ``PM_MODEL``, ``PM_API_KEYS`` and the
        performance settings ``PM_BACKEND``, ``PM_ONNX_THREADS``, ``PM_ANN_THRESHOLD``, ``PM_ANN_NPROBE``,
        ``PM_QUERY_CACHE``, and the HTTP service's ``PM_PUBLIC_URL``, ``PM_TRUSTED_PROXIES``, ``PM_RATE_LIMIT``, ``PM_CORS_ORIGINS``, ``PM_LOG_JSON`` and
        ``PM_LOG_LEVEL``."""
        env = os.environ if environ is None else environ
        values: dict = {}
        if env.get("PM_DATA_DIR"):
            values["data_dir"] = Path(env["PM_DATA_DIR"])
        if env.get("PM_CORPUS_DIR"):
            values["corpus_dir"] = Path(env["PM_CORPUS_DIR"])
        if env.get("PM_DATABASE_URL"):
            values["database_url"] = env["PM_DATABASE_URL"]
        if env.get("PM_MODEL"):
            values["model"] = env["PM_MODEL"]
        if env.get("PM_DIVERSITY"):
            values["diversity"] = env["PM_DIVERSITY"]
        if env.get("PM_WEAK_BELOW"):
            values["weak_below"] = env["PM_WEAK_BELOW"]
        if "PM_BLAS_THREADS" in env:  # set but empty: the library's default
            values["blas_threads"] = env["PM_BLAS_THREADS"] or None
        for name, field in (("PM_BACKEND", "backend"), ("PM_ONNX_THREADS", "onnx_threads"),
                            ("PM_ANN_THRESHOLD", "ann_threshold"), ("PM_ANN_NPROBE", "ann_nprobe"),
                            ("PM_QUERY_CACHE", "query_cache_size"), ("PM_TRUSTED_PROXIES", "trusted_proxies")):
            if env.get(name):
                values[field] = env[name]
        if env.get("PM_API_KEYS"):
            values["api_keys"] = env["PM_API_KEYS"]  # name:key,... or plain keys (see named_api_keys)
        if "PM_RATE_LIMIT" in env:  # set but empty turns the limit off
            values["rate_limit"] = env["PM_RATE_LIMIT"]
        if env.get("PM_CORS_ORIGINS"):
            values["cors_origins"] = [o.strip() for o in env["PM_CORS_ORIGINS"].split(",") if o.strip()]
        if env.get("PM_PUBLIC_URL"):
            values["public_url"] = env["PM_PUBLIC_URL"]
        if env.get("PM_LOG_JSON"):
            values["log_json"] = env["PM_LOG_JSON"] == "1"  # only "1" turns it on
        if env.get("PM_LOG_LEVEL"):
            values["log_level"] = env["PM_LOG_LEVEL"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# The server asks glibc's malloc for transparent huge pages (glibc >= 2.35; elsewhere the tunable is ignored): the
# request path streams the model's weights and the index's arrays, and huge pages spare the TLB misses when another
# process has just emptied the caches (the paired runs are in docs/performance.md).
HUGEPAGE_MALLOC = "glibc.malloc.hugetlb=1"


def serving_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment to start the HTTP server with: ``environ`` plus glibc's huge-page malloc tunable, appended to
    any ``GLIBC_TUNABLES`` already set, unless they set ``glibc.malloc.hugetlb`` themselves or ``PM_HUGEPAGES=0``.
    (The tunable is read when a program starts, so it is set for the server's exec, not from inside it.)"""
    env = dict(environ)
    tunables = env.get("GLIBC_TUNABLES", "")
    if env.get("PM_HUGEPAGES", "1") != "0" and "glibc.malloc.hugetlb" not in tunables:
        env["GLIBC_TUNABLES"] = f"{tunables}:{HUGEPAGE_MALLOC}" if tunables else HUGEPAGE_MALLOC
    return env
