"""Corpus: schemas, vocabularies and loaders for organisations, projects and challenge areas (no Flask, no model)."""

from corpus.loaders import (
    CorpusError,
    corpus_hash,
    default_data_dir,
    load_challenges,
    load_organisations,
    load_projects,
    load_records,
)
from corpus.schema import Challenge, Document, Organisation, Project, Source, slugify

__all__ = [
    "Challenge",
    "CorpusError",
    "Document",
    "Organisation",
    "Project",
    "Source",
    "corpus_hash",
    "default_data_dir",
    "load_challenges",
    "load_organisations",
    "load_projects",
    "load_records",
    "slugify",
]
