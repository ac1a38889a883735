"""What every blueprint of the service shares: the one ``PartnerMatcher`` the app serves, and its loader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from matcher import PartnerMatcher

if TYPE_CHECKING:
    from service.loader import IndexLoader

MATCHER = "partner_matcher"  # key in ``app.extensions``
LOADER = "index_loader"


def current_matcher() -> PartnerMatcher:
    """The matcher of the app handling this request; views call it rather than holding one, so tests can swap it."""
    return current_app.extensions[MATCHER]


def current_loader() -> IndexLoader:
    """The app's index loader: whether the index is ready, or why it failed to load."""
    return current_app.extensions[LOADER]
