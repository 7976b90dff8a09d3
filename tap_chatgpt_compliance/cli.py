"""The tap's command line: every way it ends is one readable line, or quiet.

Invalid settings, an unreadable ``--config``/``--state``/``--catalog``, a failed run or
``--test``: readable lines, the last one the error, exit 1 (never a traceback nor click's
usage screen). ``--about`` to a reader that stopped early ends quietly (141); a ``--discover``
whose reader went away says its catalog was cut.
"""

from __future__ import annotations

import io
import json
import os
import sys
import typing as t

import click
from singer_sdk.exceptions import ConfigValidationError

from tap_chatgpt_compliance.errors import ComplianceAPIError, fatal_message
from tap_chatgpt_compliance.run.output import Interrupted
from tap_chatgpt_compliance.run.store import LeaseHeld
from tap_chatgpt_compliance.sdk import SeamTap, log_last_lines
from tap_chatgpt_compliance.settings import config_file_problem, read_json_object_file
from tap_chatgpt_compliance.streams.state import FILE_FIX

if t.TYPE_CHECKING:
    import logging

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override


class CommandLineTap(SeamTap):
    """The command line's callbacks of the tap (the SDK's, ending in readable lines)."""

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; any failure ends it with readable lines, never a traceback, and exit 1.

        Invalid settings give one line each; every other error (API errors, retries
        exhausted, an unreachable API, storage errors, …) gives one line, which is the last
        line of the log. The traceback is logged only at DEBUG level.
        """
        if kwargs.get("about"):
            sys.exit(_print_about(cls, kwargs.get("about_format")))
        try:
            super().invoke(*args, **kwargs)
        except (Interrupted, Exception) as exc:  # every failure ends as one line, never traced
            sys.exit(_ended(cls.logger, exc))

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read the ``--config`` files; one that cannot be read ends as one line, exit 1."""
        for problem in filter(None, map(config_file_problem, value)):
            ctx.exit(_ended(cls.logger, ConfigValidationError(problem, errors=[problem])))
        return super().cb_config(ctx, param, value)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """Return the SDK's command, ``--state`` and ``--catalog`` read by :meth:`cb_json_file`."""
        command = super().get_singer_command()
        for param in command.params:
            if param.name in INPUT_FILE_FIXES:
                param.type = click.STRING  # click.File's refusal is a usage screen, exit 2
                param.callback = cls.cb_json_file
        return command

    @classmethod
    def cb_json_file(
        cls, ctx: click.Context, param: click.Parameter, value: str | None
    ) -> t.IO[str] | None:
        """Read a ``--state`` or ``--catalog`` file.

        One that cannot be read ends as one line, exit 1, before any request (as ``--config``).
        """
        if value is None or param.name is None:
            return None
        option, fix = f"--{param.name}", INPUT_FILE_FIXES[param.name]
        problem, text = read_json_object_file(option, value, fix)
        if problem is None and param.name == "catalog":
            problem = _catalog_problem(option, value, text, fix)
        if problem is not None:
            ctx.exit(_ended(cls.logger, ConfigValidationError(problem, errors=[problem])))
        return io.StringIO(text)

    @classmethod
    @override
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Run ``--discover``; a catalog its reader stopped reading ends as one line, exit 1.

        The SDK's print failed into click's own handling of a closed pipe: exit 1, no line.
        """
        try:
            try:
                super().cb_discover(ctx, param, value)
            finally:
                if value:
                    sys.stdout.flush()  # the catalog's end, still buffered, goes out now
        except BrokenPipeError:
            _quiet_stdout()
            ctx.exit(_ended(cls.logger, ComplianceAPIError(CATALOG_NOT_WRITTEN)))

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """Run ``--test``; bad settings and failures end as readable lines, like a run."""
        try:
            super().cb_test(ctx, param, value)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (Interrupted, Exception) as exc:  # the same lines as a failed run (SIGTERM too)
            ctx.exit(_ended(cls.logger, exc))


CATALOG_NOT_WRITTEN = (
    "--discover: the catalog was not written whole: the tap's output was closed (broken pipe), "
    "the process reading it stopped. Nothing was archived or changed; run the discovery again "
    "(Meltano: `meltano select tap-chatgpt-compliance --list --all` refreshes it)."
)
"""The line of a discovery whose reader went away (its catalog would be cut short)."""

INPUT_FILE_FIXES = {
    "state": FILE_FIX,
    "catalog": (
        "give the catalog Meltano writes, or one from `tap-chatgpt-compliance --discover` (a "
        "JSON object with a streams list), or leave --catalog out to sync the default selection"
    ),
}
"""The fix of each JSON file option (besides ``--config``) whose file cannot be read."""


def _catalog_problem(option: str, path: str, text: str, fix: str) -> str | None:
    """Return why a catalog (a JSON object) cannot be read as one, or None when it can.

    ``streams`` that is not a list of objects ended as "Unexpected error TypeError".
    """
    streams = json.loads(text).get("streams", [])
    if isinstance(streams, list) and all(isinstance(stream, dict) for stream in streams):
        return None
    return f"{option} {path}: its streams is not a list of objects: {fix}."


EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: how a shell reports a command whose reader went away (``yes | head``)."""


def _print_about(tap: type[CommandLineTap], about_format: str | None) -> int:
    """Print ``--about``; return its exit code: 0, or 141 when the reader stopped early.

    ``--about | head -3`` is no failure of the tap: nothing is logged (the SDK's print failed
    into "The tap's output was closed … the bookmark stays …", exit 1).
    """
    try:
        tap.print_about(about_format)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    return 0


def _quiet_stdout() -> None:
    """Point standard output at /dev/null: the exit's own flush of a closed pipe is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _ended(logger: logging.Logger, exc: BaseException) -> int:
    """Log the lines that end a failed run or ``--test``; return its exit code.

    SIGTERM/SIGINT: its line, 143/130 (as a shell reports a signal); another run of the
    workspace: its line, 1; anything else: one line (one per invalid setting), 1.
    """
    if isinstance(exc, Interrupted):
        log_last_lines(logger, [exc.message])
        return exc.exit_code
    if isinstance(exc, LeaseHeld):
        log_last_lines(logger, [str(exc)])
        return 1
    logger.debug("Traceback of the failure", exc_info=exc)
    log_last_lines(logger, _failure_lines(exc))
    return 1


def _failure_lines(exc: BaseException) -> list[str]:
    """Return the lines that end a failed run: one per invalid setting, else one."""
    if isinstance(exc, ConfigValidationError):
        return [" ".join(str(error).split()) for error in exc.errors or [str(exc)]]
    return [fatal_message(exc)]
