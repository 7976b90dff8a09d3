#!/usr/bin/env python3
"""`make fleet-demo`: every tenant of meltano.yml archived hourly by Dagster, then one key revoked.

1. starts a local S3 server (moto) and the Compliance API simulator with one workspace per tenant;
2. materialises every tenant once through the Dagster code location (orchestration/), in this
   process (steps in subprocesses, no webserver, no daemon), with real `meltano run` pipelines;
3. shows what each tenant archived and its checks (freshness, retention, attachments, key);
4. revokes one tenant's key, runs the fleet again: that tenant's check fails with the tap's
   message, the others pass; the alert sensor posts the failures to a local webhook;
5. stops everything it started.

Needs only the project venv (`scripts/bootstrap.sh`) and the Meltano plugins (`meltano install`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from demo_services import BIN, GREEN, RED, RESET, ROOT, YELLOW, s3_client, start_moto
from demo_services import say as heading

BUCKET = "chatgpt-compliance-fleet"
SIM_KW: dict[str, Any] = {"seed": 21, "users": 3, "conversations": 5, "span_days": 1.0}


def say(msg: str) -> None:
    """Print a step heading after a blank line."""
    heading(msg, gap=True)


def start_receiver(stack: ExitStack) -> tuple[str, list[dict[str, Any]]]:
    """Start a local HTTP receiver standing in for the alert webhook (Slack, PagerDuty, …)."""
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}/alerts", received


def mark(passed: bool, severity: str) -> str:
    """PASS / WARN / FAIL, coloured on a terminal."""
    if passed:
        return f"{GREEN}PASS{RESET}"
    return f"{YELLOW}WARN{RESET}" if severity == "WARN" else f"{RED}FAIL{RESET}"


def show_runs(result: Any, tenants: list[Any]) -> None:
    """One line per tenant: outcome, records, log files, attachments, bookmark, seconds."""
    metas: dict[str, Any] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            metas[event.asset_key.path[1]] = ("ok", event.event_specific_data.materialization)
        elif event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data.user_failure_data
            tenant = event.step_key.split("__")[1]
            metas[tenant] = ("FAILED", data)
    print(
        f"  {'tenant':<9}{'run':<8}{'records':>8}{'log files':>10}  {'attachments':<14}"
        f"{'bookmark (CONVERSATION_MESSAGE)':<34}{'seconds':>8}"
    )
    for t in tenants:
        status, data = metas.get(t.name, ("-", None))
        meta = {k: getattr(v, "value", v) for k, v in (data.metadata if data else {}).items()}
        summary = meta.get("summary") or {}
        att = ", ".join(f"{n} {s}" for s, n in (summary.get("attachments") or {}).items()) or "-"
        print(
            f"  {t.name:<9}{status:<8}{meta.get('records_total', '-')!s:>8}"
            f"{meta.get('log_files', '-')!s:>10}  {att:<14}"
            f"{meta.get('bookmark/CONVERSATION_MESSAGE', '-')!s:<34}{meta.get('seconds', '-')!s:>8}"
        )


def show_checks(evaluations: dict[tuple[str, str], Any], tenants: list[Any]) -> None:
    """Print a check grid, then the description of every check that did not pass."""
    names = ["freshness", "retention_horizon", "attachments_archived", "api_key_and_scopes"]
    print(f"  {'tenant':<9}" + "".join(f"{n:<22}" for n in names))
    for t in tenants:
        cells = []
        for n in names:
            ev = evaluations.get((t.name, n))
            text = mark(ev.passed, ev.severity.value) if ev else "-"
            cells.append(
                text
                + " "
                * (
                    22
                    - len(
                        text.replace(RED, "")
                        .replace(GREEN, "")
                        .replace(YELLOW, "")
                        .replace(RESET, "")
                    )
                )
            )
        print(f"  {t.name:<9}" + "".join(cells))
    for (tenant, name), ev in sorted(evaluations.items()):
        if not ev.passed:
            print(f"  {tenant}/{name}: {ev.description}")


def main() -> int:
    """Run the demo; return the exit code."""
    from dagster import DagsterInstance, build_sensor_context

    from chatgpt_compliance_simulator import Simulator
    from orchestration.definitions import build_definitions
    from orchestration.local import (
        TenantCredentials,
        check_results,
        local_env,
        prepare_meltano_database,
        run_fleet,
        run_freshness,
    )
    from orchestration.project import load_tenants

    tenants = load_tenants()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="fleet-demo-") as tmp:
        work = Path(tmp)
        say(f"Tenants read from meltano.yml: {', '.join(t.name for t in tenants)}")
        s3 = start_moto(stack, work, "fleet-demo")
        sim = stack.enter_context(Simulator(tenants=len(tenants), **SIM_KW))
        print(f"  simulator {sim.base_url} with {len(tenants)} workspaces; local S3 {s3}")
        s3_client(s3, BUCKET)
        creds = [
            TenantCredentials(t, s.api_key, s.workspace_id)
            for t, s in zip(tenants, sim.tenants, strict=True)
        ]
        hook, received = start_receiver(stack)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "FLEET_MAX_CONCURRENT": os.environ.get("FLEET_MAX_CONCURRENT", "3"),
                "FLEET_RETRIES": "1",
                "FLEET_RETRY_DELAY": "1",
                "FLEET_ALERT_WEBHOOK": hook,
                "DAGSTER_DISABLE_TELEMETRY": "1",
            }
        )
        os.environ.update(local_env(sim.base_url, creds, s3, BUCKET, work))
        say("meltano install tap-chatgpt-compliance target-s3")
        log = work / "meltano-install.log"
        with log.open("wb") as fh:
            rc = subprocess.run(
                [str(BIN / "meltano"), "install", "tap-chatgpt-compliance", "target-s3"],
                cwd=ROOT,
                stdout=fh,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        if rc:
            print(log.read_text()[-5000:])
            return rc
        prepare_meltano_database()
        (work / "dagster").mkdir()
        instance = stack.enter_context(DagsterInstance.local_temp(str(work / "dagster")))

        say(
            f"Dagster: archive_fleet (hourly job), {len(tenants)} tenants, at most "
            f"{os.environ['FLEET_MAX_CONCURRENT']} at a time"
        )
        t0 = time.monotonic()
        first = run_fleet(instance, log_level="CRITICAL")
        fleet_seconds = time.monotonic() - t0
        show_runs(first, tenants)
        print(f"  {len(tenants)} tenants in {fleet_seconds:.0f} s (Dagster start-up included)")
        fresh = run_freshness(instance, log_level="CRITICAL")
        say("Checks after the first run")
        show_checks({**check_results(first), **check_results(fresh)}, tenants)

        victim = tenants[1] if len(tenants) > 1 else tenants[0]
        say(f"Revoking {victim.name}'s API key, then the next hourly run")
        sim.revoke_key(creds[tenants.index(victim)].api_key)
        t0 = time.monotonic()
        second = run_fleet(instance, log_level="CRITICAL")
        show_runs(second, tenants)
        print(f"  {len(tenants)} tenants in {time.monotonic() - t0:.0f} s")
        fresh = run_freshness(instance, log_level="CRITICAL")
        say("Checks after the second run")
        evaluations = {**check_results(second), **check_results(fresh)}
        show_checks(evaluations, tenants)

        say("Alert sensor: failures posted to the webhook (a local HTTP receiver here)")
        sensor = build_definitions().resolve_sensor_def("fleet_alerts")
        sensor(build_sensor_context(instance=instance))
        for alert in received:
            what = alert.get("check") or alert.get("step") or "run"
            print(
                f"  {alert['kind']:<13} {alert.get('tenant') or '':<9}{what}: "
                f"{str(alert.get('description'))[:110]}"
            )

        logs = "".join(p.read_text() for p in (work / "logs").glob("*.log"))
        leaked = sum(logs.count(c.api_key) for c in creds)
        print(
            f"  meltano logs kept in FLEET_LOG_DIR: {len(logs.splitlines())} lines, "
            f"API keys in them: {leaked}"
        )
        others = [t for t in tenants if t is not victim]
        ok = (
            first.success
            and not evaluations[(victim.name, "api_key_and_scopes")].passed
            and all(evaluations[(t.name, "api_key_and_scopes")].passed for t in others)
            and any(a.get("check") == "api_key_and_scopes" for a in received)
            and leaked == 0
        )
        say(
            "Done: "
            + (
                "every tenant archived; the revoked key failed only its own tenant"
                if ok
                else "UNEXPECTED RESULT (see above)"
            )
        )
        return 0 if ok else 1


if __name__ == "__main__":  # the step subprocesses re-import this file: run only once
    sys.exit(main())
