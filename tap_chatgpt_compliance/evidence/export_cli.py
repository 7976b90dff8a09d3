"""``chatgpt-compliance export``: its flags, and verify-then-produce (or refuse)."""

from __future__ import annotations

import sys
import time
import typing as t
from pathlib import Path

from tap_chatgpt_compliance.evidence.export import (
    Exporter,
    Stamp,
    parse_bound,
    parse_export_time,
    parse_prefix,
)
from tap_chatgpt_compliance.evidence.export_text import one_line
from tap_chatgpt_compliance.evidence.sources import ArchiveError
from tap_chatgpt_compliance.evidence.verify import AnchorError, read_state

if t.TYPE_CHECKING:
    import argparse

    from tap_chatgpt_compliance.evidence.sources import Archive
    from tap_chatgpt_compliance.evidence.verify import Anchor, Report

DESCRIPTION = (
    "Verify the archive, then write one RSMF file per conversation per day (rsmf/), an HTML "
    "transcript per conversation with index.html, production_messages.csv (every message's "
    "production number) and production_manifest.json/.csv with the SHA-256 of every file. "
    "Every message is rendered from its delivered event. Refuses (exit 1, findings listed) when "
    "verify or the export has findings, unless --allow-findings. The same archive, selection "
    "and --export-time give byte-identical files."
)


def add_arguments(produce: argparse.ArgumentParser) -> None:
    """Add the export's own flags (the source flags are added by the caller)."""
    who = produce.add_mutually_exclusive_group(required=True)
    who.add_argument("--custodian", metavar="EMAIL_OR_USER_ID")
    who.add_argument("--conversation", metavar="ID")
    produce.add_argument("--since", metavar="DATE", help="first day (or time), UTC")
    produce.add_argument("--until", metavar="DATE", help="last day (inclusive), or an end time")
    produce.add_argument("--out", metavar="DIR", required=True, help="the production folder")
    produce.add_argument(
        "--production-prefix",
        metavar="PREFIX",
        help="start of every production number, e.g. ACME- gives ACME-000001",
    )
    produce.add_argument(
        "--allow-findings",
        action="store_true",
        help="produce even when verify has findings; every page is stamped with them",
    )
    produce.add_argument(
        "--dat", action="store_true", help="also write production.dat (Concordance load file)"
    )
    produce.add_argument(
        "--state",
        metavar="FILE",
        action="append",
        help="the tap's state, as for verify (repeatable): the verdict is anchored to its chain "
        "heads",
    )
    produce.add_argument(
        "--seals",
        metavar="URI",
        action="append",
        help="the seals the tap wrote, as for verify (repeatable): every seal is checked",
    )
    produce.add_argument(
        "--export-time",
        metavar="TIME",
        help="the export time shown on every page (default: now, UTC)",
    )


def run(
    args: argparse.Namespace,
    open_archive: t.Callable[[argparse.Namespace], Archive],
    verify: t.Callable[..., Report],
) -> int:
    """Select, verify, then produce or refuse; return the exit status."""
    started = time.monotonic()
    since = parse_bound(args.since, end=False)
    until = parse_bound(args.until, end=True)
    prefix = parse_prefix(args.production_prefix)
    export_time = parse_export_time(args.export_time)
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        msg = f"--out {args.out} is not empty: choose a new folder for each production"
        raise ArchiveError(msg)
    archive = open_archive(args)
    with Exporter(archive) as exporter:
        _, selected = exporter.select(args.custodian, args.conversation, since, until)
        try:
            anchors = _anchors(args.state or ())
            log_file_ids = exporter.slice_log_files(selected, since)
            report = verify(archive, anchor=anchors or None, log_file_ids=log_file_ids)
            if args.seals:  # as verify does: an unreadable seal store is a finding
                from tap_chatgpt_compliance.evidence import seals

                seals.check_stores(args.seals, report, archive.storage_options)
        except ArchiveError:
            raise
        except Exception as exc:  # fail closed: no verdict, no production
            msg = (
                f"verify could not complete ({type(exc).__name__}: {one_line(exc)}); "
                "nothing was written"
            )
            raise ArchiveError(msg) from exc
        findings = [one_line(f.line()) for f in report.findings] + exporter.problems()
        located = [(f.check, f.item) for f in report.findings] + exporter.problem_items()
        # Rows a limitation names as proven by nothing are marked NOT PROVEN too (no finding).
        located += report.unproven_rows
        # And the records after every anchor's head (partly anchored: seals checked above).
        located += report.unanchored_rows()
        if findings and not args.allow_findings:
            print(
                f"chatgpt-compliance export: refused: {len(findings)} findings (verify and "
                "export); nothing was written. --allow-findings produces anyway, every page "
                "stamped with them.",
                file=sys.stderr,
            )
            for line in findings:
                print(f"FINDING {line}", file=sys.stderr)
            return 1
        verdict = (
            f"VERDICT: FAILED — {len(findings)} findings; produced with --allow-findings"
            if findings
            else one_line(report.verdict())
        )
        production = exporter.export(
            out,
            args.custodian,
            args.conversation,
            since,
            until,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
            stamp=Stamp(verdict, findings, located, sorted(report.unproven_columns)),
            prefix=prefix,
            export_time=export_time,
            load_file=args.dat,
        )
        unplaced = exporter.index.unplaced
        unparsed = exporter.index.unparsed
    print("\n".join(production.summary_lines(time.monotonic() - started)))
    if unplaced:
        print(
            f"  Note: {unplaced:,} messages of the archive name no conversation or time in their "
            "delivered event: they are in no selection."
        )
    if unparsed:
        print(
            f"  Note: {unparsed:,} lines of the archive's message log files could not be parsed "
            "(unparsed_lines, kept byte-exact): they are in no selection; a message among them "
            "is not in this production."
        )
    if findings:
        print(f"  {verdict}: every page is stamped with them.")
    return 0


def _anchors(paths: t.Sequence[str]) -> list[Anchor]:
    """Return the chain heads of each ``--state`` file (one readable line if one cannot)."""
    anchors = []
    for path in paths:
        try:
            anchors.append(read_state(path))
        except AnchorError as exc:  # already one line naming --state
            raise ArchiveError(one_line(exc)) from exc
        except (ValueError, OSError) as exc:
            msg = f"--state {path}: {one_line(exc)}"
            raise ArchiveError(msg) from exc
    return anchors
