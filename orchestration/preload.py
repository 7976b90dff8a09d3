"""What the fleet job's forkserver imports once, so that no tenant step pays for it again.

The archive job's multiprocess executor starts its steps with ``forkserver`` (Dagster's
``start_method.forkserver.preload_modules``, see ``jobs.py``): the server imports this module,
then every step process is a fork of it. Importing Dagster, this code location and the Meltano
CLI here makes each step skip about a second of imports, and lets ``runner.py`` run each
``meltano`` command as a fork of its step instead of a new interpreter.

``meltano.cli`` configures logging when imported: the logging state of this process is put back
as it was, so the step processes log as Dagster set them up.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging


def _import_meltano_cli() -> bool:
    """Import ``meltano.cli`` with the logging configuration unchanged; False if not here."""
    if importlib.util.find_spec("meltano") is None:
        return False
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    loggers = {
        name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate)
        for name, lg in logging.Logger.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    try:
        import meltano.cli  # noqa: F401
    finally:
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, lg in logging.Logger.manager.loggerDict.items():
            if not isinstance(lg, logging.Logger):
                continue
            if name in loggers:
                lg.disabled, lg.level, handlers, lg.propagate = loggers[name]
                lg.handlers[:] = handlers
    return True


MELTANO_PRELOADED = _import_meltano_cli()

# The code location (Dagster and every asset), and the job of in-process runs built once.
from . import definitions, local  # noqa: E402,F401

with contextlib.suppress(Exception):  # a step builds it itself, and reports what is wrong
    local.archive_fleet_job()
