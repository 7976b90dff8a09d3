"""What becomes of a tenant's forked ``meltano run`` when its step is interrupted or killed.

Dagster terminates a run by interrupting its steps (an exception raised in the step's code):
the step stops its Meltano, the tap and the target (the user asked the run to stop). A step
that dies outright (SIGKILL, the out-of-memory killer) cannot: its ``meltano run``, in its own
process group, goes on to its end and persists its state, and Meltano refuses the step's retry
while it runs (docs/fleet.md; tests/fleet/test_audit_silent3.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from orchestration.project import Tenant

TENANT = Tenant("acme", "tap-chatgpt-compliance--acme", "acme", None)


@pytest.fixture
def slow_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bare Meltano project whose extractor never ends and whose loader reads to the end."""
    tap = tmp_path / "slowtap.sh"
    tap.write_text(
        "#!/bin/sh\n"
        'echo \'{"type":"SCHEMA","stream":"s","schema":{"properties":{}},"key_properties":[]}\'\n'
        "exec sleep 120\n"
    )
    sink = tmp_path / "sink.sh"
    sink.write_text("#!/bin/sh\nexec cat >/dev/null\n")
    for script in (tap, sink):
        script.chmod(0o755)
    (tmp_path / "meltano.yml").write_text(
        textwrap.dedent(
            f"""\
            project_id: 00000000-0000-0000-0000-000000000002
            send_anonymous_usage_stats: false
            default_environment: dev
            environments:
            - name: dev
            plugins:
              extractors:
              - name: tap-chatgpt-compliance
                namespace: tap_chatgpt_compliance
                executable: {tap}
              - name: tap-chatgpt-compliance--acme
                inherit_from: tap-chatgpt-compliance
              loaders:
              - name: sink
                namespace: sink
                executable: {sink}
            """
        )
    )
    for k in [k for k in os.environ if k.startswith(("MELTANO_", "FLEET_"))]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    monkeypatch.setenv("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")
    return tmp_path


def _plugins_of(root: psutil.Process, project: Path) -> list[psutil.Process]:
    """The extractor's and loader's processes started under ``root`` (by their scripts)."""
    found = []
    for proc in root.children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "sleep 120" in cmd or Path(cmd.split(" ")[0]).name == "cat":
            found.append(proc)
    return found


def _wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _gone(procs: list[psutil.Process]) -> bool:
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


STEP = textwrap.dedent(
    """\
    import sys
    from orchestration import preload  # this process is a forkserver-preloaded step
    from orchestration import runner
    from orchestration.project import Tenant

    assert preload.MELTANO_PRELOADED and runner._forkable()
    print("step running", flush=True)
    tenant = Tenant("acme", "tap-chatgpt-compliance--acme", "acme", None)
    runner._run(["run", tenant.extractor, "sink"], 600, tenant)
    """
)


@pytest.mark.slow
def test_a_killed_steps_meltano_run_goes_on(slow_project: Path) -> None:
    step = subprocess.Popen(
        [sys.executable, "-c", STEP], cwd=Path(__file__).resolve().parents[2], env=os.environ
    )
    try:
        me = psutil.Process(step.pid)
        plugins = _wait_for(
            lambda: (lambda p: p if len(p) >= 2 else None)(_plugins_of(me, slow_project)),
            90,
            "the extractor and the loader to start",
        )
        forked = [p for p in me.children() if p.pid not in {q.pid for q in plugins}]
        assert forked
        os.kill(step.pid, signal.SIGKILL)
        step.wait(10)
        time.sleep(2)
        assert not _gone(plugins + forked)  # the archive goes on; no half-written run
    finally:
        if step.poll() is None:
            step.kill()
        for proc in psutil.process_iter():
            try:
                if str(slow_project) in " ".join(proc.cmdline()):
                    proc.kill()
            except psutil.Error:
                pass


@pytest.mark.slow
def test_an_interrupted_step_stops_its_meltano_run(slow_project: Path) -> None:
    from orchestration import preload, runner

    assert preload.MELTANO_PRELOADED
    assert runner._forkable()
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # what Dagster raises in a step it terminates (a subclass)

    fired: list[bool] = []

    def once_plugins_run(*_: object) -> None:
        if not fired and len(_plugins_of(me, slow_project)) >= 2:
            fired.append(True)
            interrupt()

    previous = signal.signal(signal.SIGALRM, once_plugins_run)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5, 0.5)  # check every half second
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            runner._run(["run", TENANT.extractor, "sink"], 600, TENANT)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 90
    left = [p for p in me.children(recursive=True) if p.pid not in before]
    assert _gone(left), [(p.pid, p.cmdline()) for p in left if p.is_running()]


@pytest.mark.slow
def test_a_run_overlapping_a_manual_run_of_its_tenant_says_so_and_leaves_its_state(
    slow_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person runs ``meltano run`` for one tenant by hand while the hourly run reaches it:
    Meltano refuses the step's run. The step failed with Meltano's line advising ``--force``
    (two runs of one tenant racing on its state); it now says what happened in one line, and
    the state the manual run holds is untouched."""
    from orchestration import checks, runner

    monkeypatch.setenv("MELTANO_ENVIRONMENT", "dev")
    meltano = [runner.meltano_executable()]
    state = '{"singer_state": {"bookmarks": {"log_files": {"partitions": []}}}}'
    sid = "dev:tap-chatgpt-compliance--acme-to-sink"
    subprocess.run(
        [*meltano, "state", "set", "--force", sid, state],
        cwd=slow_project,
        check=True,
        capture_output=True,
        timeout=120,
    )
    manual = subprocess.Popen(
        [*meltano, "run", TENANT.extractor, "sink"],
        cwd=slow_project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        me = psutil.Process(manual.pid)
        _wait_for(lambda: len(_plugins_of(me, slow_project)) >= 2, 90, "the manual run")
        outcome = runner.run_pipeline(TENANT, "sink", timeout=120)
    finally:
        os.killpg(manual.pid, signal.SIGKILL)
        manual.wait(10)
    assert outcome.exit_code != 0
    message = str(outcome.message)
    assert "\n" not in message
    assert message.startswith(f"another run of {TENANT.extractor} sink is in progress")
    assert "--force" not in message
    assert "the next run resumes from its state" in message
    assert not outcome.refused  # not the tap's configuration: worth a retry
    assert checks.credentials(outcome).passed  # nothing said against the key
    held, error = runner.read_state(TENANT, "sink")
    assert error is None
    assert held == json.loads(state)
