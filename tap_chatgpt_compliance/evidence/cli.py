"""``chatgpt-compliance``: prove an archive (``verify``) and produce it (``export``).

Exit status: 0 when the archive is intact, 1 on any finding or when the archive cannot be read
(one readable line, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t
from pathlib import Path

from tap_chatgpt_compliance.evidence import export_cli, sources
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
        help=(
            "the tap's state (a file of its Singer output, a state JSON, or `meltano state get` "
            "output): the archive must reach every chain head it holds"
        ),
    )
    check.add_argument(
        "--seals",
        metavar="URI",
        help="the seals the tap wrote (seal_storage_url): every seal is checked, and the "
        "archive must reach every head they hold",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "export":
            return _export(args)
        anchor = read_state(args.state) if args.state else None
        archive = open_archive(args)
        report = verify(archive, anchor)
        if args.seals:
            from tap_chatgpt_compliance.evidence import seals

            try:
                seals.check_seals(args.seals, report, archive.storage_options, archive=report.links)
            except seals.SealsUnreadable as exc:
                report.add("seal", args.seals, str(exc))
        if args.report:
            Path(args.report).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    except (sources.ArchiveError, AnchorError, OSError) as exc:
        print(f"chatgpt-compliance {args.command}: {exc}", file=sys.stderr)
        return 1
    print(report.text())
    return 0 if report.intact else 1


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
