"""Partner Matcher core: index, scoring, challenge alignment and ranking (no Flask).

The public API is what ``__all__`` lists; the CLI, the HTTP service and the tests use only these names.
"""

from corpus.schema import Challenge, Document, Organisation, Project
from matcher.config import Settings
from matcher.engine import PartnerMatcher
from matcher.errors import (
    Conflict,
    CorpusError,
    IndexFileError,
    IndexNotReady,
    Infeasible,
    InvalidRequest,
    MatcherError,
    ModelLoadError,
    NotFound,
    OrganisationNotFound,
    ProjectNotFound,
    StorageError,
)
from matcher.index import PartnerIndex
from matcher.requests import MAX_K, MAX_TEXT_CHARS, MatchRequest
from matcher.results import Match, ScoreWeights
from matcher.store import Store

__all__ = [
    "MAX_K",
    "MAX_TEXT_CHARS",
    "Challenge",
    "Conflict",
    "CorpusError",
    "Document",
    "IndexFileError",
    "IndexNotReady",
    "Infeasible",
    "InvalidRequest",
    "Match",
    "MatchRequest",
    "MatcherError",
    "ModelLoadError",
    "NotFound",
    "Organisation",
    "OrganisationNotFound",
    "PartnerIndex",
    "PartnerMatcher",
    "Project",
    "ProjectNotFound",
    "ScoreWeights",
    "Settings",
    "StorageError",
    "Store",
]
