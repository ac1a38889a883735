"""``python -m corpus validate FILE...``: check corpus files against the schema without installing the CLI."""

import sys
from pathlib import Path

from corpus.loaders import CorpusError, load_records
from corpus.schema import Organisation, Project


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "validate":
        print("usage: python -m corpus validate FILE.jsonl [FILE ...]  (files under projects/ are read as projects)")
        return 2
    status = 0
    for name in argv[1:]:
        path = Path(name)
        model: type[Project] | type[Organisation] = Project if "project" in str(path.parent) else Organisation
        try:
            records = load_records(path, model)
        except CorpusError as e:
            print(f"FAIL {path}: {e}")
            for p in e.problems:
                print(f"  {p['where']}: {p['field']}: {p['message']}")
            status = 1
            continue
        short = [r.id for r in records if isinstance(r, Organisation) and len(r.description.split()) < 60]
        print(f"ok   {path}: {len(records)} {model.__name__.lower()}(s)" + (f"; under 60 words: {short}" if short else ""))
    return status


sys.exit(main(sys.argv[1:]))
