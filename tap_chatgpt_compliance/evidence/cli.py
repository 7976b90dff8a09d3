"""``chatgpt-compliance``: prove an archive (``verify``) and produce it (``export``).

Exit status: 0 when the archive is intact, 1 on any finding or when the archive cannot be read
(one readable line, never a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

from tap_chatgpt_compliance.evidence import export_cli, sources
from tap_chatgpt_compliance.evidence.export_text import one_line
from tap_chatgpt_compliance.evidence.verify import AnchorError, read_state, verify

if t.TYPE_CHECKING:
    from collections.abc import Sequence


def _add_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--jsonl", metavar="DIR", help="a target-jsonl folder")
    group.add_argument("--s3", metavar="URL", help="target-s3 objects under s3://bucket/prefix")
    group.add_argument("--postgres", metavar="DSN", help="a target-postgres database")
    parser.add_argument("--schema", metavar="NAME", help="the tenant's schema (with --postgres)")
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="S3 endpoint for --s3 and s3:// storage URIs (an S3-compatible store)",
    )
    parser.add_argument(
        "--storage-options",
        metavar="JSON",
        help="fsspec options for storage URIs and --s3, e.g. '{\"anon\": false}'",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        prog="chatgpt-compliance",
        description="Prove and produce an archive written by tap-chatgpt-compliance.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "verify",
        help="prove that nothing was dropped or altered since collection",
        description=(
            "Check that every raw log file hashes to OpenAI's SHA-256, every event of those "
            "files is in the tables, the manifest chain is unbroken per event type, and every "
            "archived attachment hashes right. Exit 1 on any finding."
        ),
    )
    _add_source(check)
    check.add_argument("--report", metavar="FILE", help="write the detailed report as JSON")
    check.add_argument(
        "--state",
        metavar="FILE",
        action="append",
        help=(
            "the tap's state (a file of its Singer output, a state JSON, or `meltano state get` "
            "output): the archive must reach every chain head it holds (repeatable: each state "
            "is checked)"
        ),
    )
    check.add_argument(
        "--seals",
        metavar="URI",
        action="append",
        help="the seals the tap wrote (seal_storage_url): every seal is checked, and the "
        "archive must reach every head they hold (repeatable: each store is checked)",
    )
    produce = commands.add_parser(
        "export",
        help="write an RSMF 2.0 + HTML production for a custodian or a conversation",
        description=export_cli.DESCRIPTION,
    )
    _add_source(produce)
    export_cli.add_arguments(produce)
    return parser


def open_archive(
    args: argparse.Namespace, streams: t.Collection[str] = sources.STREAMS
) -> sources.Archive:
    """Open the archive named by the source flags (the streams given, and log_files)."""
    options: dict[str, t.Any] = {}
    if args.storage_options:
        try:
            options = dict(json.loads(args.storage_options))
        except (ValueError, TypeError) as exc:
            msg = f"--storage-options is not a JSON object ({exc})"
            raise sources.ArchiveError(msg) from exc
    if args.endpoint_url:
        options.setdefault("endpoint_url", args.endpoint_url)
    if args.jsonl:
        return sources.from_jsonl(args.jsonl, options, streams)
    if args.s3:
        return sources.from_s3(args.s3, options, streams)
    if not args.schema:
        msg = "--postgres needs --schema NAME (the tenant's load_schema)"
        raise sources.ArchiveError(msg)
    return sources.from_postgres(args.postgres, args.schema, options, streams)


class _Stopped(BaseException):  # like KeyboardInterrupt: no ``except Exception`` takes it
    """SIGTERM while a command runs."""


def _stop(signum: int, frame: t.Any) -> None:
    del frame
    raise _Stopped(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (1 and one line on any error).

    SIGINT and SIGTERM end it with one line too (no verdict, or an export said incomplete),
    exit 130 or 143, as a shell reports a signal.
    """
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if main_thread else None
    try:
        if args.command == "export":
            return _export(args)
        return _verify(args)
    except (KeyboardInterrupt, _Stopped) as exc:
        signum = signal.SIGTERM if isinstance(exc, _Stopped) else signal.SIGINT
        _fail(args, f"stopped by {signum.name}{_unfinished(args)}")
        return 128 + signum
    except (sources.ArchiveError, AnchorError, OSError) as exc:
        _fail(args, str(exc))
    except Exception as exc:  # fail closed: a bug or a library's surprise, never a traceback
        _fail(args, f"could not complete ({type(exc).__name__}: {exc}){_unfinished(args)}")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 1


def _verify(args: argparse.Namespace) -> int:
    anchors = [read_state(path) for path in args.state or ()]
    archive = open_archive(args)
    report = verify(archive, anchors)
    if args.seals:
        from tap_chatgpt_compliance.evidence import seals

        seals.check_stores(args.seals, report, archive.storage_options)
    if args.report:
        Path(args.report).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    print(report.text())
    return 0 if report.intact else 1


def _unfinished(args: argparse.Namespace) -> str:
    """Return what an interrupted command leaves behind (an export's partial production)."""
    if args.command != "export":
        return ": no verdict"
    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()):
        return f": the production in {out} is incomplete, do not use it"
    return ": nothing was written"


def _fail(args: argparse.Namespace, message: str) -> None:
    """Print one line on stderr, without a secret of the command line or the environment."""
    print(f"chatgpt-compliance {args.command}: {redact(message, args)}"[:2000], file=sys.stderr)


SECRET_ENVIRONMENT = ("PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_SECRET_NAME = re.compile(r"key|secret|token|password|passwd|credential", re.IGNORECASE)
_USERINFO = re.compile(r"(://[^/@\s:]*):[^/@\s]*@")
_PASSWORD_SETTING = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(text: str, args: argparse.Namespace) -> str:
    """Return ``text`` on one line with every secret given to the command replaced by ``***``.

    Secrets: the password of ``--postgres`` (URL or ``password=``), every value of
    ``--storage-options`` under a key naming a key, secret, token or password, the
    environment's ``SECRET_ENVIRONMENT``; and any URL password or ``password=`` setting.
    """
    secrets = {os.environ.get(name) or "" for name in SECRET_ENVIRONMENT}
    dsn = getattr(args, "postgres", None) or ""
    with contextlib.suppress(ValueError):
        secrets.add(urlsplit(dsn).password or "")
    secrets.update(match[2].strip("'") for match in _PASSWORD_SETTING.finditer(dsn))
    with contextlib.suppress(ValueError, TypeError):
        secrets.update(_secret_values(json.loads(getattr(args, "storage_options", None) or "{}")))
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _PASSWORD_SETTING.sub(r"\1***", _USERINFO.sub(r"\1:***@", text))
    return one_line(text)


def _secret_values(value: t.Any, secret: bool = False) -> t.Iterator[str]:
    """Yield the texts of a JSON value held under a key that names a secret."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_values(item, secret or bool(_SECRET_NAME.search(str(key))))
    elif isinstance(value, list):
        for item in value:
            yield from _secret_values(item, secret)
    elif secret and value is not None and not isinstance(value, bool):
        yield str(value)


def _export(args: argparse.Namespace) -> int:
    return export_cli.run(args, open_archive, verify)


def run() -> None:
    """Console script entry point."""
    sys.exit(main())


def _version() -> str:
    """Return the installed distribution's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tap-chatgpt-compliance")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "unknown"


if __name__ == "__main__":
    run()
