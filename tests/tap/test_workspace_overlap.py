"""The workspace-object refreshes overlap (issue 21, streams/overlap.py, run/prefetch.py).

Producers read the top-level streams' rows ahead, each into a spool; the main thread drains
them when the SDK reaches the stream. Only the timing may change: the same rows in the same
order, the same state, the same failures, no request for a stream not due or not selected.
No timed assertion here: the speed is measured by ``benchmarks/run.py --only P5``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tap_chatgpt_compliance.run.prefetch import Prefetch, Spool, Stopped
from tap_chatgpt_compliance.streams.gen1 import shared_listing
from tap_chatgpt_compliance.streams.overlap import PREFETCH_VARIABLE
from tests.support.singer import parse_singer
from tests.support.tap import synced_env, tap_command, tap_config
from tests.support.waiting import wait_until
from tests.tap.test_workspace_objects import ALL, WS, make_sim, run_objects, selecting

CANVAS = f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}"

OFF = {PREFETCH_VARIABLE: "off"}


def _without_times(state: dict[str, Any]) -> dict[str, Any]:
    """The bookmarks without the refresh times (and the overlap keys that follow from them)."""
    return {
        name: {k: v for k, v in value.items() if k not in {"refreshed_at", "boundary"}}
        for name, value in state.get("bookmarks", {}).items()
    }


def _stable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without the time a file was archived (the clock, not the API)."""
    return [{k: v for k, v in record.items() if k != "archived_at"} for record in records]


# Spools and producers, in-process.


def test_spool_hands_over_every_row_in_order_then_the_error() -> None:
    spool = Spool()
    rows = [{"n": n, "text": "x" * (n * 1000), "tuple": (n, None)} for n in range(50)]
    error = RuntimeError("boom")

    def produce() -> None:
        for row in rows:
            spool.put(row)
        spool.finish(error)

    thread = threading.Thread(target=produce)
    thread.start()
    got = []
    with pytest.raises(RuntimeError) as raised:
        got.extend(spool.drain())
    thread.join()
    assert raised.value is error
    assert got == rows


def test_prefetch_keeps_each_jobs_rows_apart_and_in_order() -> None:
    prefetch = Prefetch(producers=2)
    for name in ("a", "b", "c"):
        prefetch.add(name, lambda name=name: ({"job": name, "n": n} for n in range(200)))
    prefetch.start()
    try:
        for name in ("a", "b", "c"):
            assert prefetch.has(name)
            assert list(prefetch.rows(name)) == [{"job": name, "n": n} for n in range(200)]
            assert not prefetch.has(name)
    finally:
        prefetch.close()


def test_close_stops_a_producer_and_an_abandoned_job_stops_too() -> None:
    """A producer stops at its next check once the run ends, or once its rows are abandoned."""
    prefetch = Prefetch(producers=2)
    checks = {"endless": 0, "abandoned": 0}
    stopped = {"endless": threading.Event(), "abandoned": threading.Event()}

    def endless(name: str) -> Any:
        try:
            while True:
                prefetch.check()  # as Gen1Stream.fetch does before each request
                checks[name] += 1
                yield {"n": checks[name]}
                time.sleep(0.001)
        finally:
            stopped[name].set()

    prefetch.add("endless", lambda: endless("endless"))
    prefetch.add("abandoned", lambda: endless("abandoned"))
    prefetch.start()
    rows = prefetch.rows("abandoned")
    assert next(iter(rows)) == {"n": 1}
    rows.close()  # the main thread stops reading (a dry run's record limit)
    assert stopped["abandoned"].wait(30)
    prefetch.close()
    assert stopped["endless"].wait(30)


def test_a_stopped_producer_ends_in_its_own_thread() -> None:
    prefetch = Prefetch(producers=1)
    seen: list[BaseException] = []

    def job() -> Any:
        try:
            while True:
                prefetch.check()
                time.sleep(0.001)
                yield {}
        except BaseException as exc:
            seen.append(exc)
            raise

    prefetch.add("job", job)
    prefetch.start()
    time.sleep(0.05)
    prefetch.close(wait=30)
    assert seen  # stopped at a check (Stopped) or between rows (the generator closed)
    assert isinstance(seen[0], (Stopped, GeneratorExit))


def test_a_shared_listing_is_read_once_whatever_the_threads() -> None:
    class Tap:  # run_cache keys by the tap instance (weakly)
        pass

    tap = Tap()
    calls: list[int] = []
    gate = threading.Barrier(6)

    def listing() -> list[int]:
        calls.append(1)
        time.sleep(0.05)
        return [1, 2, 3]

    results: list[list[int]] = []

    def ask() -> None:
        gate.wait()
        results.append(shared_listing(tap, "users", listing))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]
    assert results == [[1, 2, 3]] * 6


def test_a_failed_shared_listing_is_listed_again_by_the_next_asker() -> None:
    class Tap:
        pass

    tap = Tap()

    def broken() -> list[int]:
        raise RuntimeError("403")

    with pytest.raises(RuntimeError):
        shared_listing(tap, "gpts", broken)
    assert shared_listing(tap, "gpts", lambda: [7]) == [7]


# The tap against the simulator.


def test_rows_order_and_state_identical_with_and_without_the_overlap(
    simulator_factory: Any,
) -> None:
    """Every stream's records, in order, and the state are those of one-by-one refreshes."""
    sim = make_sim(simulator_factory, rate_limits=False, config_versions_per_day=0.0)
    sim.reset_counters()
    one_by_one = run_objects(sim, env=OFF, directory_refresh_hours=0)
    assert one_by_one.returncode == 0, one_by_one.stderr[-3000:]
    requests_one_by_one = sim.request_count()
    sim.reset_counters()
    overlapped = run_objects(sim, directory_refresh_hours=0)
    assert overlapped.returncode == 0, overlapped.stderr[-3000:]
    assert sim.request_count() == requests_one_by_one  # shared listings read once still
    assert set(overlapped.records) == set(one_by_one.records)
    for stream, records in one_by_one.records.items():
        assert _stable(overlapped.records[stream]) == _stable(records), stream
    assert _without_times(overlapped.state) == _without_times(one_by_one.state)
    # The next (incremental) run from either state is the same too.
    again_off = run_objects(sim, state=one_by_one.state, env=OFF, directory_refresh_hours=0)
    again_on = run_objects(sim, state=overlapped.state, directory_refresh_hours=0)
    assert set(again_on.records) == set(again_off.records)
    for stream, records in again_off.records.items():
        assert _stable(again_on.records[stream]) == _stable(records), stream


def test_a_producers_error_skips_only_its_stream(simulator_factory: Any) -> None:
    """A broken page read by a producer fails its stream where its rows are drained, as before."""
    sim = make_sim(simulator_factory, rate_limits=False)
    sim.inject(f"{WS}/users/{{user_id}}/automations", shape="null_data")
    sim.inject(f"{WS}/gpts/{{gpt_id}}/shared_users", status=403, count=1000)
    selected = {"automations", "gpt_shared_users", "canvases", "recordings", "gpt_configs"}
    run = run_objects(sim, selected, directory_refresh_hours=0)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "automations" in last
    assert "gpt_shared_users" in last
    bookmarks = run.state["bookmarks"]
    for skipped in ("automations", "gpt_shared_users"):
        assert run.records[skipped] == [], skipped
        assert "refreshed_at" not in (bookmarks.get(skipped) or {}), skipped
    for kept in ("canvases", "recordings", "gpt_configs"):
        assert run.records[kept], kept
        assert "refreshed_at" in bookmarks[kept], kept


def test_a_fatal_error_in_a_producer_ends_the_run_in_one_line(simulator_factory: Any) -> None:
    """An error that is not a stream's own (401) ends the run as before: one line, exit 1."""
    sim = make_sim(simulator_factory, rate_limits=False)
    sim.inject(f"{WS}/codex_tasks", status=401, count=1000)
    run = run_objects(sim, ALL, directory_refresh_hours=0, timeout=120)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "401" in last or "codex_tasks" in last, last
    assert "Traceback" not in run.stderr
    assert "refreshed_at" not in (run.state["bookmarks"].get("codex_tasks") or {})
    # The streams before it were written whole, their state after their last record.
    assert run.records["canvases"]
    assert "refreshed_at" in run.state["bookmarks"]["canvases"]


def test_no_request_for_a_stream_not_due_or_not_selected(simulator_factory: Any) -> None:
    """Producers start only for due, selected streams: the other routes see no request."""
    from chatgpt_compliance_simulator.routes import GET_ROUTES

    sim = make_sim(simulator_factory, rate_limits=False)
    selected = {"automations", "codex_tasks", "canvases", "gpt_configs"}
    first = run_objects(sim, selected)
    assert first.returncode == 0, first.stderr[-3000:]
    state = json.loads(json.dumps(first.state))
    del state["bookmarks"]["automations"]["refreshed_at"]  # due again; the others are not
    sim.reset_counters()
    second = run_objects(sim, selected, state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    prefix = WS.format(workspace_id="{workspace_id}") + "/"
    asked = {
        route.removeprefix(prefix)
        for route in GET_ROUTES
        if route.startswith(prefix) and sim.request_count(route)
    }
    assert asked == {"users", "users/{user_id}/automations"}
    assert {s for s, records in second.records.items() if records} <= {"automations"}


def test_sigterm_while_producers_run_stops_promptly(simulator_factory: Any) -> None:
    """A signal stops the run (143) with whole lines; the producers do not hold the exit."""
    sim = make_sim(
        simulator_factory,
        heavy_user_canvases=60,
        heavy_user_versions=45,
        config_versions_per_day=0.0,
    )
    catalog = selecting(ALL)
    config = tap_config(sim, max_requests_per_minute=30, directory_refresh_hours=0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog.json").write_text(json.dumps(catalog))
        command = [*tap_command(config, None, folder), "--catalog", str(folder / "catalog.json")]
        with (
            (folder / "stderr.log").open("wb") as err,
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=err, env=synced_env(config, folder)
            ) as process,
        ):
            wait_until(
                lambda: sim.request_count(CANVAS), "the producers' first canvas", proc=process
            )
            process.send_signal(signal.SIGTERM)
            stdout, _ = process.communicate(timeout=60)
        stderr = (folder / "stderr.log").read_text()
    assert process.returncode == 143, stderr[-3000:]
    text = stdout.decode("utf-8")
    assert text.endswith("\n")
    _, states = parse_singer(text)
    bookmarks = (states[-1] if states else {}).get("bookmarks", {})
    assert "refreshed_at" not in bookmarks.get("canvas_versions", {})
