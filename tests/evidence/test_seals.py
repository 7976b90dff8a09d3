"""check_seals on a local folder: the seal chain, and every sealed head against the archive."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tap_chatgpt_compliance.evidence.seals import SealsUnreadable, archive_links, check_seals
from tap_chatgpt_compliance.logfiles.seals import (
    SealError,
    SealStore,
    chain_heads,
    seal_url,
    write_seal,
)

WORKSPACE = "0b6a5f1e-5c1f-4d0e-9d44-0a1c2e3f4a51"
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


class Report:
    def __init__(self) -> None:
        self.findings: list[tuple[str, str, str]] = []
        self.anchored: list[str] = []
        self.limitations: list[str] = []

    def add(self, check: str, item: str, detail: str) -> None:
        self.findings.append((check, item, detail))


def _manifest(count: int) -> list[dict]:
    return [
        {"event_type": "AUDIT_LOG", "chain_seq": n, "chain_hash": f"{n:064x}"}
        for n in range(1, count + 1)
    ]


def _seal_runs(root: Path, heads: list[int]) -> list[str]:
    """Write one seal per run, each sealing the AUDIT_LOG chain at the given chain_seq."""
    store = SealStore(str(root), WORKSPACE, {})
    urls = []
    for index, seq in enumerate(heads):
        state = {"chain_seq": seq, "chain_head": f"{seq:064x}"}
        url, _ = write_seal(
            store,
            chains=chain_heads({"AUDIT_LOG": state}, None),
            records={"log_files": 1},
            retention_days=1,
            now=T0 + timedelta(hours=index),
        )
        urls.append(url)
    return urls


def _details(report: Report) -> list[str]:
    assert {f[0] for f in report.findings} <= {"seal"}
    return [f[2] for f in report.findings]


def test_clean_seals_match_the_archive(tmp_path: Path) -> None:
    _seal_runs(tmp_path, [2, 4, 5])
    report = Report()
    result = check_seals(str(tmp_path), report, archive=archive_links(_manifest(5)))
    assert report.findings == []
    assert [seal["seal_seq"] for _, seal in result.seals] == [1, 2, 3]
    assert result.heads()["log_files/AUDIT_LOG"] == (5, f"{5:064x}")
    assert report.anchored == [result.source]
    assert report.limitations, "a local folder is not write-once: said as a limitation"
    names = [name for name, _ in result.seals]
    assert names == sorted(names)
    assert all(name.endswith(".json") for name in names)


def test_truncated_or_rewritten_archive_is_a_finding(tmp_path: Path) -> None:
    _seal_runs(tmp_path, [2, 4])
    report = Report()
    check_seals(str(tmp_path), report, archive=archive_links(_manifest(3)))
    assert _details(report) == [
        "chain log_files/AUDIT_LOG: the seal says chain_seq 4, the archive ends at 3: records "
        "sealed by this run are missing from the archive"
    ]
    rewritten = _manifest(4)
    rewritten[1]["chain_hash"] = "f" * 64
    report = Report()
    check_seals(str(tmp_path), report, archive=archive_links(rewritten))
    assert len(report.findings) == 1
    assert "the archive was rewritten" in report.findings[0][2]


def test_a_missing_or_altered_seal_is_a_finding(tmp_path: Path) -> None:
    urls = _seal_runs(tmp_path, [1, 2, 3, 4])
    folder = tmp_path / WORKSPACE
    Path(urls[1]).unlink()  # a seal removed from the middle
    report = Report()
    check_seals(str(folder), report)
    details = _details(report)
    assert any("missing seal" in d for d in details), details
    assert any("seal_seq 3 does not follow 1" in d for d in details), details
    # An altered seal no longer hashes to what the next seal says.
    path = Path(urls[2])
    seal = json.loads(path.read_text())
    seal["chains"]["log_files/AUDIT_LOG"]["chain_seq"] = 99
    path.write_text(json.dumps(seal, sort_keys=True, separators=(",", ":")) + "\n")
    report = Report()
    check_seals(str(folder), report)
    assert any("altered" in d for d in _details(report))
    # The oldest seals removed: the first one left does not start the chain.
    Path(urls[0]).unlink()
    report = Report()
    check_seals(str(folder), report)
    assert any("earlier seal(s) are missing" in d for d in _details(report))


def test_junk_and_backwards_heads_are_findings(tmp_path: Path) -> None:
    _seal_runs(tmp_path, [3, 2])
    report = Report()
    check_seals(str(tmp_path), report, workspace_id=WORKSPACE)
    assert any("went back from chain_seq 3 to 2" in d for d in _details(report))
    (tmp_path / WORKSPACE / "30000101T000000.000000Z-junk.json").write_text("not json")
    report = Report()
    check_seals(str(tmp_path), report)
    assert any("not a seal" in d for d in _details(report))


def test_no_seal_is_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(SealsUnreadable, match="no seal found"):
        check_seals(str(tmp_path / "nothing"), Report())


def test_a_seal_is_never_written_over_another(tmp_path: Path) -> None:
    store = SealStore(str(tmp_path), WORKSPACE, {})
    data = b'{"seal_seq":1,"chains":{}}\n'
    store.write("a.json", data, T0)
    with pytest.raises(FileExistsError):
        store.write("a.json", b"other", T0)
    assert store.read("a.json") == data
    assert [p.name for p in (tmp_path / WORKSPACE).iterdir()] == ["a.json"]


def test_a_clock_behind_the_last_seal_still_sorts_after_it(tmp_path: Path) -> None:
    store = SealStore(str(tmp_path), WORKSPACE, {})
    first, _ = write_seal(store, chains={}, records={}, retention_days=1, now=T0)
    second, seal = write_seal(
        store, chains={}, records={}, retention_days=1, now=T0 - timedelta(days=1)
    )
    assert Path(first).name < Path(second).name
    assert seal["seal_seq"] == 2


def test_an_unreadable_store_fails_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = SealStore(str(blocker), WORKSPACE, {})
    with pytest.raises(SealError) as failed:
        write_seal(store, chains={}, records={}, retention_days=1)
    message = str(failed.value)
    assert "\n" not in message
    assert "NOT anchored" in message


def test_seal_location_defaults() -> None:
    class S:
        file_storage_url: str | None = "s3://bucket/archive/"
        seal_storage_url: str | None = None

    settings = S()
    assert seal_url(settings) == "s3://bucket/archive/seals"  # type: ignore[arg-type]
    settings.seal_storage_url = "none"
    assert seal_url(settings) is None  # type: ignore[arg-type]
    settings.seal_storage_url, settings.file_storage_url = None, None
    assert seal_url(settings) is None  # type: ignore[arg-type]
    settings.seal_storage_url = "/var/seals/"
    assert seal_url(settings) == "/var/seals"  # type: ignore[arg-type]
