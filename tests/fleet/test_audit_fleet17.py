"""A bad day for the fleet, round 6: a copy-pasted workspace, a rotated key, an overlapping run.

``meltano`` is replaced by canned answers of ``runner._run`` (tests/fleet/test_audit_silent3.py)
where the test is about what the fleet makes of Meltano's output; the Dagster path (definitions,
assets, checks) is the production one, in process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration import runner
from orchestration.project import load_tenants
from orchestration.settings import FleetSettings

from .test_audit_config import meltano_by_tenant, write_project
from .test_audit_silent3 import TENANT as ACME
from .test_audit_silent3 import T, canned

ACME_WS = "0b6a5f1e-5c1f-4d0e-9d44-0a1c2e3f4a51"
GLOBEX_WS = "6d2e8c7a-93b1-4f6e-8a20-7c4d5e6f7a82"
SHARED = "annotations: {chatgpt_compliance_fleet: {shares_workspace: true}}"


def tenants_yml(globex_ws: str = ACME_WS, annotate: tuple[str, ...] = ()) -> str:
    """acme, globex (``globex_ws``: acme's, a copy-paste) and initech; ``annotate`` the
    tenants that say they share their workspace on purpose."""
    rows = [("acme", ACME_WS), ("globex", globex_ws), ("initech", GLOBEX_WS.replace("6d", "3f"))]
    return "".join(
        f"  - name: tap-chatgpt-compliance--{name}\n"
        "    inherit_from: tap-chatgpt-compliance\n"
        f"    load_schema: {name}\n"
        f"    config: {{workspace_id: {ws}}}\n" + (f"    {SHARED}\n" if name in annotate else "")
        for name, ws in rows
    )


def run_fleet(project: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], dict[str, str]]:
    """Materialise every tenant of ``project`` on a canned ``meltano``: (materialised tenants,
    {failed tenant: its failure's description})."""
    from dagster import DagsterInstance, materialize

    from orchestration.definitions import build_definitions

    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(project))
    defs = build_definitions(FleetSettings(retries=2, retry_delay=0))
    calls: list[str] = []
    monkeypatch.setattr(runner, "_run", meltano_by_tenant(calls))
    with DagsterInstance.ephemeral() as instance:
        result = materialize(list(defs.assets or []), instance=instance, raise_on_error=False)
        done = {e.asset_key.path[1] for e in result.get_asset_materialization_events()}
        failed = {
            e.step_key.split("__", 1)[1].rsplit("__", 1)[0]: str(
                e.event_specific_data.user_failure_data.description
            )
            for e in result.get_step_failure_events()
        }
        retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == []  # the same project file fails the same way: a person must act
    assert sorted(calls) == sorted(done)  # no `meltano run` for a tenant that failed
    return done, failed


def test_two_tenants_with_one_workspace_fail_and_the_others_run(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """globex copied acme's workspace_id: globex's real workspace was never archived, and every
    run was green. Now both fail with one line naming both and the fix; initech runs."""
    project = write_project(tmp_path, tenants_yml())
    done, failed = run_fleet(project, clean_env)
    assert done == {"initech"}
    assert set(failed) == {"acme", "globex"}
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        line = failed[tenant]
        assert "\n" not in line
        assert f"tap-chatgpt-compliance--{tenant} archives workspace_id {ACME_WS}" in line
        assert f"like tap-chatgpt-compliance--{other}" in line
        assert "Set each tenant's own workspace_id" in line


def test_a_workspace_copied_through_a_variable_is_caught_too(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """The variable Meltano reads first (``…__GLOBEX_WORKSPACE_ID``) names acme's workspace,
    whatever ``meltano.yml`` says; the fix in the variable runs both."""
    project = write_project(tmp_path, tenants_yml(GLOBEX_WS))
    clean_env.setenv("TAP_CHATGPT_COMPLIANCE__GLOBEX_WORKSPACE_ID", ACME_WS.upper())
    assert {t.name for t in load_tenants(project) if t.problem} == {"acme", "globex"}
    clean_env.setenv("TAP_CHATGPT_COMPLIANCE__GLOBEX_WORKSPACE_ID", GLOBEX_WS)
    assert [t.problem for t in load_tenants(project)] == [None, None, None]


def test_a_sub_tenant_that_inherits_its_parent_s_workspace_is_a_copy(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """``acme--eu`` inherits from acme and forgot its own workspace_id: it archives acme's."""
    eu = (
        "  - name: tap-chatgpt-compliance--acme--eu\n"
        "    inherit_from: tap-chatgpt-compliance--acme\n"
        "    load_schema: acme_eu\n"
    )
    project = write_project(tmp_path, tenants_yml(GLOBEX_WS) + eu)
    problems = {t.name: t.problem for t in load_tenants(project)}
    assert problems["acme--eu"] is not None
    assert "like tap-chatgpt-compliance--acme:" in problems["acme--eu"]
    clean_env.setenv("TAP_CHATGPT_COMPLIANCE__ACME__EU_WORKSPACE_ID", GLOBEX_WS.replace("6d", "9e"))
    assert all(t.problem is None for t in load_tenants(project))


def test_one_workspace_archived_twice_on_purpose_runs_when_both_say_so(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """Two tenants of one workspace, each with its own load_schema (their records never mix):
    run when every one of them is annotated; one annotation alone is still a copy."""
    one = write_project(tmp_path, tenants_yml(annotate=("globex",)))
    assert {t.name for t in load_tenants(one) if t.problem} == {"acme", "globex"}
    both = write_project(tmp_path, tenants_yml(annotate=("acme", "globex")))
    done, failed = run_fleet(both, clean_env)
    assert (done, failed) == ({"acme", "globex", "initech"}, {})


@pytest.mark.parametrize(
    "line",
    [
        # Meltano's third column is the first word of its own message, not always a plugin's
        # name: a URL with a password, or the key itself, there was kept as it was.
        f"{T} [error    ] postgresql://meltano:pw-5e3b9a7c@db/meltano: refused\n",
        f"{T} [error    ] sk-live-5e3b9a7c0d1f is not a valid key\n",
    ],
)
def test_a_secret_in_meltano_s_first_column_is_redacted(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP_CHATGPT_COMPLIANCE__ACME_API_KEY", "sk-live-5e3b9a7c0d1f")
    monkeypatch.setattr(runner, "_run", canned(line, 1))
    outcome = runner.run_pipeline(ACME, "target-s3")
    assert "5e3b9a7c" not in outcome.output + str(outcome.message)
    assert outcome.output.startswith(f"{T} [error    ] ")


def test_a_plugin_s_column_stays_whole_when_a_secret_is_part_of_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``TARGET_POSTGRES_PASSWORD=postgres``: ``target-postgres`` names whose line it is (and is
    public in meltano.yml), so a secret equal to or part of a plugin's name stays visible in
    that column only; what the line says is redacted."""
    monkeypatch.setenv("TARGET_POSTGRES_PASSWORD", "postgres")
    line = f"{T} [info     ] target-postgres connecting as postgres\n"
    monkeypatch.setattr(runner, "_run", canned(line, 1))
    outcome = runner.run_pipeline(ACME, "target-postgres")
    assert outcome.output == f"{T} [info     ] target-postgres connecting as ***\n"
