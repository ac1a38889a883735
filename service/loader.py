"""The index loader: gets a cold matcher ready to answer, in the background or before the app is returned."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from matcher import PartnerMatcher

log = logging.getLogger("service")


class IndexLoader:
    """Loads or builds the matcher's index, warms the model and resumes shortlist jobs, once.

    ``ready`` says whether the service can answer quickly; ``error`` says why loading failed, for /readyz.
    """

    THREAD_NAME = "index-loader"

    def __init__(self, matcher: PartnerMatcher, *, on_loaded: Callable[[float], object] | None = None) -> None:
        self.matcher = matcher
        self.on_loaded = on_loaded  # called with the seconds the load took (the metrics' gauge)
        self.error: str | None = None
        self._loaded = matcher.ready

    @property
    def ready(self) -> bool:
        """The index is loaded and the model has encoded one query."""
        return self._loaded and self.matcher.ready

    def start(self, *, background: bool) -> None:
        """Load now, or in a daemon thread so /healthz answers at once; a matcher already loaded is left as is."""
        if self.matcher.ready:
            return
        if background:
            threading.Thread(target=self.load, name=self.THREAD_NAME, daemon=True).start()
        else:
            self.load()

    def load(self) -> None:
        """Load, warm up and resume; a failure is logged and kept in ``error`` rather than raised."""
        try:
            started = time.perf_counter()
            self.matcher.ensure_index()
            self.matcher.warm_up()
            self.matcher.shortlists.resume()  # jobs a restart cut off: fail the abandoned, run the queued
            if self.on_loaded is not None:
                self.on_loaded(time.perf_counter() - started)
            self._loaded = True
        except Exception as e:  # kept for /readyz, so an operator sees why the service is not ready
            log.exception("the partner index could not be loaded")
            self.error = f"{type(e).__name__}: {e}"
