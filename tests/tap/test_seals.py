"""Seals on S3 Object Lock (moto server): written by each run, write-once, checked by verify."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tap_chatgpt_compliance.evidence.seals import archive_links, check_seals
from tests.support.tap import run_tap, tap_config


class Report:
    """The part of evidence.verify.Report that check_seals uses."""

    def __init__(self) -> None:
        self.findings: list[tuple[str, str, str]] = []
        self.anchored: list[str] = []
        self.limitations: list[str] = []

    def add(self, check: str, item: str, detail: str) -> None:
        self.findings.append((check, item, detail))


@pytest.fixture
def lock_bucket(s3_client) -> str:
    name = f"lock-{os.urandom(6).hex()}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def options(s3_endpoint: str) -> dict[str, Any]:
    return {
        "endpoint_url": s3_endpoint,
        "key": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    }


def _seal_keys(s3_client, bucket: str) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="seals/").get("Contents") or []
    return sorted(item["Key"] for item in listed)


def test_each_run_writes_a_locked_chained_seal_that_verify_checks(
    simulator_factory, s3_client, lock_bucket: str, options: dict[str, Any]
) -> None:
    sim = simulator_factory(seed=7, conversations=6, span_days=0.4, attachment_rate=0.4)
    config = tap_config(
        sim, seal_storage_url=f"s3://{lock_bucket}/seals", seal_storage_options=options
    )
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-3000:]
    sim.advance(timedelta(hours=2))
    second = run_tap(config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    keys = _seal_keys(s3_client, lock_bucket)
    assert len(keys) == 2
    assert all(key.startswith(f"seals/{sim.workspace_id}/") for key in keys)
    seals = [
        json.loads(s3_client.get_object(Bucket=lock_bucket, Key=k)["Body"].read()) for k in keys
    ]
    assert [seal["seal_seq"] for seal in seals] == [1, 2]
    assert all(seal["workspace_id"] == sim.workspace_id for seal in seals)
    assert all(seal["api_time"] for seal in seals), "the API's Date was seen"
    assert seals[1]["previous_seal"]["name"] == keys[0].rsplit("/", 1)[-1]
    # The seal holds the heads of the final STATE.
    state = second.state
    assert state is not None
    partition = state["bookmarks"]["log_files"]["partitions"][0]
    head = seals[1]["chains"]["log_files/CONVERSATION_MESSAGE"]
    assert (head["chain_seq"], head["chain_head"]) == (
        partition["chain_seq"],
        partition["chain_head"],
    )
    files = state["bookmarks"]["files"]
    assert seals[1]["chains"]["files"] == {
        "chain_seq": files["chain_seq"],
        "chain_head": files["chain_head"],
        "chain_head_id": files["chain_head_id"],  # the head record's attachment
    }
    assert seals[1]["records"]["messages"] == len(second.records["messages"])
    # COMPLIANCE retention, seven years by default.
    for key in keys:
        meta = s3_client.head_object(Bucket=lock_bucket, Key=key)
        assert meta["ObjectLockMode"] == "COMPLIANCE"
        until = meta["ObjectLockRetainUntilDate"]
        assert until > datetime.now(timezone.utc) + timedelta(days=2550)
    # The whole archive (both runs) matches every seal.
    log_files = first.records["log_files"] + second.records["log_files"]
    rest = {s: first.records[s] + second.records[s] for s in ("users", "gpts", "projects")}
    links = archive_links(log_files, first.records["files"] + second.records["files"], rest)
    report = Report()
    checked = check_seals(
        f"s3://{lock_bucket}/seals", report, options, workspace_id=sim.workspace_id, archive=links
    )
    assert report.findings == []
    assert checked.object_lock
    assert len(checked.seals) == 2
    assert checked.files_head() == (files["chain_seq"], files["chain_head"])
    # An archive missing the second run's files is shorter than its seal.
    report = Report()
    check_seals(
        f"s3://{lock_bucket}/seals",
        report,
        options,
        archive=archive_links(
            first.records["log_files"],
            first.records["files"],
            {s: first.records[s] for s in ("users", "gpts", "projects")},
        ),
    )
    assert any("missing from the archive" in f[2] for f in report.findings), report.findings


def test_a_seal_cannot_be_deleted_or_overwritten_before_its_retention_ends(
    simulator_factory, s3_client, lock_bucket: str, options: dict[str, Any]
) -> None:
    sim = simulator_factory(seed=8, conversations=3, span_days=0.2, attachment_rate=0.0)
    config = tap_config(
        sim, seal_storage_url=f"s3://{lock_bucket}/seals", seal_storage_options=options
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    [key] = _seal_keys(s3_client, lock_bucket)
    original = s3_client.get_object(Bucket=lock_bucket, Key=key)["Body"].read()
    [version] = s3_client.list_object_versions(Bucket=lock_bucket, Prefix=key)["Versions"]
    # moto enforces COMPLIANCE mode on a versioned delete, as S3 does (bypass or not).
    for extra in ({}, {"BypassGovernanceRetention": True}):
        with pytest.raises(ClientError) as refused:
            s3_client.delete_object(
                Bucket=lock_bucket, Key=key, VersionId=version["VersionId"], **extra
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    bulk = s3_client.delete_objects(
        Bucket=lock_bucket, Delete={"Objects": [{"Key": key, "VersionId": version["VersionId"]}]}
    )
    assert bulk["Errors"][0]["Code"] == "AccessDenied"
    # A conditional write cannot replace it; an unconditional one only adds a version.
    with pytest.raises(ClientError) as refused:
        s3_client.put_object(Bucket=lock_bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    forged = json.loads(original)
    forged["chains"] = {}
    s3_client.put_object(Bucket=lock_bucket, Key=key, Body=json.dumps(forged).encode())
    kept = s3_client.get_object(Bucket=lock_bucket, Key=key, VersionId=version["VersionId"])
    assert kept["Body"].read() == original
    # A plain delete only adds a marker: verify names both, and checks the original version.
    s3_client.delete_object(Bucket=lock_bucket, Key=key)
    report = Report()
    checked = check_seals(f"s3://{lock_bucket}/seals/{sim.workspace_id}", report, options)
    assert [f[0] for f in report.findings] == ["seal"], report.findings
    assert "overwritten or deleted: 2 versions and 1 delete marker" in report.findings[0][2]
    assert checked.latest is not None
    assert checked.latest["chains"] == json.loads(original)["chains"]


def test_check_seals_reports_a_seal_without_retention_and_a_missing_one(
    simulator_factory, s3_client, lock_bucket: str, options: dict[str, Any]
) -> None:
    sim = simulator_factory(seed=9, conversations=3, span_days=0.2, attachment_rate=0.0)
    config = tap_config(
        sim, seal_storage_url=f"s3://{lock_bucket}/seals", seal_storage_options=options
    )
    state = None
    for _ in range(2):
        run = run_tap(config, state=state)
        assert run.returncode == 0, run.stderr[-3000:]
        state = run.state
    keys = _seal_keys(s3_client, lock_bucket)
    assert len(keys) == 2
    # An object written beside the seals without Object Lock, named after them.
    name = keys[-1].rsplit("/", 1)[-1].replace("Z-", "Z-f", 1)
    fake = f"seals/{sim.workspace_id}/29991231T000000.000000Z-{name.split('-', 1)[1]}"
    body = s3_client.get_object(Bucket=lock_bucket, Key=keys[-1])["Body"].read()
    s3_client.put_object(Bucket=lock_bucket, Key=fake, Body=body)
    report = Report()
    check_seals(f"s3://{lock_bucket}/seals", report, options, workspace_id=sim.workspace_id)
    details = [f[2] for f in report.findings]
    assert any("no Object Lock COMPLIANCE retention" in d for d in details), details
    assert any("missing seal" in d for d in details), details  # it does not follow the last seal
    assert Counter(f[0] for f in report.findings) == Counter({"seal": len(details)})


def test_a_seal_bucket_without_object_lock_is_refused_before_any_request(
    simulator_factory, s3_client, s3_bucket: str, options: dict[str, Any]
) -> None:
    """A seal bucket without Object Lock: one line naming the setting and the fix, exit 1,
    before anything is read."""
    sim = simulator_factory(seed=10, conversations=2, span_days=0.2, attachment_rate=0.0)
    config = tap_config(
        sim, seal_storage_url=f"s3://{s3_bucket}/seals", seal_storage_options=options
    )
    run = run_tap(config)
    assert run.returncode == 1
    assert not run.records
    last = run.stderr.strip().splitlines()[-1]
    assert "seal_storage_url" in last
    assert "no S3 Object Lock" in last
    assert "Traceback" not in run.stderr
    assert _seal_keys(s3_client, s3_bucket) == []


def test_a_seal_that_cannot_be_written_fails_the_run_with_one_line(
    simulator_factory, tmp_path
) -> None:
    """The archive is written, the seal is not (its folder cannot be created): exit 1 and one
    line saying the archive is not anchored; the next run writes the seal."""
    sim = simulator_factory(seed=10, conversations=2, span_days=0.2, attachment_rate=0.0)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    run = run_tap(tap_config(sim, seal_storage_url=str(blocker / "seals")))
    assert run.returncode == 1
    assert run.records["messages"], "the archive itself was written"
    last = run.stderr.strip().splitlines()[-1]
    assert "ERROR" in last
    assert "NOT anchored" in last
    assert "Traceback" not in run.stderr
    blocker.unlink()
    again = run_tap(tap_config(sim, seal_storage_url=str(blocker / "seals")), state=run.state)
    assert again.returncode == 0, again.stderr[-3000:]
    [seal] = list((blocker / "seals" / sim.workspace_id).iterdir())
    heads = json.loads(seal.read_text())["chains"]
    assert heads["log_files/CONVERSATION_MESSAGE"]["chain_seq"] == len(run.records["log_files"])
