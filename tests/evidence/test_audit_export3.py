"""A third adversary's audit of ``export``: what a production showed that nothing proves.

Synthetic archives built in memory (test_export_hazards), exported in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

from .test_export_hazards import AT, _archive, _event, _export

FORGED_REASON = "deleted by the custodian on 2026-11-01"


def _produced(out: Path) -> bytes:
    """Every byte the production wrote (pages, RSMF emails and their zips, CSV, placeholders)."""
    return b"\n".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())


def test_an_attachment_s_status_reason_is_never_shown(tmp_path: Path) -> None:
    """A files record's ``status_reason`` is the tap's note of the download: no chain covers it
    (the status is chained, the reason is not) and no raw line derives it, so anyone who can
    write the archive can say anything there, and verify stays intact. The placeholder of an
    attachment not archived showed it ("status expired (deleted by the custodian ...)"): now
    the proven status alone."""
    files = [{"id": "file-Gone", "name": "gone.pdf", "mime_type": "application/pdf"}]
    events = [
        _event("conv-att", "Files", "m1", "see attached", AT.format(1), files=files),
        _event("conv-att", "Files", "m2", "thanks", AT.format(2)),
    ]
    record = {
        "id": "file-Gone",
        "status": "expired",
        "status_reason": FORGED_REASON,
        "sha256": None,
        "name": "gone.pdf",
    }
    out = tmp_path / "out"
    _export(_archive(events, files=[record]), out)
    produced = _produced(out)
    assert b"gone.pdf" in produced
    assert b"expired" in produced  # the status, which the files chain proves
    assert FORGED_REASON.encode() not in produced
    assert b"deleted by the custodian" not in produced.replace(b"=\n", b"")  # nor folded


def test_an_event_kept_as_text_with_a_key_twice_is_not_rendered(tmp_path: Path) -> None:
    """A messages row whose event is JSON text holding the message twice, a forged one first:
    the index read the last (``json.loads``), a reader taking the first reads the forged one.
    Such a text is no delivered event: not rendered, an export problem (as verify's finding)."""
    events = [
        _event("conv-dup", "Dup", "m1", "the delivered text", AT.format(1)),
        _event("conv-dup", "Dup", "m2", "a second message", AT.format(2)),
    ]
    archive = _archive(events)
    row = archive.tables["messages"][0]
    forged = {**row["event"]["message"], "content": {"type": "text", "value": "FORGED"}}
    row["event"] = '{"message": ' + json.dumps(forged) + ", " + json.dumps(row["event"])[1:]
    assert json.loads(row["event"])["message"]["content"]["value"] == "the delivered text"
    out = tmp_path / "out"
    exporter = _export(archive, out)
    assert exporter.problems() == ["export: messages row m1: no delivered event to render from"], (
        exporter.problems()
    )
    produced = _produced(out)
    assert b"a second message" in produced
    assert b"FORGED" not in produced
    assert b"the delivered text" not in produced  # the row is no value, nothing is shown of it
