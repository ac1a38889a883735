"""Partner Matcher core: index, scoring, challenge alignment and ranking (no Flask).

The public API is what ``__all__`` lists; the CLI, the HTTP service and the tests use only these names.
"""

from typing import TYPE_CHECKING

from corpus.schema import Challenge, Document, Organisation, Project
from matcher.config import Settings
from corpus.importers import FORMATS as IMPORT_FORMATS
from corpus.importers import ImportPlan, read_mapping, read_mapping_countries, write_report
from matcher.engine import IndexStatus, PartnerMatcher, load_configured_embedder, open_matcher, plan_import_dry
from matcher.errors import (
    AssignmentNotFound,
    Conflict,
    CorpusError,
    IndexFileError,
    IndexNotReady,
    Infeasible,
    InvalidRequest,
    MatcherError,
    ModelLoadError,
    NotFound,
    OrganisationDeleted,
    OrganisationHasUnits,
    OrganisationNotFound,
    PartnerMatcherError,
    PreconditionFailed,
    ProjectNotFound,
    ShortlistNotFound,
    StorageError,
)
from matcher.index import PartnerIndex
from matcher.ranking import SIGNALS
from matcher.requests import MAX_K, MAX_TEXT_CHARS, MatchRequest, ProjectSearchRequest
from matcher.results import Match, ProjectHit, ProjectSearch, ScoreWeights
from matcher.storage import RecordChange, Store, record_etag

if TYPE_CHECKING:
    from matcher.shortlists import (
        ShortlistAssignment,
        ShortlistJob,
        ShortlistJobs,
        ShortlistRequest,
        decisions_to_csv,
        shortlist_to_csv,
        shortlist_to_xlsx,
    )

# Officers' shortlists load the solver (OR-Tools) and are used by few commands: imported on first use, so that
# importing the core stays as cheap as it was.
_SHORTLIST_NAMES = ("ShortlistAssignment", "ShortlistJob", "ShortlistJobs", "ShortlistRequest",
                    "decisions_to_csv", "shortlist_to_csv", "shortlist_to_xlsx")


def __getattr__(name: str) -> object:
    if name in _SHORTLIST_NAMES:
        import matcher.shortlists

        return getattr(matcher.shortlists, name)
    raise AttributeError(f"module 'matcher' has no attribute {name!r}")


__all__ = [
    "IMPORT_FORMATS",
    "ImportPlan",
    "MAX_K",
    "AssignmentNotFound",
    "MAX_TEXT_CHARS",
    "Challenge",
    "Conflict",
    "CorpusError",
    "Document",
    "IndexFileError",
    "IndexNotReady",
    "IndexStatus",
    "Infeasible",
    "InvalidRequest",
    "Match",
    "MatchRequest",
    "MatcherError",
    "ModelLoadError",
    "NotFound",
    "Organisation",
    "OrganisationDeleted",
    "OrganisationHasUnits",
    "OrganisationNotFound",
    "PartnerIndex",
    "PartnerMatcher",
    "PartnerMatcherError",
    "PreconditionFailed",
    "Project",
    "ProjectHit",
    "ProjectNotFound",
    "ProjectSearch",
    "ProjectSearchRequest",
    "RecordChange",
    "SIGNALS",
    "ScoreWeights",
    "Settings",
    "ShortlistAssignment",
    "ShortlistJob",
    "ShortlistJobs",
    "ShortlistNotFound",
    "ShortlistRequest",
    "StorageError",
    "Store",
    "decisions_to_csv",
    "load_configured_embedder",
    "open_matcher",
    "plan_import_dry",
    "read_mapping",
    "read_mapping_countries",
    "record_etag",
    "shortlist_to_csv",
    "shortlist_to_xlsx",
    "write_report",
]
