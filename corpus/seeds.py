"""Titles for the seed documents a source may cite (``seed:<file>#<section>``), from ``data/seed_documents.json``.

The file holds each seed document's title and the headings of the sections the corpus cites, copied from the seed
texts; a page shows "title, section heading" where the record says ``seed:…#…``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

SEED_PREFIX = "seed:"


@cache
def seed_documents() -> dict[str, dict]:
    """Seed file name -> {"title": str, "sections": {slug: heading}}."""
    text = resources.files("corpus").joinpath("data", "seed_documents.json").read_text(encoding="utf-8")
    return json.loads(text)


def seed_title(ref: str) -> str | None:
    """A ``seed:<file>#<section>`` reference as "document title: section heading"; None for any other reference.

    A section the data file lacks shows as the document's title alone, a document it lacks as the reference itself
    (there is no title to give), never as an error: a source cited by an imported record still renders."""
    if not ref.startswith(SEED_PREFIX):
        return None
    name, _, section = ref[len(SEED_PREFIX):].partition("#")
    document = seed_documents().get(name)
    if document is None:
        return ref
    heading = document["sections"].get(section)
    return f"{document['title']}: {heading}" if heading else document["title"]
