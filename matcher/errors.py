"""The one error tree. Every package's errors join ``PartnerMatcherError`` (defined in ``corpus.errors``, the
lowest layer); the HTTP door and the CLI each catch that one class and map it once (status code / exit message).

    PartnerMatcherError
    ├── CorpusError            (corpus: a file or record is invalid)
    ├── ModelLoadError         (embeddings: the model cannot be loaded)
    └── MatcherError           (the core)
        ├── InvalidRequest, Infeasible
        ├── Conflict: PreconditionFailed, OrganisationDeleted
        ├── NotFound: OrganisationNotFound, ProjectNotFound, ShortlistNotFound, AssignmentNotFound
        └── IndexNotReady, IndexFileError, StorageError
"""

from __future__ import annotations

from corpus.errors import CorpusError, PartnerMatcherError
from embeddings.base import ModelLoadError


class MatcherError(PartnerMatcherError):
    """Base of the core's errors. ``code`` is a stable machine-readable name; ``details`` helps fix the cause."""

    code = "matcher_error"


class InvalidRequest(MatcherError):
    """The caller asked for something malformed (bad field, out-of-range value)."""

    code = "invalid_request"


class NotFound(MatcherError):
    code = "not_found"


class OrganisationNotFound(NotFound):
    code = "organisation_not_found"


class ProjectNotFound(NotFound):
    code = "project_not_found"


class ShortlistNotFound(NotFound):
    code = "shortlist_not_found"


class AssignmentNotFound(NotFound):
    code = "assignment_not_found"


class Conflict(MatcherError):
    """The record already exists (create) or the change conflicts with the stored data."""

    code = "conflict"


class PreconditionFailed(Conflict):
    """A conditional write (``If-Match``) named a version of the record that is no longer the stored one."""

    code = "precondition_failed"


class OrganisationDeleted(Conflict):
    """The change names an organisation that has been deleted since (a decision on a stored shortlist)."""

    code = "organisation_deleted"


class OrganisationHasUnits(Conflict):
    """The organisation is the parent of others (their ``parent_id``): deleting it would orphan them."""

    code = "organisation_has_units"


class IndexNotReady(MatcherError):
    """The index is still loading or building; try again shortly."""

    code = "index_not_ready"


class IndexFileError(MatcherError):
    """A saved index is unreadable, or was built for another model or corpus."""

    code = "index_invalid"


class Infeasible(MatcherError):
    """Constraints that no assignment can meet (a shortlist asking for more than the candidates allow).

    ``details`` names the constraint and the shortfall, e.g. ``{"constraint": "max_per_organisation",
    "required": 150, "available": 120, "shortfall": 30}``.
    """

    code = "infeasible_constraints"


class StorageError(MatcherError):
    """The database could not be reached or written."""

    code = "storage_error"


__all__ = [
    "AssignmentNotFound",
    "Conflict",
    "CorpusError",
    "IndexFileError",
    "IndexNotReady",
    "Infeasible",
    "InvalidRequest",
    "MatcherError",
    "ModelLoadError",
    "NotFound",
    "OrganisationDeleted",
    "OrganisationNotFound",
    "PartnerMatcherError",
    "PreconditionFailed",
    "ProjectNotFound",
    "ShortlistNotFound",
    "StorageError",
]
