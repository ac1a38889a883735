"""The partner index: ``PartnerIndex`` (build, update, rank, state), its records and columns, the challenge model
and the index file.

- ``partner_index``: ``PartnerIndex`` and its state (``IndexState``), in one class;
- ``records``: the organisations, compressed in memory (``OrganisationTable``);
- ``columns``: the per-organisation arrays kept beside them (the index's own and every signal's);
- ``challenges``: ``ChallengeModel``, each profile's alignment with the challenge areas;
- ``file``: the ``.npz`` file format, written and read through ``PartnerIndex.state()`` / ``from_state()``;
- ``project_index``: ``ProjectIndex``, the stored projects ranked for an idea (the other direction of the search).
"""

from matcher.index.file import IndexMeta
from matcher.index.partner_index import FORMAT_VERSION, IndexState, PartnerIndex, challenges_hash, labels_hash
from matcher.index.project_index import ProjectIndex, ProjectRanking

__all__ = ["FORMAT_VERSION", "IndexMeta", "IndexState", "PartnerIndex", "ProjectIndex", "ProjectRanking", "challenges_hash", "labels_hash"]
