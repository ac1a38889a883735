"""``matcher``: the command-line door onto the core. Every core error becomes one readable line and exit 1."""

from __future__ import annotations

import functools
import getpass
import importlib.util
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import click
from pydantic import ValidationError

from matcher import (
    IMPORT_FORMATS,
    MAX_K,
    MatchRequest,
    PartnerMatcher,
    PartnerMatcherError,
    ProjectSearchRequest,
    Settings,
    load_configured_embedder,
    open_matcher,
    plan_import_dry,
    read_mapping,
    read_mapping_countries,
    write_report,
)
from matcher.config import serving_environment


# Import warnings printed in full under the summary; the rest are counted.
SHOWN_WARNINGS = 10


def _friendly_errors(func):
    """Map the core's named errors to one message line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'request'}: {err['msg']}" for err in e.errors())
            raise click.ClickException(f"invalid input: {problems}") from e
        except PartnerMatcherError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def _write_whole(path: Path, content: bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, renamed over it once written, so a failure
    never leaves a truncated or empty file (nor harms one already there)."""
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(content)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _check_writable(path: str, option: str) -> None:
    """Refuse, before anything is written, an output file whose folder is missing or read-only (click refuses a
    folder)."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise click.BadParameter(f"the folder {folder} does not exist; create it (mkdir -p {folder}) or give a "
                                 "path in an existing folder", param_hint=option)
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise click.BadParameter(f"cannot write {path}: permission denied; give a path you can write",
                                 param_hint=option)


def _open(ctx: click.Context, *, need_index: bool = True, rebuild: bool = False) -> PartnerMatcher:
    settings: Settings = ctx.obj["settings"]
    matcher = open_matcher(settings)
    if need_index:
        status = matcher.index_status()
        if rebuild or not status.fresh:
            click.echo(f"Building the partner index ({status.reason})…", err=True)
        matcher.ensure_index(rebuild=rebuild, show_progress=sys.stderr.isatty())
    return matcher


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), help="Index, cache and database folder [PM_DATA_DIR; default ./var].")
@click.option("--model", help="sentence-transformers model name or folder [PM_MODEL; default bundled all-MiniLM-L6-v2].")
@click.option("--database-url", help="SQLAlchemy database URL [PM_DATABASE_URL; default SQLite under the data dir].")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.pass_context
def main(ctx: click.Context, data_dir, model, database_url, verbose):
    """Partner Matcher: rank UK and Canadian partner organisations for critical-minerals research projects."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        ctx.obj = {"settings": Settings.from_env(data_dir=data_dir, model=model, database_url=database_url)}
    except ValidationError as e:
        raise click.ClickException(f"invalid configuration: {e.errors()[0]['msg']}") from e


@main.command()
@click.option("--force", is_flag=True, help="Rebuild even if the saved index is up to date.")
@click.pass_context
@_friendly_errors
def build(ctx: click.Context, force: bool):
    """Build the partner index if it is missing or stale (model or corpus changed).

    Seeds the database from the bundled corpus on first use. Unchanged profiles come from the embedding cache.
    """
    matcher = _open(ctx, need_index=False)
    before = matcher.index_status()
    index, built = matcher.ensure_index(rebuild=force, show_progress=sys.stderr.isatty())
    if built and not matcher.index_status().fresh:
        raise click.ClickException(f"built the index but could not save it to {matcher.settings.index_path} (see "
                                   "the log above): free disk space or fix permissions there, then run it again")
    if built:
        click.echo(
            f"Built index of {len(index)} organisations with {index.model_id_} in {index.build_seconds_:.1f}s "
            f"({before.reason if not force else 'forced'}) -> {matcher.settings.index_path}"
        )
    else:
        click.echo(f"Index is up to date: {len(index)} organisations, {index.model_id_} ({matcher.settings.index_path})")


@main.command()
@click.argument("text", required=False)
@click.option("--project", "project_id", help="Match a stored project (by id) instead of TEXT.")
@click.option("--country", "countries", multiple=True, help="Only organisations in this country (ISO code, repeatable).")
@click.option("--org-type", "org_types", multiple=True,
              type=click.Choice(["university", "college", "government_lab", "rto", "company", "non_profit", "funder",
                                 "unknown"]),
              help="Only organisations of this type (repeatable).")
@click.option("--challenge", type=click.IntRange(1, 2), help="Boost organisations aligned with challenge 1 or 2 (weight 0.1 in relevance).")
@click.option("--eligibility", "eligibility", multiple=True,
              type=click.Choice(["funded", "partner", "not_eligible", "outside_programme"]),
              help="Only results with this eligibility in the programme (repeatable); outside_programme without "
                   "--country searches every country.")
@click.option("--no-group-units", "no_group_units", is_flag=True,
              help="List an organisation's sub-units in places of their own instead of under it.")
@click.option("-k", "k", type=click.IntRange(1, MAX_K), default=10, show_default=True, help="Number of results.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON response instead of a table.")
@click.pass_context
@_friendly_errors
def match(ctx: click.Context, text, project_id, countries, org_types, challenge, eligibility, no_group_units, k,
          as_json):
    """Rank partner organisations for TEXT, a free-text project brief.

    \b
    Example:
      matcher match "recycling rare earth magnets from electronic waste" --country GB -k 5
    """
    if not text and not project_id:
        raise click.UsageError("give a project brief as TEXT, or --project ID")
    request = MatchRequest(
        text=text if not project_id else None,
        project_id=project_id,
        countries=list(countries),
        org_types=list(org_types),
        challenge=challenge,
        eligibility=list(eligibility),
        group_units=not no_group_units,
        k=k,
    )
    matcher = _open(ctx)
    response = matcher.match(request)  # a project without --country: the countries it seeks partners from
    if as_json:
        click.echo(json.dumps(response, indent=2, ensure_ascii=False))
        return
    results = response["results"]
    if not results:
        click.echo(response.get("message", "no matches"))
        return
    if response.get("message"):
        click.echo(response["message"])
    click.echo(f"{'rank':>4}  {'score':>5}  {'band':8}  {'cc':2}  {'type':14}  organisation")
    for r in results:
        org = r["organisation"]
        fit = r.get("band") or ""
        label = f" ({r['eligibility']})" if r.get("eligibility") else ""
        click.echo(f"{r['rank']:>4}  {r['score']:.3f}  {fit:8}  {org['country']:2}  {org['org_type']:14}  "
                   f"{org['name']} [{org['id']}]{label}")
        for unit in r.get("units", []):
            click.echo(f"{'':>41}also in this body: {unit['organisation']['name']} [{unit['organisation']['id']}]"
                       f" {unit['score']:.3f}")
        if r.get("explanation"):
            click.echo(f"{'':>41}{r['explanation']['reason']}")


@main.command()
@click.option("--beir", "beir_dir", type=click.Path(exists=True, file_okay=False),
              help="A BEIR-layout folder (corpus.jsonl(.gz), queries.jsonl, qrels/SPLIT.tsv), e.g. SciFact.")
@click.option("--split", default="test", show_default=True, help="Split to report.")
@click.option("--tune-split", default="train", show_default=True, help="Split the hybrid weight is tuned on.")
@click.option("--alpha", type=click.FloatRange(0, 1), help="Fix the hybrid's lexical weight instead of tuning it.")
@click.option("--briefs", "briefs_file", type=click.Path(exists=True),
              help="Labelled briefs to evaluate on: a JSONL file (id, text, countries, challenge, relevant {org id: "
                   "1|2}, optional family, need, english, spelled_out, correct) or a folder of them (every *.jsonl).")
@click.option("--families", is_flag=True,
              help="Evaluate the bundled families of labelled briefs (the corpus's evaluation/ folder); the same as "
                   "--briefs on that folder.")
@click.option("--tune", is_flag=True, help="With --briefs: grid-search the ranking weights on the train split first.")
@click.option("--json", "as_json", is_flag=True, help="Print {\"methods\": {name: {metric: value}}, ...} as JSON.")
@click.pass_context
@_friendly_errors
def evaluate(ctx: click.Context, beir_dir, split, tune_split, alpha, briefs_file, families, tune, as_json):
    """Measure retrieval quality: nDCG@10, recall@10 and recall@100 for bm25, dense, rrf and the hybrid.

    With --briefs (or --families), per family of briefs and for the chosen split: plain BM25, the model alone and
    the product side by side, the share of good queries the service answers with nothing, off-topic queries
    answered with nothing or only weak results, and the gap to each brief's plainly written twin.

    \b
    Examples (SciFact: the first run embeds 5,183 abstracts, later runs use the embedding cache):
      matcher evaluate --beir ../shared/data/scifact_beir --split test --json
      matcher evaluate --briefs corpus/data/evaluation --split test
      matcher evaluate --briefs corpus/data/evaluation/dev-briefs.jsonl
    """
    from embeddings import EmbeddingCache
    from matcher.evaluation import evaluate_beir, evaluate_briefs, format_family_table, load_briefs

    settings: Settings = ctx.obj["settings"]
    if families and not briefs_file:
        briefs_file = settings.resolved_corpus_dir / "evaluation"
    if not beir_dir and not briefs_file:
        raise click.UsageError("give --beir DIR, --briefs FILE|FOLDER or --families")
    if briefs_file:
        matcher = _open(ctx)
        briefs = load_briefs(briefs_file)
        chosen = [b for b in briefs if b.split == split]
        if not chosen:
            raise click.UsageError(f"no briefs with split {split!r} in {briefs_file}")
        tuned = None
        if tune:
            from matcher.evaluation import tune_on_briefs

            params, train_metrics = tune_on_briefs(matcher.current_index(), [b for b in briefs if b.split == tune_split])
            tuned = {"params": params, "tuned_on": tune_split, "train_hybrid": train_metrics}
        result = evaluate_briefs(matcher.current_index(), chosen, answer=matcher.match)
        result["split"] = split
        if tuned:
            result["tuning"] = tuned
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            click.echo(f"{result['briefs']} labelled briefs ({split} split), {result['labelled_pairs']} labelled partners, "
                       f"corpus of {len(matcher.current_index())}")
            if tuned:
                click.echo(f"best on {tune_split}: {tuned['params']} -> {tuned['train_hybrid']} (defaults unchanged)")
            click.echo(f"{'method':8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7}")
            for name, m in result["methods"].items():
                click.echo(f"{name:8} {m['ndcg@10']:8.4f} {m['recall@10']:7.4f} {m['recall@100']:7.4f}")
            click.echo("bands shown (top 10 of the good briefs: pairs, share labelled partners): " + ", ".join(
                f"{band} {v['pairs']} ({'-' if v['labelled_share'] is None else format(v['labelled_share'], '.2f')})"
                for band, v in result["bands"].items()))
            click.echo("per family (nDCG@10; empty: good queries answered with nothing; ms: product's median):")
            for line in format_family_table(result):
                click.echo(line)
        return
    result = evaluate_beir(beir_dir, load_configured_embedder(settings), split=split, tune_split=tune_split, alpha=alpha,
                           cache=EmbeddingCache(settings.cache_path), show_progress=sys.stderr.isatty())
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['dataset']} {result['split']}: {result['queries']} queries, {result['documents']} documents, "
               f"{result['model']}")
    click.echo(f"hybrid lexical weight alpha={result['hybrid']['alpha']} (tuned on {result['hybrid']['tuned_on'] or 'nothing: fixed'})")
    click.echo(f"{'method':8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7}")
    for name, m in result["methods"].items():
        click.echo(f"{name:8} {m['ndcg@10']:8.4f} {m['recall@10']:7.4f} {m['recall@100']:7.4f}")


@main.group()
def projects():
    """Stored projects (briefs and funded projects)."""


@projects.command("search")
@click.argument("text")
@click.option("--country", "countries", multiple=True,
              help="Only projects whose team is in this country (ISO code, repeatable): a UK team looking for "
                   "Canadian projects gives CA.")
@click.option("--challenge", type=click.IntRange(1, 2), help="Only projects in challenge area 1 or 2.")
@click.option("--illustrative/--real", "illustrative", default=None,
              help="Only illustrative briefs, or only real, cited projects (default: both).")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True, help="Page of the ranked list.")
@click.option("-n", "--per-page", "per_page", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Projects per page.")
@click.option("--json", "as_json", is_flag=True, help="Print the items, total and message as JSON.")
@click.pass_context
@_friendly_errors
def projects_search(ctx: click.Context, text, countries, challenge, illustrative, page, per_page, as_json):
    """Rank stored projects for TEXT, an idea in free text (English or French), best fit first.

    \b
    Example:
      matcher projects search "graphite purification for battery anodes" --country CA
    """
    request = ProjectSearchRequest(q=text, countries=list(countries), challenge=challenge, illustrative=illustrative,
                                   page=page, per_page=per_page)
    found = _open(ctx).search_projects(request)
    if as_json:
        click.echo(json.dumps({"items": [hit.to_dict() for hit in found.items], "total": found.total, "page": page,
                               "per_page": per_page, "query": found.query, "message": found.message},
                              indent=2, ensure_ascii=False))
        return
    if found.message:
        click.echo(found.message)
    if not found.items:
        return
    click.echo(f"{found.total} related project(s); page {page}")
    click.echo(f"{'rank':>4}  {'relev':>5}  {'cc':2}  project")
    for rank, hit in enumerate(found.items, start=(page - 1) * per_page + 1):
        kind = " (illustrative)" if hit.project.illustrative else ""
        click.echo(f"{rank:>4}  {hit.relevance:.3f}  {hit.project.country:2}  {hit.project.title} [{hit.project.id}]"
                   f"{kind}")


@main.group()
def corpus():
    """Inspect corpus data files."""


@corpus.command("check")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--warnings/--no-warnings", default=True, show_default=True, help="List warnings as well as errors.")
@click.pass_context
def corpus_check(ctx: click.Context, directory, as_json: bool, warnings: bool):
    """Data-quality report of a corpus folder (default: the corpus the service seeds from).

    Exits 1 when there are errors (invalid records, duplicate ids, names or aliases, organisations without
    sources, unknown lead organisations); warnings (thin profiles, missing minerals or websites) do not fail.
    """
    from corpus.quality import check_corpus

    folder = directory or ctx.obj["settings"].resolved_corpus_dir
    report = check_corpus(folder)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"Corpus {folder}: {report.organisations} organisations, {report.projects} projects")
        click.echo("  by country: " + ", ".join(f"{k} {v}" for k, v in sorted(report.countries.items(), key=lambda kv: -kv[1])))
        click.echo("  by type:    " + ", ".join(f"{k} {v}" for k, v in sorted(report.org_types.items(), key=lambda kv: -kv[1])))
        for f in report.findings:
            if f.level == "error" or warnings:
                click.echo(f"  {f.level.upper():7} {f.check:24} {f.record}: {f.message}")
        click.echo(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    ctx.exit(0 if report.ok else 1)


@main.command()
@click.option("--projects", "projects", default="all", show_default=True,
              help='Comma-separated project ids, or "all".')
@click.option("--per-project", type=click.IntRange(1, 50), default=5, show_default=True, help="Partners per project.")
@click.option("--max-per-org", type=click.IntRange(1), default=2, show_default=True,
              help="Lists any one organisation may appear on.")
@click.option("--country", "countries", multiple=True, help="Partner country (repeatable); default: each project's "
                                                             "seeking countries, else the programme's other country.")
@click.option("--org-type", "org_types", multiple=True, help="Eligible organisation type (repeatable).")
@click.option("--eligibility", "eligibility", multiple=True,
              type=click.Choice(["funded", "partner", "not_eligible", "outside_programme"]),
              help="Only partners with this eligibility in the programme (repeatable); outside_programme without "
                   "--country searches every country.")
@click.option("--min-type", "min_types", multiple=True, metavar="TYPE=N",
              help="At least N partners of TYPE per project, e.g. --min-type company=1 (repeatable).")
@click.option("--exclude", "excludes", multiple=True, metavar="PROJECT=ORG",
              help="Never shortlist ORG for PROJECT (a conflict; repeatable).")
@click.option("--method", type=click.Choice(["optimal", "greedy"]), default="optimal", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the shortlist to .csv, .xlsx or .json.")
@click.option("--name", default="", help="A name for the shortlist (shown on its page and in exports).")
@click.option("--base-url", default="", help="The service's address, for absolute profile links in exports "
                                             "(default: PM_PUBLIC_URL, else links relative to the site).")
@click.pass_context
@_friendly_errors
def shortlist(ctx: click.Context, projects, per_project, max_per_org, countries, org_types, eligibility, min_types,
              excludes, method, out, name, base_url):
    """Shortlist partners for many projects at once: a fair optimal assignment (recorded in the database)."""
    from tqdm import tqdm

    from matcher import ShortlistRequest, shortlist_to_csv, shortlist_to_xlsx

    def pairs(values, what):
        out_pairs = []
        for value in values:
            left, sep, right = value.partition("=")
            if not sep or not left or not right:
                raise click.BadParameter(f"{value!r} is not {what}")
            out_pairs.append((left.strip(), right.strip()))
        return out_pairs

    exclude: dict[str, list[str]] = {}
    for project_id, org_id in pairs(excludes, "PROJECT=ORG"):
        exclude.setdefault(project_id, []).append(org_id)
    min_per_type = {}
    for org_type, n in pairs(min_types, "TYPE=N"):
        if not n.isdigit():
            raise click.BadParameter(f"--min-type {org_type}={n}: N must be a whole number")
        min_per_type[org_type] = int(n)
    if out and not out.lower().endswith((".csv", ".xlsx", ".json")):
        raise click.BadParameter(f"--out {out}: use a .csv, .xlsx or .json file name")
    ids = "all" if projects.strip() == "all" else [p.strip() for p in projects.split(",") if p.strip()]
    request = ShortlistRequest(project_ids=ids, per_project=per_project, max_per_organisation=max_per_org,
                               countries=[c.upper() for c in countries], org_types=list(org_types),
                               eligibility=list(eligibility), min_per_type=min_per_type, exclude=exclude, method=method, name=name)
    matcher = _open(ctx)
    base_url = base_url or matcher.settings.public_url or ""
    with tqdm(total=100, desc="Shortlisting", unit="%", file=sys.stderr, disable=None) as bar:
        def progress(fraction: float) -> None:
            bar.update(max(0, round(fraction * 100) - bar.n))

        job = matcher.shortlists.run_now(request, progress, by=f"cli ({getpass.getuser()})")
    summary = job.summary or {}
    click.echo(f"Shortlist {job.id}: {summary['assignments']} assignments over {summary['projects']} projects, "
               f"total fit {summary['total_score']}, lowest {summary['lowest_score']}; total relevance "
               f"{summary['total_relevance']} (greedy {summary['greedy_total_relevance']}), "
               f"{summary['organisations_used']} organisations, most lists on one "
               f"organisation {summary['max_load']} ({summary['seconds']}s).")
    if out:
        if out.lower().endswith(".csv"):
            content: bytes = shortlist_to_csv(job, matcher.shortlists.export_context(job, base_url)).encode("utf-8")
        elif out.lower().endswith(".xlsx"):
            # a shortlist just made has no decisions yet
            content = shortlist_to_xlsx(job, [], matcher.shortlists.export_context(job, base_url))
        else:
            content = json.dumps(job.to_dict(), indent=2).encode("utf-8")
        _write_whole(Path(out), content)
        click.echo(f"Wrote {out}")
    matcher.close()


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(list(IMPORT_FORMATS)),
              help="gtr: GtR project-search CSV; gtr-json: the GtR API's projects JSON; nserc: NSERC Awards CSV; "
                   "csv/jsonl: schema fields.")
@click.option("--kind", type=click.Choice(["organisations", "projects"]), default="organisations", show_default=True,
              help="What a csv/jsonl file holds.")
@click.option("--map", "mappings", multiple=True, metavar="COLUMN=FIELD|FILE.csv",
              help="csv/jsonl: rename a column to a schema field (repeatable), e.g. --map 'Org Name=name'. "
                   "A 'ror' / 'ROR ID' column is the organisation's ROR id. "
                   "gtr/nserc: a CSV of name,organisation_id settling ambiguous names (an edited --report file; "
                   "organisation_id: an existing id, whatever the row's action says; 'new' creates one; a ROR id "
                   "names the organisation carrying it; a country column says where a body the source places nowhere "
                   "is, e.g. a GtR lead 'Outside UK').")
@click.option("--accept", is_flag=True, help="Settle every ambiguous name with the resolver's proposal.")
@click.option("--all", "keep_off_topic", is_flag=True,
              help="Import projects flagged off-topic too (outside critical minerals and the two challenges).")
@click.option("--with", "related", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="nserc: a co-applicant or partner file beside the awards file (repeatable).")
@click.option("--report", "report", type=click.Path(dir_okay=False),
              help="Write what each organisation name became (matched, created, ambiguous) to this CSV.")
@click.option("--dry-run", is_flag=True, help="Validate and report, write nothing anywhere.")
@click.pass_context
@_friendly_errors
def import_(ctx: click.Context, file, fmt, kind, mappings, accept, keep_off_topic, related, report, dry_run):
    """Import FILE into the database: validated whole first, written in one transaction, idempotent.

    \b
    Examples:
      matcher import --format gtr projects.csv --report names.csv
      matcher import --format gtr projects.csv --map names.csv      (names.csv: the report, edited)
      matcher import --format nserc NSERC_awards_2024.csv --with co-applicants.csv --with partners.csv
      matcher import --format csv orgs.csv --map "Organisation=name" --map "Country=country"
    A project's organisations get it as a document of their profile. Re-importing a file updates, never duplicates.
    Names of organisations are matched to those known (ids, names, aliases, a cautious fuzzy match); a near match
    waits for --accept or --map FILE.csv rather than becoming a second record.
    """
    if report:
        _check_writable(report, "--report")
    mapping: dict[str, str] = {}
    mapping_files: list[str] = []
    organisation_countries: dict[str, str] = {}
    for item in mappings:
        if "=" not in item and item.lower().endswith(".csv"):
            if not os.path.isfile(item):
                raise click.BadParameter(f"{item!r}: no such mapping file", param_hint="--map")
            mapping_files.append(item)
            organisation_countries.update(read_mapping_countries(item))
            continue
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise click.BadParameter(f"{item!r}: write COLUMN=FIELD, or name a mapping FILE.csv", param_hint="--map")
        mapping[source.strip()] = target.strip()
    organisation_map = read_mapping(*mapping_files)
    if related and fmt != "nserc":
        raise click.UsageError("--with adds NSERC co-applicant and partner files; use it with --format nserc")
    if (organisation_map or accept or keep_off_topic) and fmt not in ("gtr", "gtr-json", "nserc"):
        raise click.UsageError("--accept, --all and --map FILE.csv settle organisation names and off-topic projects "
                               "of gtr, gtr-json and nserc imports; csv and jsonl files name their records' ids")
    options = {"kind": kind, "mapping": mapping, "organisation_map": organisation_map, "accept": accept,
               "keep_off_topic": keep_off_topic, "related": list(related), "show_progress": sys.stderr.isatty(),
               "organisation_countries": organisation_countries}
    if dry_run:
        plan = plan_import_dry(ctx.obj["settings"], file, fmt, **options)
    else:
        matcher = _open(ctx, need_index=False)
        try:
            plan = matcher.import_file(file, fmt, by=f"cli ({getpass.getuser()})", **options)
        finally:
            matcher.close()
    for r in plan.resolutions:
        if r.action != "matched" or r.method not in ("name", "identifier"):
            target = r.organisation_id or ", ".join(r.candidates)
            click.echo(f"  {r.action:9} {r.role:12} {r.name} -> {target or '-'} {('(' + r.note + ')') if r.note else ''}")
    if report:
        write_report([*plan.resolutions, *plan.off_topic_rows()], report)
        click.echo(f"Wrote the names report ({len(plan.resolutions)} names, {len(plan.off_topic)} off-topic "
                   f"projects) to {report}")
    verb = "Would import" if dry_run else "Imported"
    click.echo(f"{verb} {plan.summary()} from {file}")
    for warning in plan.warnings[:SHOWN_WARNINGS]:
        click.echo(f"  warning: {warning}")
    if len(plan.warnings) > SHOWN_WARNINGS:
        click.echo(f"  ... and {len(plan.warnings) - SHOWN_WARNINGS:,} more warning(s) of the same kinds")
    if not dry_run and plan.changes_anything:
        click.echo("The index is now stale; `matcher build` (or `make run`) rebuilds it, re-embedding only what changed.")
    elif not dry_run:
        click.echo("Nothing changed: every record was already stored as the file gives it.")


@main.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST or 127.0.0.1")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")), show_default="PORT or 8000")
@click.option("--workers", type=int, default=lambda: int(os.environ.get("WEB_CONCURRENCY", "1")), show_default="1")
@click.pass_context
@_friendly_errors
def serve(ctx: click.Context, host: str, port: int, workers: int):
    """Serve the HTTP API with gunicorn (builds the index first if it is missing or stale)."""
    # Build before starting workers, so each worker only loads the saved index; a current one is not loaded here
    # too (the workers load it), which spares a large deployment's replica one full load at every start.
    matcher = _open(ctx, need_index=False)
    status = matcher.index_status()
    if status.fresh and status.organisations is not None:
        organisations = status.organisations
    else:
        click.echo(f"Building the partner index ({status.reason})…", err=True)
        organisations = len(matcher.ensure_index(show_progress=sys.stderr.isatty())[0])
    settings: Settings = ctx.obj["settings"]
    click.echo(f"Serving {organisations} organisations on http://{host}:{port} (Ctrl-C to stop)", err=True)
    matcher.close()
    # The HTTP layer is a separate program: exec gunicorn on the service's app factory, passing settings the
    # way the service reads them (environment at its door), so this core module never imports Flask.
    env = serving_environment(os.environ)
    env.update(PM_DATA_DIR=str(settings.data_dir), HOST=host, PORT=str(port), WEB_CONCURRENCY=str(workers))
    if settings.model:
        env["PM_MODEL"] = settings.model
    if settings.database_url:
        env["PM_DATABASE_URL"] = settings.database_url
    spec = importlib.util.find_spec("service")
    if spec is None or spec.origin is None:
        raise click.ClickException("the 'service' package is not installed; reinstall partner-matcher")
    config = os.path.join(os.path.dirname(spec.origin), "gunicorn.conf.py")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    if not os.path.exists(gunicorn):
        raise click.ClickException("gunicorn is not installed next to this Python; run `make install`")
    # A fixed argv (this venv's gunicorn, the package's own config) and no shell.
    os.execve(gunicorn, [gunicorn, "--config", config, "service:create_app()"], env)  # nosec B606


if __name__ == "__main__":  # pragma: no cover
    main()
