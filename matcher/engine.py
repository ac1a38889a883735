"""``PartnerMatcher``: the one object both doors (CLI and HTTP) drive.

It owns the database (source of truth), the embedder and the derived partner index, decides when the index is
stale, rebuilds it, and swaps the new one in with a single reference assignment so a query in flight keeps the
index it started with and never sees a half-built one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.errors import clip
from corpus.importers import ImportPlan, plan_import
from corpus.loaders import corpus_hash, load_challenges, load_organisations, load_programme, load_projects
from corpus.schema import TITLE_ONLY_NOTE, Challenge, Organisation, Programme, Project
from embeddings.base import Embedder
from embeddings.cache import EmbeddingCache
from embeddings import load_embedder
from matcher.config import Settings
from matcher.errors import (
    Conflict,
    IndexFileError,
    IndexNotReady,
    InvalidRequest,
    OrganisationNotFound,
    PreconditionFailed,
    ProjectNotFound,
)
from matcher.index import PartnerIndex, ProjectIndex, ProjectRanking, labels_hash
from matcher.requests import MatchRequest, ProjectSearchRequest
from matcher.ranking import calibration
from matcher.ranking.eligibility import Scope
from matcher.results import Match, Matches, ProjectSearch
from matcher.storage import DatabaseEmbeddingCache, Page, Store
from matcher.storage.store import read_stored_records, refuse_invalid_records

if TYPE_CHECKING:
    from matcher.shortlists.jobs import ShortlistJobs

log = logging.getLogger("matcher")

# The weak-match line for the bundled model: the calibrated fit under which a result is flagged weak (the
# "possible" band's lower bound, matcher/ranking/calibration.json, fitted on the train split by
# scripts/fit_calibration.py). One value for every backend, since a backend moves it less than the splits do.
BUNDLED_MODEL_PREFIX = "sentence-transformers/all-MiniLM-L6-v2@"
BUNDLED_MODEL_WEAK_BELOW = calibration.load().weak_below

# A query waits for pending changes to be applied only when they are few (an ordinary write: milliseconds, the
# vectors already in the shared cache), and for at most this long; a bigger batch (an import) is applied in the
# background while queries are answered from the current index.
READER_WAITS_FOR = 64
READER_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class IndexStatus:
    """The saved index as found on disk: whether it exists, whether it fits the model and corpus, and if not why."""

    path: Path
    exists: bool
    fresh: bool
    reason: str  # "up to date", "missing", or what changed and how to fix it
    organisations: int | None = None


def load_configured_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (model, backend, export folder, threads): the one recipe every door uses."""
    return load_embedder(settings.model, backend=settings.backend, export_dir=settings.models_dir,
                         threads=settings.onnx_threads)


def plan_import_dry(settings: Settings, path, fmt: str, **options: Any) -> ImportPlan:
    """What ``matcher import`` would write, found without writing anything anywhere: no database created, seeded
    or migrated, no model loaded, no index, no file. Compared with the stored records, or with the bundled corpus
    when there is no database yet (what the first start would seed)."""
    stored = read_stored_records(settings.resolved_database_url)
    if stored is None:
        corpus = settings.resolved_corpus_dir
        stored = (load_organisations(corpus), load_projects(corpus))
    plan = plan_import(path, fmt, stored[0], existing_projects=stored[1], **options)
    parents = {o.id: o.parent_id for o in stored[0]}
    # The checks the write would make, against the same stored records (the import writes in one transaction).
    refuse_invalid_records(plan.organisations, plan.projects,
                           parent_of=lambda org_id: (org_id in parents, parents.get(org_id)))
    return plan


def open_matcher(settings: Settings | None = None, *, embedder: Embedder | None = None) -> PartnerMatcher:
    """The engine both doors drive, connected and seeded; ``embedder`` defaults to ``load_configured_embedder``.
    Sets numpy's BLAS threads for the process (``settings.blas_threads``): both doors serve queries."""
    matcher = PartnerMatcher(settings, embedder=embedder)
    limit_blas_threads(matcher.settings.blas_threads)
    return matcher.open()


def limit_blas_threads(threads: int | None) -> None:
    """numpy's (and scipy's) OpenBLAS threads, for this process; FAISS keeps its own, which its index builds use.
    A query multiplies a few thousand sentence vectors by one vector: with two threads the hand-off costs more
    than the work (docs/performance.md)."""
    if threads is None:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits={"libscipy_openblas": threads})


def _no_version(kind: str, record_id: str) -> str:
    return (f"{kind} {clip(record_id)!r} does not exist, so no version of it matches If-Match; send the PUT without "
            "If-Match to create it")


class PartnerMatcher:
    """Ranks partners over the organisations in the database.

    ``embedder`` defaults to the sentence-transformers model named by ``settings.model``; tests pass a fake.
    """

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None):
        self.settings = settings or Settings()
        self._embedder = embedder
        self.index_: PartnerIndex | None = None
        self._build_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one write (and its index refresh) at a time
        self._save_lock = threading.Lock()
        self._unsaved: PartnerIndex | None = None
        self._emptied = False
        self._shortlists: ShortlistJobs | None = None
        self.synced_seq_ = 0  # the last change-log entry the in-memory index reflects
        self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-saver")
        self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-sync")
        self._applying: Future | None = None  # the background application of a big batch of changes, if any
        self._applying_lock = threading.Lock()
        # The project search's index and the last change-log entry it reflects, in one tuple so that a reader
        # never pairs an index with another's entry; made on the first search.
        self._projects: tuple[ProjectIndex, int] | None = None
        self._projects_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The model that embeds profiles and queries: the one given, else the configured one once ``open`` ran."""
        if self._embedder is None:
            raise IndexNotReady("the matcher is not open yet; call open() before using it")
        return self._embedder

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> PartnerMatcher:
        """Connect to the database and seed it from the corpus if it is empty. Cheap; loads no model."""
        if self._embedder is None:
            self._embedder = load_configured_embedder(self.settings)
        self.store_ = Store(self.settings.resolved_database_url).migrate()
        self.challenges_: list[Challenge] = load_challenges(self.settings.resolved_corpus_dir)
        self.programme_: Programme = load_programme(self.settings.resolved_corpus_dir)
        self.scope_ = Scope.of(self.programme_)
        if self.store_.count_organisations() == 0 and self.store_.count_projects() == 0:
            corpus = self.settings.resolved_corpus_dir
            organisations, projects = load_organisations(corpus), load_projects(corpus)
            self.store_.seed(organisations, projects)
            log.info("seeded database from %s: %d organisations, %d projects", corpus, len(organisations), len(projects))
        return self

    def _index_params(self, show_progress: bool = False) -> dict:
        weak_below = self.settings.weak_below
        if weak_below is None and self.embedder.model_id.startswith(BUNDLED_MODEL_PREFIX):
            weak_below = BUNDLED_MODEL_WEAK_BELOW
        return {
            # In the database, shared by every replica; the file cache of older versions is read through once.
            "cache": DatabaseEmbeddingCache(self.store_, fallback=EmbeddingCache(self.settings.cache_path)
                                            if self.settings.cache_path.exists() else None),
            "batch_size": self.settings.batch_size,
            "diversity": self.settings.diversity,
            "weak_below": weak_below,
            "show_progress": show_progress,
            "ann_threshold": self.settings.ann_threshold,
            "nprobe": self.settings.ann_nprobe,
            "query_cache_size": self.settings.query_cache_size,
        }

    def index_status(self) -> IndexStatus:
        """Whether the saved index exists and fits the current model and corpus (without loading it)."""
        path = self.settings.index_path
        if not path.exists():
            return IndexStatus(path, exists=False, fresh=False, reason="missing")
        stale = partial(IndexStatus, path, True, False)
        try:
            meta = PartnerIndex.read_meta(path)
        except IndexFileError as e:
            return stale(str(e))  # what is wrong with the file and what to do about it
        if meta.model_id != self.embedder.model_id:
            return stale(f"built with model {meta.model_id!r}, now {self.embedder.model_id!r}")
        if meta.corpus_hash != corpus_hash(self.store_.all_organisations()):
            return stale("corpus changed since the index was built")
        if meta.labels_hash != labels_hash([p for p in self.store_.all_projects() if p.challenge_areas]):
            return stale("challenge labels changed since the index was built")
        return IndexStatus(path, exists=True, fresh=True, reason="up to date", organisations=len(meta.ids))

    def ensure_index(self, *, rebuild: bool = False, show_progress: bool = False) -> tuple[PartnerIndex, bool]:
        """Load the saved index if it is fresh, else build, save and swap in a new one. Returns (index, built)."""
        with self._build_lock:
            seq = self.store_.last_change()  # read first: a change committed after it is applied by the next sync
            organisations = self.store_.all_organisations()
            labelled = [p for p in self.store_.all_projects() if p.challenge_areas]
            path = self.settings.index_path
            if not rebuild and path.exists():
                try:
                    index = PartnerIndex.load(path, self.embedder, organisations, self.challenges_, labelled,
                                              **self._index_params())
                    self.index_, self.synced_seq_ = index, seq
                    return index, False
                except IndexFileError as e:
                    log.warning("rebuilding the index: %s", e)
            started = time.perf_counter()
            index = PartnerIndex(self.embedder, **self._index_params(show_progress)).fit(organisations, self.challenges_, labelled)
            self.index_, self.synced_seq_ = index, seq
            log.info("built index of %d organisations in %.1fs", len(index), time.perf_counter() - started)
            try:
                index.save(path)
            except OSError as e:  # a full disk, say: serve the new index from memory; the next start rebuilds
                log.error("could not save the index to %s (%s); serving it from memory, and the next start will "
                          "rebuild it. Free space or fix permissions in %s.", path, e, path.parent)
            return index, True

    def warm_up(self) -> None:
        """Load the model and run one query now, so the first user request is not the one that pays for it (the
        query analyser's spelling dictionaries too)."""
        index = self._index()
        index.encode_query("warm up")
        index.analyser_.warm_up()

    @property
    def ready(self) -> bool:
        return self.index_ is not None

    def current_index(self) -> PartnerIndex:
        """The index, brought up to the database first; raises ``IndexNotReady`` while it is still loading."""
        return self._index()

    def _index(self) -> PartnerIndex:
        self.sync(reader=True)
        index = self.index_
        if index is None:
            raise IndexNotReady("the partner index is still loading; retry in a few seconds")
        return index

    # ------------------------------------------------------------------ queries
    def match(self, request: MatchRequest) -> dict:
        """Ranked partners for a brief or a stored project, in the HTTP contract's shape."""
        index = self._index()
        query: str | Project
        if request.project_id is not None:
            query = self.get_project(request.project_id)
        else:
            query = request.text or ""  # the request model guarantees text when there is no project
        countries = self.countries_for(request, query)
        matches = index.rank(
            query,
            k=request.k,
            countries=countries,
            org_types=request.org_types,
            challenge=request.challenge,
            prefer_org_types=request.prefer_org_types,
            query_country=request.team_country(),
            challenge_only=request.challenge_only,
            explain=request.explain,
            scope=self.scope_,
            eligibility=request.eligibility,
            group_units=request.group_units,
        )
        return self._response(index, query, matches, request, countries)

    def countries_for(self, request: MatchRequest, query: str | Project) -> list[str]:
        """The countries searched: the request's; else a project's seeking countries; else the programme's
        default for the team's country (``Scope.default_countries``)."""
        if request.countries:
            return list(request.countries)
        if isinstance(query, Project):
            return self.scope_.project_countries(query.seeking_countries, request.lead_country or query.country,
                                                 request.eligibility)
        return self.scope_.default_countries(request.team_country(), request.eligibility)

    def _response(self, index: PartnerIndex, query: str | Project, matches: list[Match], request: MatchRequest,
                  countries: list[str]) -> dict:
        out: dict[str, Any] = {
            "results": [m.to_dict(explain=request.explain) for m in matches],
            "query": {
                "text": request.text,
                "project_id": request.project_id,
                "countries": countries,
                "org_types": request.org_types,
                "challenge": request.challenge,
                "prefer_org_types": request.prefer_org_types,
                "lead_country": request.team_country() if request.text else None,
                "eligibility": request.eligibility,
                "group_units": request.group_units,
                "k": request.k,
            },
            "index": {"organisations": len(index), "model": index.model_id_, "corpus_hash": index.corpus_hash_},
        }
        if isinstance(query, Project) and query.title_only:
            out["query"]["note"] = TITLE_ONLY_NOTE  # the source gave no abstract: only its title was matched
        if not matches:
            out["message"] = "no organisation matches these filters"
        elif isinstance(matches, Matches) and matches.nothing_found:
            # Nothing in the brief is about the field and nothing comes near it: an empty answer is the honest one.
            out["results"] = []
            out["message"] = ("no good match: no minerals, processes or value-chain stages were recognised in the "
                              "brief, and no organisation is close to it; describe the minerals, processes and the "
                              "expertise you need")
        elif all(m.weak for m in matches):
            # Never nothing for a query about the field: the results, every one flagged weak, and how to do better.
            best = max(m.fit or 0.0 for m in matches)
            why = ("the brief reads as off topic for critical-minerals research"
                   if isinstance(matches, Matches) and matches.gated else
                   f"the best fit is {best:.2f}, under {index.weak_below or 0:.2f}")
            out["message"] = (f"weak fit: {why}, so these results are shown flagged weak. Name the minerals, "
                              "processes or value-chain stages and the expertise you need, or try other countries")
        return out

    def key_terms(self, text: str) -> frozenset[str]:
        """The brief's meaningful terms as BM25 stems (``AnalysedQuery.key_terms``), for pages to highlight."""
        return self._index().analyse_query(text).key_terms

    def project_matches(
        self,
        project_id: str,
        *,
        k: int = 10,
        countries: Sequence[str] = (),
        org_types: Sequence[str] = (),
        challenge: int | None = None,
        eligibility: Sequence[str] = (),
        explain: bool = True,
    ) -> dict:
        """Matches for a stored project; by default in the countries the project seeks partners from."""
        self.get_project(project_id)  # unknown: ProjectNotFound before the request is validated
        request = MatchRequest.model_validate({
            "project_id": project_id, "k": k, "countries": list(countries), "org_types": list(org_types),
            "challenge": challenge, "eligibility": list(eligibility), "explain": explain,
        })
        return self.match(request)

    # ------------------------------------------------------------------ records
    def list_organisations(self, *, page: int = 1, per_page: int = 20, countries=(), org_types=(), minerals=(),
                           stages=(), text: str = "") -> Page:
        return self.store_.list_organisations(page=page, per_page=per_page, countries=countries, org_types=org_types,
                                              minerals=minerals, stages=stages, text=text)

    def get_organisation(self, org_id: str) -> Organisation:
        org = self.store_.get_organisation(org_id)
        if org is None:
            raise OrganisationNotFound(f"no organisation with id {clip(org_id)!r}; list them at /v1/organisations")
        return org

    def get_organisation_stamped(self, org_id: str):
        found = self.store_.get_organisation_stamped(org_id)
        if found is None:
            raise OrganisationNotFound(f"no organisation with id {clip(org_id)!r}; list them at /v1/organisations")
        return found

    def list_projects(self, *, page: int = 1, per_page: int = 20, countries=(), challenges=(), text: str = "",
                      illustrative: bool | None = None) -> Page:
        return self.store_.list_projects(page=page, per_page=per_page, countries=countries, challenges=challenges,
                                         text=text, illustrative=illustrative)

    def search_projects(self, request: ProjectSearchRequest) -> ProjectSearch:
        """Stored projects ranked for a free-text idea (the other direction of the search: a UK team's idea
        against Canadian projects with ``countries=["CA"]``), a page at a time.

        The idea is analysed and encoded as a partner search's brief (the partner index's query steps and query
        cache); the projects are ranked by ``ProjectIndex`` (BM25 and dense, fused as the organisation search
        does), brought up to the database first, so a project written through any worker is found by the next
        search. No domain evidence and nothing near: no items, and a message saying why."""
        if request.challenge is not None and request.challenge not in {c.id for c in self.challenges_}:
            raise InvalidRequest(f"challenge must be one of {sorted(c.id for c in self.challenges_)} or null, not "
                                 f"{request.challenge!r}")
        index = self._index()
        analysed = index.analyse_query(request.q)
        query, passages = index.query_vectors(analysed)
        message = None
        # The partner search's gate (projects share the field), asked first: an off-topic idea ranks nothing.
        off_topic = index.off_topic(analysed, query, passages)
        found = ProjectRanking() if off_topic else self._project_index(index).search(
            analysed, query, passages, countries=request.countries, challenge=request.challenge,
            illustrative=request.illustrative)
        if off_topic:
            message = ("no good match: the idea reads as off topic for critical-minerals research, so no project is "
                       "listed; describe the minerals, processes and the expertise involved")
        elif found.nothing_found:
            message = ("no good match: no minerals, processes or value-chain stages were recognised in the idea, and "
                       "no project is close to it; describe the minerals, processes and the expertise involved")
        elif found.weak:
            message = ("weak fit: no project comes near this idea in meaning or words, so every project these filters "
                       "allow is listed, ranked; name the minerals, processes or value-chain stages involved")
        elif not found.hits:
            message = "no project matches these filters"
        elif found.off_topic:
            message = ("weak fit: no minerals, processes or value-chain stages were recognised in the idea, so these "
                       "projects only share some of its words or meaning; describe the minerals, processes and the "
                       "expertise involved")
        start = (request.page - 1) * request.per_page
        query_echo = {"q": analysed.original.strip(), "countries": list(request.countries), "challenge": request.challenge,
                      "illustrative": request.illustrative}
        return ProjectSearch(found.hits[start : start + request.per_page], len(found.hits), query_echo, message)

    def _project_index(self, index: PartnerIndex) -> ProjectIndex:
        """The project index, brought up to the change log: built on first use (vectors from the shared cache),
        then derived with only the changed projects, and swapped in with one assignment."""
        held = self._projects
        if held is not None and self.store_.last_change() <= held[1]:
            return held[0]
        with self._projects_lock:
            seq = self.store_.last_change()  # read first: a change committed after it is applied by the next search
            held = self._projects
            if held is None:
                updated = ProjectIndex(self.embedder, cache=index.cache, batch_size=self.settings.batch_size).fit(
                    self.store_.all_projects())
            elif seq > held[1]:
                seq, _, changed = self.store_.changes_since(held[1])
                present = self.store_.get_projects(changed)
                updated = held[0].with_changes(present, changed - {p.id for p in present})
            else:
                return held[0]
            self._projects = (updated, seq)
            return updated

    def get_project(self, project_id: str) -> Project:
        project = self.store_.get_project(project_id)
        if project is None:
            raise ProjectNotFound(f"no project with id {clip(project_id)!r}; list them at /v1/projects")
        return project

    def organisation_history(self, org_id: str, *, page: int = 1, per_page: int = 20) -> Page:
        """A page of who created, changed or deleted an organisation and when, newest first (``RecordChange``s).

        A deleted organisation's history is still given; ``OrganisationNotFound`` only when there is neither the
        organisation nor any change to one with this id. A seeded organisation never written since has none."""
        history = self.store_.history("organisation", org_id, page=page, per_page=per_page)
        if history.total == 0 and self.store_.get_organisation(org_id) is None:
            raise OrganisationNotFound(f"no organisation with id {clip(org_id)!r}, and no recorded change to one; list "
                                       "them at /v1/organisations")
        return history

    def project_history(self, project_id: str, *, page: int = 1, per_page: int = 20) -> Page:
        """A page of who created, changed or deleted a project brief and when, as ``organisation_history``."""
        history = self.store_.history("project", project_id, page=page, per_page=per_page)
        if history.total == 0 and self.store_.get_project(project_id) is None:
            raise ProjectNotFound(f"no project with id {clip(project_id)!r}, and no recorded change to one; list them "
                                  "at /v1/projects")
        return history

    def import_file(self, path, fmt: str, *, kind: str = "organisations", mapping: dict[str, str] | None = None,
                    dry_run: bool = False, show_progress: bool = False, by: str | None = None,
                    **options: Any) -> ImportPlan:
        """Validate a whole file, then write it in one transaction (nothing on any error). Re-imports update.

        ``options``: ``organisation_map``, ``accept``, ``keep_off_topic``, ``related`` (see ``plan_import``);
        ``by``: who imported it, for the change log."""
        plan = plan_import(path, fmt, self.store_.all_organisations(), kind=kind, mapping=mapping,
                           show_progress=show_progress, existing_projects=self.store_.all_projects(), **options)
        if dry_run:
            self.store_.check(plan.organisations, plan.projects)
        else:
            self.store_.upsert(plan.organisations, plan.projects, by=by)
        return plan

    # ------------------------------------------------------------------ writes
    def save_organisation(self, org: Organisation, *, create_only: bool = False,
                          if_match: Collection[str] | None = None, by: str | None = None,
                          created: set[str] | None = None) -> Organisation:
        """Create or replace an organisation, then refresh the index so matches reflect it at once. With
        ``if_match``, replace only the stored version it names (``PreconditionFailed`` otherwise). ``by`` (who
        wrote it: an API key's name) goes into the change log, as for every write below; ``created``, when given,
        receives the id if this write created the record (``Store.upsert``)."""
        with self._write_lock:
            if create_only and self.store_.get_organisation(org.id) is not None:
                raise Conflict(f"organisation {org.id!r} already exists; PUT /v1/organisations/{org.id} replaces it")
            if if_match is not None:
                if self.store_.patch_organisation(org.id, lambda _current: org, if_match=if_match, by=by) is None:
                    raise PreconditionFailed(_no_version("organisation", org.id))
            else:
                self.store_.upsert(organisations=[org], by=by, created=created)
            self.sync()
        return org

    def patch_organisation(self, org_id: str, changes: dict, *, if_match: Collection[str] | None = None,
                           by: str | None = None) -> Organisation:
        """Change some fields of an organisation; the result is validated whole before anything is written.

        Atomic across processes (the store merges under the record's lock); ``if_match`` (entity tags or ``*``)
        makes the change conditional on the stored version (``PreconditionFailed`` otherwise)."""
        if "id" in changes and changes["id"] != org_id:
            raise InvalidRequest("the id of an organisation cannot be changed; create a new one instead")
        with self._write_lock:
            updated = self.store_.patch_organisation(
                org_id, lambda current: Organisation.model_validate({**current.model_dump(), **changes}),
                if_match=if_match, by=by)
            if updated is None:
                raise OrganisationNotFound(f"no organisation with id {clip(org_id)!r}; list them at /v1/organisations")
            self.sync()
        return updated

    def delete_organisation(self, org_id: str, *, if_match: Collection[str] | None = None,
                            by: str | None = None) -> None:
        with self._write_lock:
            if if_match is not None:
                deleted = self.store_.delete_checked("organisation", org_id, if_match=if_match, by=by)
            else:
                deleted = bool(self.store_.delete(organisation_ids=[org_id], by=by))
            if not deleted:
                raise OrganisationNotFound(f"no organisation with id {clip(org_id)!r}")
            self.sync()

    def save_project(self, project: Project, *, create_only: bool = False,
                     if_match: Collection[str] | None = None, by: str | None = None,
                     created: set[str] | None = None) -> Project:
        """Create or replace a project brief, as ``save_organisation``."""
        with self._write_lock:
            if create_only and self.store_.get_project(project.id) is not None:
                raise Conflict(f"project {project.id!r} already exists; PUT /v1/projects/{project.id} replaces it")
            if if_match is not None:
                if self.store_.patch_project(project.id, lambda _current: project, if_match=if_match, by=by) is None:
                    raise PreconditionFailed(_no_version("project", project.id))
            else:
                self.store_.upsert(projects=[project], by=by, created=created)
            self.sync()
        return project

    def patch_project(self, project_id: str, changes: dict, *, if_match: Collection[str] | None = None,
                      by: str | None = None) -> Project:
        """Change some fields of a project, atomically across processes (as ``patch_organisation``)."""
        if "id" in changes and changes["id"] != project_id:
            raise InvalidRequest("the id of a project cannot be changed; create a new one instead")
        with self._write_lock:
            updated = self.store_.patch_project(
                project_id, lambda current: Project.model_validate({**current.model_dump(), **changes}),
                if_match=if_match, by=by)
            if updated is None:
                raise ProjectNotFound(f"no project with id {clip(project_id)!r}; list them at /v1/projects")
            self.sync()
        return updated

    def delete_project(self, project_id: str, *, if_match: Collection[str] | None = None,
                       by: str | None = None) -> None:
        with self._write_lock:
            if if_match is not None:
                deleted = self.store_.delete_checked("project", project_id, if_match=if_match, by=by)
            else:
                deleted = bool(self.store_.delete(project_ids=[project_id], by=by))
            if not deleted:
                raise ProjectNotFound(f"no project with id {clip(project_id)!r}")
            self.sync()

    def import_records(self, organisations: list[Organisation], projects: list[Project], *,
                       by: str | None = None) -> dict:
        """Bulk write already-validated records in one transaction, then refresh the index once.

        The new organisations' texts are embedded into the shared cache first, outside every lock, so that the
        index update after the commit (here and in every other worker and replica) only reads vectors back."""
        index = self.index_
        if index is not None and organisations:
            index.embed_ahead(organisations)
        if self._projects is not None and projects:
            self._projects[0].embed_ahead(projects)
        with self._write_lock:
            written = self.store_.upsert(organisations, projects, by=by)
            self.sync()
        return {"organisations": written[0], "projects": written[1]}

    def check_records(self, organisations: list[Organisation], projects: list[Project]) -> dict:
        """A dry run of ``import_records``: every check the write makes (``Store.check``, the same function the
        write calls), nothing written; the counts it would import."""
        self.store_.check(organisations, projects)
        return {"organisations": len(organisations), "projects": len(projects)}

    def sync(self, *, reader: bool = False) -> None:
        """Bring the in-memory index up to the database: apply every change written since it was built or last
        synced, by this process or any other (the store's change log), and swap the result in.

        Incremental: only the changed organisations are embedded and indexed (``PartnerIndex.with_changes``; texts
        another worker already embedded come from the shared cache), and a project change retrains the challenge
        model only when the labels changed. Queries keep the old index until the single-assignment swap. If the
        update fails, the index is rebuilt from the database, so it never drifts from what was written. Costs one
        small query when nothing changed, so every query calls it: a write through one worker is matchable
        through all of them at once.

        A writer (``reader=False``) returns once its change is applied. A query (``reader=True``) never waits for
        a big batch: when more than ``READER_WAITS_FOR`` changes are pending (an import), the next index is derived
        on a background thread while the query is answered from the current one; an ordinary write (a few
        records, applied in milliseconds from the shared cache) is waited for, at most ``READER_WAIT_SECONDS``.
        """
        if self.index_ is None:
            if self._emptied and self.store_.count_organisations():  # emptied earlier, refilled since
                self.ensure_index(rebuild=True)
                self._emptied = False
            return
        target = self.store_.last_change()
        if target <= self.synced_seq_:
            return
        if not reader:
            self._apply_changes(wait=None)
        elif target - self.synced_seq_ > READER_WAITS_FOR:
            self._apply_in_background()
        elif not self._apply_changes(wait=READER_WAIT_SECONDS):
            self._apply_in_background()  # another thread holds the build: serve the current index meanwhile

    def _apply_in_background(self) -> None:
        """Start one background application of the pending changes, unless one is already under way."""
        with self._applying_lock:
            if self._applying is None or self._applying.done():
                self._applying = self._syncer.submit(self._apply_logged)

    def _apply_logged(self) -> None:
        try:
            self._apply_changes(wait=None)
        except Exception:  # the next query or write tries again; the current index keeps being served
            log.exception("applying the pending changes in the background failed")

    def _apply_changes(self, *, wait: float | None) -> bool:
        """Apply the pending changes under the build lock (waiting at most ``wait`` seconds for it, or for ever);
        False when the lock was not had in time."""
        if not self._build_lock.acquire(timeout=-1 if wait is None else wait):
            return False
        try:
            current = self.index_
            newest, org_ids, project_ids = self.store_.changes_since(self.synced_seq_)
            if current is None or newest <= self.synced_seq_:
                return True  # another thread applied them while this one waited
            present = self.store_.get_organisations(org_ids)
            deleted = org_ids - {o.id for o in present}
            labelled = [p for p in self.store_.all_projects() if p.challenge_areas] if project_ids else None
            try:
                updated = current.with_changes(present, deleted, labelled=labelled)
            except IndexNotReady:  # the last organisation was deleted: nothing left to search
                self.index_, self._emptied, self.synced_seq_ = None, True, newest
                return True
            except Exception:
                log.exception("incremental index update failed; rebuilding from the database")
                updated = None
            if updated is not None:
                self.index_, self.synced_seq_ = updated, newest
        finally:
            self._build_lock.release()
        if updated is None:
            self.ensure_index(rebuild=True)
        elif updated is not current:
            self._save_later(updated)
        return True

    def _save_later(self, index: PartnerIndex) -> None:
        """Save the newest index on a background thread; a burst of writes saves once, the last version."""
        with self._save_lock:
            self._unsaved = index
        self._saver.submit(self._save_newest)

    def _save_newest(self) -> None:
        with self._save_lock:
            index, self._unsaved = self._unsaved, None
        if index is None:
            return  # a later job already saved a newer version
        try:
            index.save(self.settings.index_path)
        except Exception:  # the served index is unaffected; the next start finds the file stale and rebuilds
            log.exception("could not save the index to %s", self.settings.index_path)

    def flush(self) -> None:
        """Wait until every index version swapped in so far has been saved."""
        self._saver.submit(lambda: None).result()

    @property
    def shortlists(self) -> ShortlistJobs:
        """Officers' batch shortlists (jobs in the database, run in the background of this process)."""
        if self._shortlists is None:
            from matcher.shortlists.jobs import ShortlistJobs

            self._shortlists = ShortlistJobs(self)
        return self._shortlists

    def challenges(self) -> list[Challenge]:
        return list(self.challenges_)

    def close(self) -> None:
        if self._shortlists is not None:
            self._shortlists.close()
        self._syncer.shutdown(wait=True)
        self.flush()
        self._saver.shutdown(wait=True)
        if hasattr(self, "store_"):
            self.store_.close()
