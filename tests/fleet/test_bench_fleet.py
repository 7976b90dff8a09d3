"""Issue #20 item 3: `make bench-fleet` runs (so it cannot rot), and a fleet step runs each
`meltano` command as a fork of its preloaded step with the same result as a new process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from orchestration.project import Tenant, tenant_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.bench
def test_the_fleet_benchmark_runs_and_prints_its_table():
    """The smallest fleet, every pass: the table's header and its rows (no speed asserted); the
    hourly pass archives the messages that arrived since the idle one."""
    bench = str(REPO_ROOT / "benchmarks" / "fleet.py")
    proc = subprocess.run(
        [sys.executable, bench, "--tenants", "1", "--passes", "3"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, (out + proc.stderr)[-3000:]
    assert "tenants/h" in out
    assert "CPU s/tenant" in out
    assert "peak PSS/step MB" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["1"]]
    assert [row[1] for row in rows] == ["light", "idle", "hourly"]
    for row in rows:
        assert float(row[2]) > 0  # wall
        assert float(row[4]) > 0  # CPU per tenant: the steps' processes were counted
        assert float(row[8]) > 0  # a step's peak RSS was sampled
    new = re.search(
        r"1 of 1 tenants had new messages, (\d+) in all; (\d+) archived by the pass; "
        r"tenants with fewer archived than new: (\d+)",
        out,
    )
    assert new, out
    assert int(new.group(1)) > 0
    # Every new message archived (a redelivered older event may be archived again: at least once).
    assert int(new.group(2)) >= int(new.group(1))
    assert new.group(3) == "0"


def test_the_bench_finds_each_step_process_of_a_forkserver_and_of_spawn():
    from benchmarks.fleet import fit, step_root

    server = "python -c from multiprocessing.forkserver import main"
    names = {1: "python bench --pass-child", 2: server, 3: server, 4: "meltano", 5: "tap"}
    parent = {2: 1, 3: 2, 4: 3, 5: 4}
    assert step_root(5, parent, names) == 3  # tap -> meltano -> step (a fork of the server)
    assert step_root(2, parent, names) is None  # the server itself is no step
    assert step_root(1, parent, names) is None
    spawn = {1: "bench", 2: "python -c from multiprocessing.spawn import spawn_main", 3: "x"}
    assert step_root(3, {2: 1, 3: 2}, spawn) == 2
    rows = [{"tenants": 10, "cpu": 25.0}, {"tenants": 20, "cpu": 45.0}]
    assert fit(rows, "cpu") == pytest.approx((5.0, 2.0))
    assert fit(rows[:1], "cpu") is None


def test_the_hourly_pass_counts_a_tenant_short_of_its_new_messages():
    from benchmarks.fleet import new_messages_archived

    new = {"a": 3, "b": 0, "c": 2, "d": 1}
    archived = {"a": 3, "c": 5, "b": 1}  # c: a redelivery archived again; d: nothing archived
    assert new_messages_archived(new, archived) == {
        "tenants_with_new": 3,
        "new_messages": 6,
        "tenants_short": 1,
    }
    assert new_messages_archived(new, {"a": 2, "c": 2, "d": 1})["tenants_short"] == 1


def test_the_bench_project_installs_the_tap_from_a_wheel_not_editable(tmp_path, monkeypatch):
    """As a deployment: a wheel (Meltano caches the catalog), unless ``--editable``."""
    import shlex

    import yaml

    from benchmarks import fleet

    repo = tmp_path / "repo"
    (repo / ".meltano" / "loaders").mkdir(parents=True)
    (repo / ".meltano" / "extractors").mkdir()
    (repo / "meltano.yml").write_text((REPO_ROOT / "meltano.yml").read_text())
    monkeypatch.setattr(fleet, "ROOT", repo)
    installed: list[Path] = []
    monkeypatch.setattr(fleet, "install_extractor", installed.append)
    wheel = tmp_path / "w" / "tap_chatgpt_compliance-0.1.0-py3-none-any.whl"

    project = fleet.tenant_project(tmp_path / "wheel", 2, wheel)
    data = yaml.safe_load((project / "meltano.yml").read_text())
    base = [p for p in data["plugins"]["extractors"] if p["name"] == "tap-chatgpt-compliance"]
    args = shlex.split(base[0]["pip_url"])  # as Meltano splits it
    assert args == [f"tap-chatgpt-compliance[s3] @ {wheel.as_uri()}"]
    assert not base[0]["pip_url"].startswith("-e")
    assert installed == [project]
    assert (project / ".meltano" / "loaders").is_symlink()
    assert not (project / ".meltano" / "extractors").exists()  # installed, not linked
    tenants = [p for p in data["plugins"]["extractors"] if "inherit_from" in p]
    assert [p["name"] for p in tenants] == [f"tap-chatgpt-compliance--t00{i}" for i in (0, 1)]

    installed.clear()
    old = fleet.tenant_project(tmp_path / "editable", 2, None)
    data = yaml.safe_load((old / "meltano.yml").read_text())
    assert data["plugins"]["extractors"][0]["pip_url"] == "-e .[s3,aws,postgres]"
    assert (old / ".meltano" / "extractors").is_symlink()
    assert not installed


@pytest.fixture
def meltano_preloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """This process as a forkserver-preloaded step: the Meltano CLI imported, a bare project."""
    from orchestration import preload

    assert preload.MELTANO_PRELOADED
    (tmp_path / "meltano.yml").write_text(
        "project_id: 00000000-0000-0000-0000-000000000001\nsend_anonymous_usage_stats: false\n"
        "default_environment: dev\nenvironments:\n- name: dev\n"
    )
    for k in [k for k in os.environ if k.startswith(("MELTANO_", "FLEET_"))]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    monkeypatch.setenv("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")
    return tmp_path


TENANT = Tenant("acme", "tap-chatgpt-compliance--acme", "acme", None)


@pytest.mark.slow
def test_a_forked_meltano_answers_as_a_new_meltano_process(meltano_preloaded, monkeypatch):
    from orchestration import runner

    args = ["state", "get", "dev:tap-x-to-target-y"]
    assert runner._forkable()
    forked = runner._run(args, 120, TENANT)
    monkeypatch.setenv("FLEET_MELTANO_FORK", "0")
    assert not runner._forkable()
    spawned = runner._run(args, 120, TENANT)
    assert forked.returncode == spawned.returncode
    assert forked.stdout == spawned.stdout
    # Meltano's own stderr lines (timestamps aside) match too.
    strip = [line.split(" ", 1)[-1] for line in forked.stderr.splitlines()]
    assert strip == [line.split(" ", 1)[-1] for line in spawned.stderr.splitlines()]
    bad = runner._run(["state", "get"], 120, TENANT)  # a usage error: exit 2 both ways
    monkeypatch.delenv("FLEET_MELTANO_FORK")
    assert runner._run(["state", "get"], 120, TENANT).returncode == bad.returncode == 2


@pytest.mark.slow
def test_a_forked_meltano_that_times_out_is_stopped_with_what_it_started(meltano_preloaded):
    from orchestration import runner

    (meltano_preloaded / "meltano.yml").write_text(
        (meltano_preloaded / "meltano.yml").read_text()
        + "plugins:\n  utilities:\n  - name: sleeper\n    namespace: sleeper\n"
        "    executable: sleep\n"
    )
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        runner._run(["invoke", "sleeper", "60"], 3, TENANT)
    assert time.monotonic() - started < 30
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _tenant(name: str) -> Tenant:
    return Tenant(name, f"tap-chatgpt-compliance--{name}", name, None)


def test_a_tenant_environment_holds_its_own_variables_and_no_other_tenants():
    tenants = [_tenant("acme"), _tenant("acme-eu"), _tenant("initech")]
    environ = {
        "TAP_CHATGPT_COMPLIANCE__ACME_API_KEY": "sk-acme",
        "TAP_CHATGPT_COMPLIANCE__ACME__SELECT": '["messages.*"]',
        "TAP_CHATGPT_COMPLIANCE__ACME_EU_API_KEY": "sk-acme-eu",  # a longer name: not acme's
        "TAP_CHATGPT_COMPLIANCE__INITECH_WORKSPACE_ID": "ws-initech",
        "TAP_CHATGPT_COMPLIANCE__SELECT": "base extractor's extra",  # no tenant's: kept
        "TAP_CHATGPT_COMPLIANCE_API_URL": "http://127.0.0.1:1/v1",
        "TAP_CHATGPT_COMPLIANCE__GONE_API_KEY": "a tenant no longer listed: kept",
        "AWS_REGION": "us-east-1",
    }
    acme = tenant_environment(environ, tenants[0], tenants)
    assert acme == {k: v for k, v in environ.items() if "EU" not in k and "INITECH" not in k}
    eu = tenant_environment(environ, tenants[1], tenants)
    assert "TAP_CHATGPT_COMPLIANCE__ACME_EU_API_KEY" in eu
    acme_own = {"TAP_CHATGPT_COMPLIANCE__ACME_API_KEY", "TAP_CHATGPT_COMPLIANCE__ACME__SELECT"}
    assert not acme_own & eu.keys()
    # A tenant missing from the list (a test's, or one added since) still gets its own.
    alone = tenant_environment(environ, _tenant("initech"), [])
    assert alone["TAP_CHATGPT_COMPLIANCE__INITECH_WORKSPACE_ID"] == "ws-initech"


@pytest.mark.slow
@pytest.mark.parametrize("fork", ["1", "0"])
def test_a_tenant_meltano_command_sees_no_other_tenant_key(meltano_preloaded, monkeypatch, fork):
    """Forked or spawned, what Meltano hands a plugin holds the tenant's key and not the others'."""
    from orchestration import runner

    (meltano_preloaded / "meltano.yml").write_text(
        (meltano_preloaded / "meltano.yml").read_text()
        + "plugins:\n  extractors:\n  - name: tap-chatgpt-compliance\n"
        "    namespace: tap_chatgpt_compliance\n"
        "  - name: tap-chatgpt-compliance--acme\n    inherit_from: tap-chatgpt-compliance\n"
        "  - name: tap-chatgpt-compliance--acme-eu\n    inherit_from: tap-chatgpt-compliance\n"
        "  utilities:\n  - name: envdump\n    namespace: envdump\n    executable: env\n"
    )
    monkeypatch.setenv("TAP_CHATGPT_COMPLIANCE__ACME_API_KEY", "sk-acme-own")
    monkeypatch.setenv("TAP_CHATGPT_COMPLIANCE__ACME_EU_API_KEY", "sk-acme-eu-other")
    monkeypatch.setenv("FLEET_MELTANO_FORK", fork)
    assert runner._forkable() is (fork == "1")
    proc = runner._run(["invoke", "envdump"], 120, TENANT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TAP_CHATGPT_COMPLIANCE__ACME_API_KEY=sk-acme-own" in proc.stdout
    assert "sk-acme-eu-other" not in proc.stdout + proc.stderr
    assert os.environ["TAP_CHATGPT_COMPLIANCE__ACME_EU_API_KEY"] == "sk-acme-eu-other"  # step's own
