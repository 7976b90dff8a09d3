"""Run one tenant's pipeline with the real Meltano CLI (``meltano run <tenant tap> <loader>``)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .project import Tenant, identifier, load_tenants, project_root, tenant_environment
from .summary import (
    RunSummary,
    bookmarks_from_state,
    loader_error,
    meltano_error,
    overlap_error,
    parse_summary,
    refused_to_start,
    tap_lines,
    tap_message,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

_SECRET_NAME = re.compile(r"(?:^|_)(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?)(?:_|$)")
"""Variables whose values are secrets (``…_API_KEY``, ``AWS_SECRET_ACCESS_KEY``, ``…_PASSWORD``)."""
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")
REDACTED = "***"


#: Meltano's prefix of a line: time, level, then the plugin's name (or, on Meltano's own
#: lines, the first word of its message).
_LINE_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z?\s+\[\s*\w+\s*\]\s+(\S+)\s")


def redact(output: str, env: Mapping[str, str], plugins: Collection[str] = ("meltano",)) -> str:
    """Return a run's output without the secrets of its environment, nor URL passwords.

    The tap, the targets and Meltano print no secret; this is the fleet's own guard, since the
    output's tail goes into Dagster's metadata and failure descriptions, and into log files.
    Meltano's prefix of a line naming one of ``plugins`` is kept as it is: a secret that is
    part of a plugin's name (``TARGET_POSTGRES_PASSWORD=postgres``) would hide whose line it is,
    and the name is no secret (``meltano.yml`` shows it). Any other word there (Meltano's own
    message starting with a URL, say) is redacted like the rest of the line.
    """
    secrets = {value for name, value in env.items() if _SECRET_NAME.search(name.upper())}
    values = sorted((v for v in secrets if len(v) >= 8), key=len, reverse=True)

    def clean(text: str) -> str:
        for value in values:
            text = text.replace(value, REDACTED)
        return _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)

    for value in (v for v in values if "\n" in v):  # a secret of several lines (a PEM key)
        output = output.replace(value, REDACTED)
    lines = []
    for line in output.splitlines(keepends=True):
        prefix = _LINE_PREFIX.match(line)
        at = prefix.end() if prefix and prefix.group(1) in plugins else 0
        lines.append(line[:at] + clean(line[at:]))
    return "".join(lines)


def meltano_executable() -> str:
    """``MELTANO_EXECUTABLE``, else the ``meltano`` beside this Python, else the one on PATH."""
    configured = os.environ.get("MELTANO_EXECUTABLE")
    if configured:
        return configured
    beside = Path(sys.executable).with_name("meltano")
    if beside.exists():
        return str(beside)
    return shutil.which("meltano") or "meltano"


def state_id(tenant: Tenant, loader: str, environment: str | None = None) -> str:
    """Meltano's state id of a ``meltano run <tenant> <loader>`` pipeline."""
    env = environment if environment is not None else os.environ.get("MELTANO_ENVIRONMENT")
    env = env or "local"
    return f"{env}:{tenant.extractor}-to-{loader}"


@dataclass
class RunOutcome:
    """What one ``meltano run`` did."""

    tenant: str
    loader: str
    exit_code: int
    started_at: float
    finished_at: float
    output: str
    summary: RunSummary
    message: str | None  # the tap's last line (its one-line reason on failure)
    warnings: list[str]
    log_path: Path | None
    refused: bool = False
    """The tap stopped on an error before syncing anything (configuration, its key's secret)."""

    @property
    def ok(self) -> bool:
        """Whether Meltano exited 0."""
        return self.exit_code == 0

    @property
    def seconds(self) -> float:
        """Wall-clock duration of the run."""
        return self.finished_at - self.started_at


def _forkable() -> bool:
    """Whether ``meltano`` can run as a fork of this process rather than a new interpreter.

    Only when the step already imported the Meltano CLI (the forkserver's preload), the
    ``meltano`` to run is the one beside this Python (no ``MELTANO_EXECUTABLE``) and
    ``FLEET_MELTANO_FORK`` is not ``0``.
    """
    return (
        hasattr(os, "fork")
        and "meltano.cli" in sys.modules
        and not os.environ.get("MELTANO_EXECUTABLE")
        and os.environ.get("FLEET_MELTANO_FORK", "1").strip() != "0"
        and meltano_executable() == str(Path(sys.executable).with_name("meltano"))
    )


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def _run_forked(
    args: list[str], timeout: float, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``meltano <args>`` in a fork of this process, as :func:`subprocess.run` would.

    The child calls the console script's ``main`` with the same argv and folder and with
    ``env`` as its environment, in its own process group: only the interpreter's start and
    imports are skipped. Same result as :func:`subprocess.run` (``TimeoutExpired`` included).
    """
    root = project_root()
    argv = [meltano_executable(), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child; its effects are tested)
            _meltano_child(argv, root, env, (out.fileno(), err.fileno()))
        deadline = time.monotonic() + timeout
        nap = 0.005
        try:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    _kill_group(pid)
                    out.seek(0)
                    err.seek(0)
                    raise subprocess.TimeoutExpired(argv, timeout, out.read(), err.read())
                time.sleep(nap)
                nap = min(nap * 2, 0.1)
        except subprocess.TimeoutExpired:
            raise
        except BaseException:
            # The step was interrupted (Dagster terminating the run raises in the step's code):
            # the run was asked to stop, so its Meltano, tap and target stop too.
            _kill_group(pid)
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            argv,
            _exit_code(status),
            out.read().decode("utf-8", errors="replace"),
            err.read().decode("utf-8", errors="replace"),
        )


def _kill_group(pid: int) -> None:
    """Stop the forked Meltano and everything it started (the tap, the target)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        end = time.monotonic() + grace
        while time.monotonic() < end:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.05)


def _stream(fd: int) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="replace", line_buffering=True
    )


def _default_signals() -> None:
    """Put the step's signal handlers (Dagster's) back to Python's defaults in the fork.

    A Meltano still starting then stops at once on the group's SIGTERM (a timeout, an
    interrupted step) instead of running the step's handler and waiting for the SIGKILL; once
    a job runs, ``meltano run`` installs its own and stops its plugins gracefully.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _meltano_child(
    argv: list[str], root: Path, env: dict[str, str], fds: tuple[int, int]
) -> NoReturn:
    """Become ``meltano <args>`` in ``root`` with ``env`` (the forked child); never return."""
    code = 1
    out_fd, err_fd = fds
    try:
        os.setpgid(0, 0)
        _default_signals()
        os.chdir(root)
        os.environ.clear()
        os.environ.update(env)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # New streams on the new descriptors (the step's may be a capture, not fds 1 and 2).
        sys.stdout = _stream(1)
        sys.stderr = _stream(2)
        sys.argv = argv
        from meltano.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


_TENANTS: dict[tuple[Path, int], list[Tenant]] = {}


#: Meltano log levels that hide the tap's info lines, its run summary among them.
_QUIET_LEVELS = ("warning", "error", "critical")


def _environment(tenant: Tenant) -> dict[str, str]:
    """Return this process's environment without the other tenants' variables.

    Meltano's log level is at most ``info``: at ``warning`` Meltano drops the tap's run summary
    (an info line), and the fleet would know nothing of what the run archived.
    """
    path = project_root() / "meltano.yml"
    key = (path, path.stat().st_mtime_ns)
    if key not in _TENANTS:
        _TENANTS.clear()
        _TENANTS[key] = load_tenants(path.parent)
    env = tenant_environment(os.environ, tenant, _TENANTS[key])
    if env.get("MELTANO_CLI_LOG_LEVEL", "").strip().lower() in _QUIET_LEVELS:
        env["MELTANO_CLI_LOG_LEVEL"] = "info"
    return env


def _run(args: list[str], timeout: float, tenant: Tenant) -> subprocess.CompletedProcess[str]:
    """Run ``meltano <args>`` for ``tenant`` (forked when it can be, else a new process)."""
    env = _environment(tenant)
    if _forkable():
        return _run_forked(args, timeout, env)
    return subprocess.run(
        [meltano_executable(), *args],
        cwd=project_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


PERSIST_FAILED = ("Failed to persist incremental state", "StatePersistenceError")
"""What Meltano logs when its state backend refuses the run's state (it still exits 0)."""


def read_state(
    tenant: Tenant, loader: str, timeout: float = 120
) -> tuple[dict[str, Any] | None, str | None]:
    """Return the state Meltano holds for the pipeline (``{}`` if none), or None and why not."""
    proc = _run(["state", "get", state_id(tenant, loader)], timeout, tenant)
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines()]
        reason = next((line for line in reversed(lines) if "rror" in line), "")
        return None, " ".join(reason.split())[:300] or f"meltano state get exited {proc.returncode}"
    text = proc.stdout.strip()
    start = text.find("{")
    if start < 0:
        return {}, None
    try:
        data = json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        return None, "meltano state get printed no JSON state"
    return (data, None) if isinstance(data, dict) else ({}, None)


def state_problem(output: str, read_error: str | None) -> str | None:
    """Return why the run's state may not have been persisted, or None."""
    failed = any(marker in output for marker in PERSIST_FAILED)
    if not failed and read_error is None:
        return None
    what = (
        "Meltano failed to persist the incremental state to its state backend"
        if failed
        else "the state Meltano persisted could not be read back"
    )
    why = f" ({read_error})" if read_error else ""
    return (
        f"{what}{why}: the bookmarks reported are those Meltano holds, and the next run "
        "starts from them (records archived since are read again). Check state_backend.uri "
        "(MELTANO_STATE_BACKEND_URI), the bucket and its credentials."
    )


def unfinished_tap(summary: RunSummary, exit_code: int) -> str | None:
    """Return why a run that Meltano calls a success did not archive all it could, or None.

    The tap's last line is its run summary. Without it, or with one saying the tap failed, the
    tap did not finish: Meltano exits 0 when the loader ends (exit 0) before the tap, after
    stopping the tap ("pretend the producer finished successfully"). Only what Meltano's state
    holds was archived.
    """
    if exit_code != 0:
        return None
    if summary.source != "summary":
        return (
            "meltano run exited 0, but the tap never wrote its run summary: it did not finish "
            "(Meltano reports success when the loader ends before the tap, and stops the tap). "
            "Only what Meltano's state holds is archived; the next run resumes there. Check "
            "the loader's log."
        )
    if summary.exit_code:
        return (
            f"meltano run exited 0, but the tap's run summary says it failed (exit "
            f"{summary.exit_code}): only what Meltano's state holds is archived."
        )
    return None


def _not_run(tenant: Tenant, loader: str) -> RunOutcome:
    """Return the outcome of a tenant ``meltano.yml`` keeps from running (``Tenant.problem``).

    Like a tap that refused its configuration: no request was sent, and the same project file
    fails the same way until a person changes it (not retried).
    """
    now = time.time()
    problem = str(tenant.problem)
    return RunOutcome(
        tenant=tenant.name,
        loader=loader,
        exit_code=1,
        started_at=now,
        finished_at=now,
        output=f"meltano run {tenant.extractor} {loader} not started: {problem}",
        summary=RunSummary(exit_code=1, source="none", failures=[problem]),
        message=problem,
        warnings=[],
        log_path=None,
        refused=True,
    )


def run_pipeline(
    tenant: Tenant, loader: str, log_dir: Path | None = None, timeout: float = 3600
) -> RunOutcome:
    """``meltano run <tenant extractor> <loader>``; read its summary and the persisted state.

    The bookmarks reported are those Meltano persisted (``meltano state get`` after the run),
    not those the tap reached: a state backend that fails makes the run fail, although Meltano
    itself exits 0; so does a tap that never wrote its run summary (:func:`unfinished_tap`).
    """
    if tenant.problem:
        return _not_run(tenant, loader)
    started = time.time()
    try:
        proc = _run(["run", tenant.extractor, loader], timeout, tenant)
        exit_code, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stderr or b""
        text = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        exit_code, output = 124, f"{text}\nmeltano run timed out after {timeout:.0f} s"
    output = redact(output, _environment(tenant), (tenant.extractor, loader, "meltano"))
    finished = time.time()
    log_path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
        # The tenant's Dagster name: Meltano accepts names unsafe in a path (``a/b``, ``..``).
        log_path = log_dir / f"{identifier(tenant.name)}-{loader}-{stamp}.log"
        log_path.write_text(output, encoding="utf-8")
    summary = parse_summary(output)
    if summary is None:
        summary = RunSummary(exit_code=exit_code, source="none")
    state, read_error = read_state(tenant, loader)
    summary.tap_bookmarks = dict(summary.bookmarks)
    summary.bookmarks = bookmarks_from_state(state) if state else {}
    if state is not None and summary.source == "none":
        summary.source = "state"
    message = tap_message(output, tenant.extractor)
    loader_failed = loader_error(output, loader) if exit_code != 0 else None
    if loader_failed:  # the tap's last line says nothing of why, or only that the loader left
        tap_error = tap_lines(output, tenant.extractor, "error")
        message = f"{tap_error[-1]}; {loader_failed}" if tap_error else loader_failed
    if exit_code != 0 and message is None:
        message = overlap_error(output, tenant.extractor, loader) or meltano_error(output)
    if exit_code == 124:
        message = f"meltano run timed out after {timeout:.0f} s"
    for problem in (state_problem(output, read_error), unfinished_tap(summary, exit_code)):
        if problem is not None:
            summary.failures.append(problem)
            if exit_code == 0:
                exit_code, message = 1, problem
    return RunOutcome(
        tenant=tenant.name,
        loader=loader,
        exit_code=exit_code,
        started_at=started,
        finished_at=finished,
        output=output,
        summary=summary,
        message=message,
        warnings=tap_lines(output, tenant.extractor, "warning"),
        log_path=log_path,
        refused=exit_code != 0 and refused_to_start(output, tenant.extractor),
    )
