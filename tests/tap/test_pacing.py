"""The tap paces each API route itself (pacing.py): never above the configured rate, adapting to
429 and Retry-After, and routes in parallel (pipeline.py) without breaking record order."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import typing as t

import pytest

from chatgpt_compliance_simulator import Quirks
from tap_chatgpt_compliance.attachments.pipeline import AttachmentPipeline, ReadAhead
from tap_chatgpt_compliance.http.pacing import Pacer, route_rate, route_template
from tests.support.singer import parse_singer
from tests.support.tap import run_tap, tap_config

WS = "/v1/compliance/workspaces/{workspace_id}"


class FakeClock:
    """A clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def test_route_templates() -> None:
    assert (
        route_template("/v1/compliance/workspaces/W/logs", "/v1")
        == "/compliance/workspaces/{}/logs"
    )
    assert (
        route_template("/v1/compliance/workspaces/W/logs/eclf_1?x=1", "/v1")
        == "/compliance/workspaces/{}/logs/{}"
    )
    assert (
        route_template("/v1/compliance/workspaces/W/users/U/files/F", "/v1")
        == "/compliance/workspaces/{}/users/{}/files/{}"
    )
    assert route_template("/compliance/organizations/O/logs") == "/compliance/organizations/{}/logs"
    assert route_rate("/compliance/workspaces/{}/users", 100) == 50  # Gen-1 lists: documented 50
    assert route_rate("/compliance/workspaces/{}/users/{}/files/{}", 100) == 100


@pytest.mark.parametrize("per_minute", [60, 100, 6000])
def test_pacing_never_exceeds_the_configured_rate(per_minute: float) -> None:
    """In any window of t seconds a route gets at most one minute's burst + rate x t requests.

    The burst is one minute at the documented rate (100), or less when the setting is lower.
    """
    clock = FakeClock()
    pacer = Pacer(per_minute, clock=clock, sleep=clock.sleep)
    route = "/compliance/workspaces/{}/logs/{}"
    sent = []
    for _ in range(int(per_minute * 3)):
        pacer.acquire(route)
        sent.append(clock.now)
        clock.now += random.random() * 0.5 / (per_minute / 60)  # the request takes some time
    rate = per_minute / 60
    burst = min(per_minute, 100)
    for i, start in enumerate(sent):
        for j in range(i, len(sent), max(1, len(sent) // 50)):
            assert j - i + 1 <= burst + rate * (sent[j] - start) + 1e-6
    # And the whole run lasted at least what the rate imposes after the burst, and not much
    # more: the bucket's reserve (a quarter second of requests) is the only slack.
    assert sent[-1] - sent[0] >= (len(sent) - burst) / rate - 1e-6
    assert sent[-1] - sent[0] <= (len(sent) - burst) / rate + 1.5
    assert pacer.stats.requests[route] == len(sent)


def test_pacing_across_threads_never_exceeds_the_rate() -> None:
    """Four threads sharing a route, real clock: the tokens are shared."""
    pacer = Pacer(600)  # 10 per second, burst 100 (the documented one)
    route = "/compliance/workspaces/{}/users/{}/files/{}"
    for _ in range(90):  # spend most of the burst
        pacer.acquire(route)
    times: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(8):
            pacer.acquire(route)
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 32 requests with 10 tokens left, then 10 per second: at least 2.2 s.
    assert time.monotonic() - start >= 2.0
    assert len(times) == 32


def test_the_burst_is_the_documented_one_whatever_the_rate() -> None:
    """A higher max_requests_per_minute raises the rate, not the burst (undocumented)."""
    clock = FakeClock()
    files = "/compliance/workspaces/{}/users/{}/files/{}"
    users = "/compliance/workspaces/{}/users"
    for per_minute, burst, gen1_burst in ((6000, 100, 50), (100, 100, 50), (60, 60, 30)):
        pacer = Pacer(per_minute, clock=clock, sleep=clock.sleep)
        pacer.acquire(files)
        pacer.acquire(users)
        assert pacer._buckets[files].capacity == burst
        assert pacer._buckets[files].per_minute == per_minute
        assert pacer._buckets[users].capacity == gen1_burst


class _ApiBucket:
    """The API's token bucket (as the simulator's): ``capacity`` tokens refilled at ``rate``/s."""

    def __init__(self, clock: FakeClock, capacity: float, rate: float) -> None:
        self.clock, self.capacity, self.rate = clock, capacity, rate
        self.tokens, self.updated = capacity, clock.now

    def take(self) -> bool:
        now = self.clock.now
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def test_a_429_blocks_the_route_for_retry_after_and_learns_the_burst() -> None:
    """After a slow start (both buckets full, refills capped), the API's smaller burst is
    learned from the first 429 without slowing the route: no further 429 at the full rate."""
    clock = FakeClock()
    pacer = Pacer(6000, clock=clock, sleep=clock.sleep)  # 100/s, burst 100
    api = _ApiBucket(clock, capacity=40, rate=100.0)  # the same rate, a burst of 40 only
    route = "/compliance/workspaces/{}/logs/{}"
    throttled_at = []
    for n in range(600):
        pacer.acquire(route)
        sent_at = pacer.now()
        if not api.take():
            throttled_at.append(n)
            before = clock.now
            pacer.throttled(route, 2.0, sent_at)
            pacer.acquire(route)
            assert clock.now - before >= 2.0  # blocked for Retry-After
            assert api.take()
        # 5 s of requests well below the rate, then as fast as the pacer lets them go.
        clock.now += 0.05 if n < 100 else 0.0
    assert len(throttled_at) == 1  # the slow start spent nothing: the burst was learned once
    bucket = pacer._buckets[route]
    assert 30 <= bucket.capacity <= 40
    assert bucket.per_minute == 6000  # the first 429 only sizes the burst
    assert pacer.stats.throttled[route] == 1
    assert pacer.stats.requests[route] == 601


def test_429s_of_requests_in_flight_together_slow_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Four requests sent at once, all answered 429: one lesson, not three slowdowns."""
    clock = FakeClock()
    pacer = Pacer(100, clock=clock, sleep=clock.sleep)
    route = "/compliance/workspaces/{}/users/{}/files/{}"
    pacer.throttled(route, 1.0)  # an earlier 429: the burst is learned
    clock.now += 5.0
    sent = []
    for _ in range(4):
        pacer.acquire(route)
        sent.append(pacer.now())
    clock.now += 0.01
    with caplog.at_level(logging.WARNING):
        for sent_at in sent:
            pacer.throttled(route, 1.0, sent_at)
    bucket = pacer._buckets[route]
    assert bucket.per_minute == pytest.approx(80)  # slowed once
    assert sum("max_requests_per_minute" in r.getMessage() for r in caplog.records) == 1
    assert pacer.stats.throttled[route] == 5


def test_repeated_429s_slow_the_route_down(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    pacer = Pacer(100, clock=clock, sleep=clock.sleep)
    route = "/compliance/workspaces/{}/users/{}/files/{}"
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            pacer.acquire(route)
            pacer.throttled(route, 1.0)
    assert pacer._buckets[route].per_minute == pytest.approx(100 * 0.8 * 0.8)
    assert sum("max_requests_per_minute" in r.getMessage() for r in caplog.records) == 1
    assert "3 answered 429" in pacer.summary()


@pytest.mark.soak
def test_default_rate_matches_the_documented_limit_without_429(simulator_factory) -> None:
    """At the documented 100/min (the simulator at speed 1), > 100 log files: no 429 at all."""
    sim = simulator_factory(
        seed=5,
        span_days=0.9,
        conversations=150,
        attachment_rate=0.0,
        speed=1.0,
        quirks=Quirks(empty_pages=False),
    )
    files = len(sim.log_files())
    assert files > 100  # the burst is spent: the rest is paced
    config = tap_config(sim, max_requests_per_minute=100)
    started = time.monotonic()
    run = run_tap(config, timeout=600)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records["log_files"]) == files
    assert "after HTTP 429" not in run.stderr
    assert re.search(r"Pacing: \d+ API requests, 0 answered 429", run.stderr)
    assert elapsed >= (files - 100) * 0.6 - 1  # 100 per minute after the burst


@pytest.mark.soak
def test_a_lower_limit_than_configured_is_learned(simulator_factory) -> None:
    """The workspace allows 100/min, the tap is told 300: a few 429s, then it slows down."""
    sim = simulator_factory(
        seed=5,
        span_days=0.9,
        conversations=150,
        attachment_rate=0.0,
        speed=1.0,
        quirks=Quirks(empty_pages=False),
    )
    run = run_tap(tap_config(sim, max_requests_per_minute=300, max_retry_wait=10), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records["log_files"]) == len(sim.log_files())
    match = re.search(r"Pacing: (\d+) API requests, (\d+) answered 429", run.stderr)
    assert match
    assert 1 <= int(match.group(2)) <= 8  # 300 → 240 → 192 → 154 → 123 → 98 per minute


def _collect(pairs: t.Iterable[tuple[int, int]], into: list[tuple[int, int]]) -> None:
    for pair in pairs:
        into.append(pair)


def test_read_ahead_keeps_order_and_failure_positions() -> None:
    def work(n: int) -> int:
        time.sleep(random.random() / 200)
        if n == 7:
            raise ValueError("seven")
        return n * n

    seen: list[tuple[int, int]] = []
    with pytest.raises(ValueError, match="seven"):
        _collect(ReadAhead(range(10), work, depth=3), seen)
    assert seen == [(n, n * n) for n in range(7)]

    def source():
        yield from range(4)
        raise RuntimeError("listing broke")

    seen = []
    with pytest.raises(RuntimeError, match="listing broke"):
        _collect(ReadAhead(source(), lambda n: -n, depth=2), seen)
    assert seen == [(n, -n) for n in range(4)]  # every file before the failure is handed over
    assert list(ReadAhead(range(5), lambda n: n + 1, depth=0)) == [(n, n + 1) for n in range(5)]


class _Archiver:
    """An archiver whose fetch takes a random time, watching how far it runs ahead."""

    downloads = True
    closing = False

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.consumed = 0
        self.most_ahead = 0
        self.lock = threading.Lock()

    def fetch(self, ref):
        time.sleep(random.random() / 100)
        with self.lock:
            self.fetched.append(ref.file_id)
            self.most_ahead = max(self.most_ahead, len(self.fetched) - self.consumed)
        return ref.file_id.upper()


class _Ref:
    def __init__(self, file_id: str) -> None:
        self.file_id = file_id
        self.user_id = "user-1"


def test_attachment_pipeline_hands_results_back_in_order_within_its_window() -> None:
    from tap_chatgpt_compliance.run.store import RunFile, SpillMap

    archiver = _Archiver()
    handled: SpillMap[str, int] = SpillMap("attachments", RunFile(), limit=5)
    pipeline = AttachmentPipeline(archiver, handled, workers=4, window=6)  # type: ignore[arg-type]
    files = {f"log{n}": [_Ref(f"f{n}-{i}") for i in range(7)] for n in range(5)}
    files["log3"].append(_Ref("f0-1"))  # referenced again: handled once per run
    for key, refs in files.items():
        pipeline.plan(key, refs)
    for key, refs in files.items():
        got = []
        for ref, outcome in pipeline.results(key):
            got.append((ref.file_id, outcome))
            archiver.consumed += 1
        expected = [r.file_id for r in refs if not (key == "log3" and r.file_id == "f0-1")]
        assert got == [(file_id, file_id.upper()) for file_id in expected]
    assert archiver.most_ahead <= 6
    assert sorted(archiver.fetched) == sorted({r.file_id for refs in files.values() for r in refs})
    pipeline.close()


def test_parallel_attachments_are_written_before_their_files_manifest(simulator_factory) -> None:
    """Attachments fetched ahead still have every record before the log file's record."""
    sim = simulator_factory(seed=9, span_days=0.5, attachment_rate=0.8, speed=60.0)
    run = run_tap(tap_config(sim, file_content="inline", max_inline_file_bytes=2048))
    assert run.returncode == 0, run.stderr[-3000:]
    position: dict[tuple[str, str], int] = {}
    order = []
    for index, line in enumerate(run.stdout.splitlines()):
        message = __import__("json").loads(line)
        if message["type"] == "RECORD":
            order.append((message["stream"], message["record"]))
            if message["stream"] == "log_files":
                position[("log_files", message["record"]["id"])] = index
            if message["stream"] == "files":
                position[("files", message["record"]["id"])] = index
    records, _ = parse_singer(run.stdout)
    assert records["files"]
    assert records["file_parts"]
    for index, (stream, record) in enumerate(order):
        if stream == "files" and record["log_file_id"]:
            manifest = next(
                i
                for i, (s, r) in enumerate(order)
                if s == "log_files" and r["id"] == record["log_file_id"]
            )
            assert index < manifest
        if stream == "file_parts":
            parent = next(
                i for i, (s, r) in enumerate(order) if s == "files" and r["id"] == record["file_id"]
            )
            assert index < parent


def test_an_attachment_is_asked_for_the_first_reference_naming_a_user() -> None:
    """A file referenced first by an event without a user (nobody to ask the route for), then
    by one with: it is fetched for the second, not recorded not_found for the first."""
    from tap_chatgpt_compliance.attachments.archive import AttachmentRef
    from tap_chatgpt_compliance.run.store import RunFile, SpillMap

    archiver = _Archiver()
    handled: SpillMap[str, int] = SpillMap("attachments", RunFile(), limit=5)
    pipeline = AttachmentPipeline(archiver, handled, workers=1, window=2)  # type: ignore[arg-type]
    refs = [
        AttachmentRef("file-a", None, "c1", "m1", "e1", "a.png", None),
        AttachmentRef("file-a", "user-1", "c1", "m2", "e2", "a.png", None),
        AttachmentRef("file-a", "user-2", "c1", "m3", "e3", "a.png", None),
    ]
    pipeline.plan("log1", refs)
    ((ref, _),) = list(pipeline.results("log1"))
    assert (ref.user_id, ref.message_id) == ("user-1", "m2")
    pipeline.close()
