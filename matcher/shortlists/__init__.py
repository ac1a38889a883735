"""Officers' batch shortlists: every project of a call gets partners at once, fairly, and decisions are recorded.

Ranking each project alone puts the same famous organisations on every list. A shortlist instead scores every
(project, candidate) pair with the product's ranking (``shortlister``), then solves one constrained assignment
over all of them (``solver``): at most ``max_per_organisation`` lists per organisation, an organisation-type mix
per project, exclusions (the project's lead, listed conflicts, pairs an officer rejected before). ``request`` is
what an officer asks for, ``feasibility`` the one check that refuses an impossible request, ``jobs`` runs them in
the background with their state in the database (``matcher.storage.shortlist_store``), and ``export`` writes
CSV and XLSX for both doors.
"""

from matcher.shortlists.export import decisions_to_csv, shortlist_to_csv, shortlist_to_xlsx
from matcher.shortlists.jobs import ShortlistJobs
from matcher.shortlists.request import MAX_PROJECTS, ShortlistRequest
from matcher.shortlists.shortlister import ShortlistOutcome, Shortlister, ShortlistSummary
from matcher.shortlists.solver import AssignmentResult, ShortlistConstraints, assign, greedy_assign
from matcher.storage.shortlist_store import DecisionRecord, ShortlistAssignment, ShortlistJob

__all__ = ["MAX_PROJECTS", "AssignmentResult", "DecisionRecord", "ShortlistAssignment", "ShortlistConstraints",
           "ShortlistJob", "ShortlistJobs", "ShortlistOutcome", "ShortlistRequest", "ShortlistSummary", "Shortlister",
           "assign", "decisions_to_csv", "greedy_assign", "shortlist_to_csv", "shortlist_to_xlsx"]
