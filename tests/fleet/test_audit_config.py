"""A bad day for the fleet, round 5: tenants of ``meltano.yml`` the fleet could not tell apart.

One tenant's mistake in ``meltano.yml`` (a name declared twice, two names Meltano and Dagster read
as one, two tenants writing to one ``load_schema``) made the whole code location fail to load
(``Duplicate asset key``): no tenant was archived, no check ran, no alert was sent. A tenant
inheriting from another tenant was silently not archived. Now each such tenant's step fails
with one line naming it and why (not retried), and every other tenant runs.

``meltano`` is replaced by canned answers of ``runner._run`` (tests/fleet/test_audit_silent3.py);
the Dagster path (definitions, assets, checks, alerts) is the production one, in process.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from orchestration import runner
from orchestration.project import Tenant, load_tenants, tenant_environment
from orchestration.settings import FleetSettings

from .test_audit_silent3 import TAP, T, canned, refused, summary_run
from .test_audit_silent3 import TENANT as ACME

TENANTS_YML = """\
  - name: tap-chatgpt-compliance--acme
    inherit_from: tap-chatgpt-compliance
    load_schema: acme
    config: {workspace_id: 0b6a5f1e-5c1f-4d0e-9d44-0a1c2e3f4a51}
  - name: tap-chatgpt-compliance--acme--eu      # a tenant inheriting from another tenant
    inherit_from: tap-chatgpt-compliance--acme
    load_schema: acme_eu                        # its own workspace: the project fixture's variable
  - name: tap-chatgpt-compliance--a-1           # Meltano and Dagster read a-1 and a_1 as one
    inherit_from: tap-chatgpt-compliance
    load_schema: a1
  - name: tap-chatgpt-compliance--a_1
    inherit_from: tap-chatgpt-compliance
    load_schema: a_1
  - name: tap-chatgpt-compliance--dup           # declared twice
    inherit_from: tap-chatgpt-compliance
    load_schema: dup
  - name: tap-chatgpt-compliance--dup
    inherit_from: tap-chatgpt-compliance
    load_schema: dup2
  - name: tap-chatgpt-compliance--nols1         # no load_schema: both inherit the base's
    inherit_from: tap-chatgpt-compliance
  - name: tap-chatgpt-compliance--nols2
    inherit_from: tap-chatgpt-compliance
  - name: tap-chatgpt-compliance--typo          # inherit_from misspelt
    inherit_from: tap-chatgpt-compliances
"""


def write_project(root: Path, tenants: str = TENANTS_YML) -> Path:
    """A ``meltano.yml`` with the base extractor (``load_schema: chatgpt_compliance``) and
    ``tenants``."""
    base = textwrap.dedent(
        """\
        project_id: 00000000-0000-0000-0000-000000000016
        default_environment: local
        environments:
        - name: local
        plugins:
          extractors:
          - name: tap-chatgpt-compliance
            namespace: tap_chatgpt_compliance
            load_schema: chatgpt_compliance
          - name: tap-other
            namespace: tap_other
        """
    )
    (root / "meltano.yml").write_text(base + tenants)
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MELTANO_PROJECT_ROOT", "TAP_CHATGPT_COMPLIANCE__NOLS1__LOAD_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    # acme--eu's own workspace (without it, it would archive acme's: test_audit_fleet17.py)
    monkeypatch.setenv(
        "TAP_CHATGPT_COMPLIANCE__ACME__EU_WORKSPACE_ID", "9e2e8c7a-93b1-4f6e-8a20-7c4d5e6f7a82"
    )
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(write_project(tmp_path)))
    return tmp_path


def meltano_by_tenant(calls: list[str]) -> Any:
    """A canned ``meltano``: every tenant's run succeeds; ``calls`` records who ran."""
    output, state = summary_run("bookmark", "2026-12-07T03:00:00+00:00")

    def run(args: list[str], timeout: float, tenant: Tenant) -> subprocess.CompletedProcess[str]:
        if args[0] == "state":
            return subprocess.CompletedProcess(args, 0, json.dumps(state), "")
        calls.append(tenant.name)
        return subprocess.CompletedProcess(args, 0, "", output)

    return run


def test_tenants_the_fleet_cannot_tell_apart_fail_alone_and_the_others_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, materialize

    from orchestration.definitions import build_definitions

    settings = FleetSettings(retries=2, retry_delay=0)
    defs = build_definitions(settings)  # main: DagsterInvalidDefinitionError, nothing loads
    assets = list(defs.assets or [])
    calls: list[str] = []
    monkeypatch.setattr(runner, "_run", meltano_by_tenant(calls))
    with DagsterInstance.ephemeral() as instance:
        result = materialize(assets, instance=instance, raise_on_error=False)
        materialised = {e.asset_key.path[1] for e in result.get_asset_materialization_events()}
        failed = {
            e.step_key.split("__", 1)[1].rsplit("__", 1)[0]: e.event_specific_data
            for e in result.get_step_failure_events()
        }
        retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        checks = {
            e.asset_key.path[1]: e
            for e in result.get_asset_check_evaluations()
            if e.check_name == "api_key_and_scopes"
        }
    # acme--eu inherits from acme: a tenant like any other (main: silently not archived).
    assert materialised == {"acme", "acme__eu"}
    assert sorted(calls) == ["acme", "acme--eu"]  # no `meltano run` for the others
    reasons = {
        "a_1": ("tap-chatgpt-compliance--a-1", "tap-chatgpt-compliance--a_1", "rename"),
        "dup": ("tap-chatgpt-compliance--dup", "declared 2 times"),
        "nols1": ("load_schema 'chatgpt_compliance'", "tap-chatgpt-compliance--nols2"),
        "nols2": ("load_schema 'chatgpt_compliance'", "tap-chatgpt-compliance--nols1"),
        "typo": ("does not inherit from tap-chatgpt-compliance", "tap-chatgpt-compliances"),
    }
    assert set(failed) == set(reasons)
    for tenant, words in reasons.items():
        description = failed[tenant].user_failure_data.description
        assert "\n" not in description
        assert description.split(" -> ")[0] in {"a-1", "a_1", "dup", "nols1", "nols2", "typo"}
        for word in words:
            assert word in description, (tenant, description)
        assert not checks[tenant].passed  # no request could be sent: nothing says the key works
        assert checks[tenant].description in description
    assert retried == []  # the same configuration fails the same way: a person must act


def test_a_tenant_s_load_schema_is_the_one_meltano_uses(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its own ``load_schema`` a tenant inherits the base extractor's (Meltano), not its
    name: the fleet reported ``nols1`` while Meltano wrote to ``chatgpt_compliance``."""
    tenants = {t.name: t for t in load_tenants(project)}
    assert tenants["nols1"].load_schema == "chatgpt_compliance"
    assert tenants["acme--eu"].load_schema == "acme_eu"
    assert tenants["acme--eu"].workspace_id == "0b6a5f1e-5c1f-4d0e-9d44-0a1c2e3f4a51"
    monkeypatch.setenv("TAP_CHATGPT_COMPLIANCE__NOLS1__LOAD_SCHEMA", "nols1")
    tenants = {t.name: t for t in load_tenants(project)}
    assert (tenants["nols1"].load_schema, tenants["nols1"].problem) == ("nols1", None)
    assert tenants["nols2"].problem is None  # alone in chatgpt_compliance now


def test_a_tenant_inheriting_from_another_sees_that_tenant_s_variables(project: Path) -> None:
    """Meltano resolves an inherited plugin's settings from its parent's variables too (the
    key, the workspace): a tenant's run sees its own and its ancestors', no other tenant's."""
    tenants = load_tenants(project)
    eu = next(t for t in tenants if t.name == "acme--eu")
    environ = {
        "TAP_CHATGPT_COMPLIANCE__ACME_API_KEY": "acme-key",
        "TAP_CHATGPT_COMPLIANCE__ACME__EU_WORKSPACE_ID": "eu-ws",
        "TAP_CHATGPT_COMPLIANCE__DUP_API_KEY": "dup-key",
    }
    assert tenant_environment(environ, eu, tenants) == {
        "TAP_CHATGPT_COMPLIANCE__ACME_API_KEY": "acme-key",
        "TAP_CHATGPT_COMPLIANCE__ACME__EU_WORKSPACE_ID": "eu-ws",
    }
    acme = next(t for t in tenants if t.name == "acme")
    assert tenant_environment(environ, acme, tenants) == {
        "TAP_CHATGPT_COMPLIANCE__ACME_API_KEY": "acme-key"
    }


def test_alerts_name_a_tenant_whose_name_has_a_double_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """``acme--eu`` is Meltano's way to name a sub-tenant; its step key has one ``__`` more, and
    its step-failure alert said ``"tenant": null``."""
    from dagster import DagsterInstance, materialize

    from orchestration.assets import build_tenant_asset
    from orchestration.sensors import collect_alert_batches

    tenant = Tenant("acme--eu", "tap-chatgpt-compliance--acme--eu", "acme_eu", None)
    line = "workspace_id 'x' is not a UUID"
    output = refused(line).replace("tap-chatgpt-compliance--acme", tenant.extractor)

    def meltano(args: list[str], timeout: float, who: Tenant) -> subprocess.CompletedProcess[str]:
        if args[0] == "state":
            return subprocess.CompletedProcess(args, 0, "{}", "")
        return subprocess.CompletedProcess(args, 1, "", output)

    monkeypatch.setattr(runner, "_run", meltano)
    asset = build_tenant_asset(tenant, "target-s3", FleetSettings(retries=0))
    with DagsterInstance.ephemeral() as instance:
        assert not materialize([asset], instance=instance, raise_on_error=False).success
        alerts = [a for _, batch in collect_alert_batches(instance, None) for a in batch]
    by_kind = {a["kind"]: a for a in alerts}
    assert by_kind["step_failed"]["tenant"] == "acme--eu"
    assert by_kind["check_failed"]["tenant"] == "acme--eu"
    assert line in by_kind["step_failed"]["description"]


def test_a_tenant_name_unsafe_in_a_path_keeps_its_log_in_the_log_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Meltano accepts ``tap-chatgpt-compliance--a/b``; its log file was written to
    ``<FLEET_LOG_DIR>/a/b-…`` (no such folder: the step crashed with a traceback instead of
    reporting the run) and ``../x`` would write outside the folder."""
    output, state = summary_run("bookmark", "2026-12-07T03:00:00+00:00")

    def meltano(args: list[str], timeout: float, who: Tenant) -> subprocess.CompletedProcess[str]:
        if args[0] == "state":
            return subprocess.CompletedProcess(args, 0, json.dumps(state), "")
        return subprocess.CompletedProcess(args, 0, "", output)

    monkeypatch.setattr(runner, "_run", meltano)
    logs = tmp_path / "logs"
    for name in ("a/b", "../x"):
        tenant = Tenant(name, f"tap-chatgpt-compliance--{name}", "ab", None)
        outcome = runner.run_pipeline(tenant, "target-s3", log_dir=logs)
        assert outcome.log_path is not None
        assert outcome.log_path.parent == logs
        assert outcome.log_path.read_text() == outcome.output
    assert sorted(p.parent for p in tmp_path.rglob("*.log")) == [logs, logs]


def test_the_hourly_schedule_skips_while_a_fleet_run_waits_in_the_queue() -> None:
    """With the QueuedRunCoordinator (orchestration/deploy/dagster.yaml) a fleet run may wait in
    the queue past the next tick: a second one was queued, and both then ran every tenant at
    once (two `meltano run`s of each tenant: one refused by Meltano, red, retried)."""
    from dagster import DagsterRunStatus, SkipReason, build_schedule_context, instance_for_test
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.test_utils import create_run_for_test
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from orchestration.definitions import build_definitions
    from orchestration.jobs import ARCHIVE_JOB

    tenants = [Tenant("acme", "tap-chatgpt-compliance--acme", "acme", None)]
    hourly = build_definitions(FleetSettings(), tenants).resolve_schedule_def(
        "archive_fleet_hourly"
    )
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="orchestration"))
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), ARCHIVE_JOB)
    for status in (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED):
        with instance_for_test() as instance:
            create_run_for_test(
                instance, job_name=ARCHIVE_JOB, status=status, remote_job_origin=origin
            )
            skipped = hourly(build_schedule_context(instance=instance))
            assert isinstance(skipped, SkipReason), status
            assert "still" in skipped.skip_message


TARGET = "target-s3   "
NO_BUCKET = (
    "ValueError: the bucket 'archive-acme' does not exist, or is forbidden for access "
    "(NoSuchBucket('An error occurred (NoSuchBucket) when calling the CreateMultipartUpload "
    "operation: The specified bucket does not exist'))"
)


def loader_failed(tap_end: str, meltano_says: str) -> str:
    """A run whose loader died (lines of a real run: ARCHIVE_S3_BUCKET naming no bucket)."""
    return (
        f"{T} [info     ] {TAP} Run summary: 6 log files read, 11 events kept; succeeded.\n"
        f"{T} [info     ] {TAP}   Pacing: 88 API requests, 0 answered 429 (0.00%).\n"
        f"{tap_end}"
        f"{T} [info     ] {TARGET} Traceback (most recent call last):\n"
        f'{T} [info     ] {TARGET}   File "/venv/lib/python3.11/site-packages/joblib/parallel.py"\n'
        f"{T} [info     ] {TARGET}     raise self._result\n"
        f"{T} [info     ] {TARGET} {NO_BUCKET}\n"
        f"{T} [error    ] meltano      {meltano_says}\n"
        f"{T} [error    ] meltano      Block run completed\n"
        f"{T} [info     ] meltano      Run completed\n"
    )


TAP_SUCCEEDED = summary_run("bookmark", "2026-12-07T03:00:00+00:00")[0].splitlines()[0] + "\n"
TAP_BROKEN_PIPE = f"{T} [error    ] {TAP} Stopped: the target stopped reading (broken pipe)\n"


@pytest.mark.parametrize(
    ("tap_end", "meltano_says"),
    [
        (TAP_SUCCEEDED, "Loader failed"),
        (TAP_BROKEN_PIPE, "Extractor and loader failed"),
        (TAP_SUCCEEDED, "\nBrokenPipeError"),  # PostgreSQL down: Meltano itself crashed
    ],
)
def test_a_loader_that_failed_is_the_reason_of_the_failed_run(
    monkeypatch: pytest.MonkeyPatch, tap_end: str, meltano_says: str
) -> None:
    """The bucket of target-s3 missing, or PostgreSQL down (target-postgres stops before reading
    its input and Meltano crashes on a broken pipe): the step failed with the tap's last line,
    ``acme -> target-s3: Pacing: 88 API requests, …``, not the loader's reason."""
    from .test_audit_silent3 import materialize

    output = loader_failed(tap_end, meltano_says)
    monkeypatch.setattr(runner, "_run", canned(output, 1))
    outcome = runner.run_pipeline(ACME, "target-s3")
    assert outcome.message is not None
    assert "\n" not in outcome.message
    assert f"target-s3 failed: {NO_BUCKET}" in outcome.message
    assert "Pacing" not in outcome.message
    result = materialize(monkeypatch, output, 1)
    (failure,) = result.get_step_failure_events()
    description = failure.event_specific_data.user_failure_data.description
    assert description == f"acme -> target-s3: {outcome.message}"


def test_a_secret_that_is_part_of_a_plugin_name_does_not_hide_that_plugin_s_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``TARGET_POSTGRES_PASSWORD=postgres`` (the tests' own, many a compose file's): every
    ``target-postgres`` became ``target-***`` before the lines were read, so PostgreSQL down
    failed the step with the tap's ``Pacing: …`` line. The password is still redacted in what
    the lines say."""
    monkeypatch.setenv("TARGET_POSTGRES_PASSWORD", "postgres")
    pg = "target-postgres"
    down = (
        "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed: "
        'connection to server at "127.0.0.1", port 9 failed: Connection refused'
    )
    output = (
        TAP_SUCCEEDED
        + f"{T} [info     ] {pg} connecting as postgres:postgres@127.0.0.1\n"
        + f"{T} [info     ] {pg} {down}\n"
        + f"{T} [error    ] meltano\nBrokenPipeError\n"
    )
    monkeypatch.setattr(runner, "_run", canned(output, 1))
    outcome = runner.run_pipeline(ACME, pg)
    assert outcome.message == f"{pg} failed: {down}"
    assert f"{pg} connecting as ***:***@127.0.0.1" in outcome.output
