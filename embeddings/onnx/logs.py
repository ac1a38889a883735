"""Quieting a library's own log records for one block of code, in the calling thread only."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _LibraryRecords(logging.Filter):
    """Drops the records at WARNING or below that code inside ``folders`` logs from the thread ``thread``."""

    def __init__(self, folders: tuple[str, ...], thread: int) -> None:
        super().__init__()
        self.folders = folders
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.WARNING and record.thread == self.thread
                    and record.pathname.startswith(self.folders))


@contextmanager
def quiet_library_logs(package: str) -> Iterator[None]:
    """Within the block, drop the records at WARNING or below that the code of ``package`` (an imported package's
    dotted name) logs from this thread, through the root logger or the loggers its modules hold.

    A filter on those loggers, added and removed by this block alone, rather than ``logging.disable``: that is
    process-wide, so it would also drop every other thread's records in a threaded server. Errors, other code's
    records and other threads' records are logged as usual.
    """
    module = importlib.import_module(package)
    folder = os.path.dirname(os.path.abspath(module.__file__ or package))
    folders = tuple({folder + os.sep, os.path.realpath(folder) + os.sep})
    loggers: dict[int, logging.Logger] = {id(logging.root): logging.root}
    for loaded in list(sys.modules.values()):
        path = getattr(loaded, "__file__", None)
        if path and os.path.abspath(path).startswith(folders):
            loggers.update((id(v), v) for v in list(vars(loaded).values()) if isinstance(v, logging.Logger))
    quiet = _LibraryRecords(folders, threading.get_ident())
    for logger in loggers.values():
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers.values():
            logger.removeFilter(quiet)
