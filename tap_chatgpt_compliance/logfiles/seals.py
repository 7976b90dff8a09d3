"""Seals: each run's chain heads, written outside the archive (S3 Object Lock, COMPLIANCE).

At the end of a run, after every record and the final STATE were written, the tap writes one
small JSON object (:func:`build_seal`) to ``<seal_storage_url>/<workspace_id>/<UTC time>-<run
id>.json``: the head (``chain_seq``, ``chain_head``; for ``files`` also ``chain_head_id``, the
head record's attachment) of every chain — ``log_files/<EVENT_TYPE>``,
``files`` and one per REST stream (``users``, ``gpts``, …: rest_chain.py) — as in the STATE
just written, the records written per stream and, for each stream written, its selected
columns (``selected``: verify tells a column removed from every row from one deselected),
the tap version,
and the SHA-256 of the previous seal of the workspace (seals form a chain too). Names sort by
time and are never overwritten. On S3 the object is written with Object Lock in COMPLIANCE
mode, retained ``seal_retention_days``; on a local folder it is written atomically (never over
an existing file). Either way it is read back. A seal that cannot be written fails the run
(one line, exit 1): the archive was written but is not anchored.

``chatgpt-compliance verify --seals URI`` checks them (``evidence/seals.py``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import json
import os
import typing as t
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tap_chatgpt_compliance.errors import ComplianceAPIError
from tap_chatgpt_compliance.logfiles import chain, rest_chain
from tap_chatgpt_compliance.storage_faults import storage_cause, storage_fix

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_chatgpt_compliance.settings import Settings

SEAL_VERSION = 1
OFF = ("none", "off")
"""Values of seal_storage_url that turn seals off."""
DEFAULT_RETENTION_DAYS = 2555
"""Seven years (SEC rule 17a-4(f))."""
TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"


class SealError(ComplianceAPIError):
    """A seal could not be written, read or checked (one readable line)."""


def seal_url(settings: Settings) -> str | None:
    """Return where seals go: seal_storage_url, else <file_storage_url>/seals, else None."""
    url = (getattr(settings, "seal_storage_url", None) or "").strip()
    if url.lower() in OFF:
        return None
    if url:
        return url.rstrip("/")
    base = (settings.file_storage_url or "").strip().rstrip("/")
    return f"{base}/seals" if base else None


def canonical(seal: t.Mapping[str, t.Any]) -> bytes:
    """Return the bytes of a seal object: canonical JSON and a newline."""
    text = json.dumps(seal, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (text + "\n").encode("ascii")


def seal_name(sealed_at: datetime, run_id: str) -> str:
    """Return a seal's object name (sorts by time)."""
    return f"{sealed_at.astimezone(timezone.utc).strftime(TIME_FORMAT)}-{run_id}.json"


def name_time(name: str) -> datetime | None:
    """Return the time in a seal's object name, or None."""
    try:
        return datetime.strptime(name.split("-", 1)[0], TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


@dataclass
class SealStore:
    """The seals of one workspace: a local folder, S3 (Object Lock), or another fsspec store."""

    url: str
    workspace_id: str
    options: dict[str, t.Any]

    def __post_init__(self) -> None:
        """Open the filesystem (fsspec) of the URL."""
        import fsspec

        self.fs, root = fsspec.core.url_to_fs(self.url, **self.options)
        self.root = f"{root.rstrip('/')}/{self.workspace_id}"
        protocol = self.fs.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        self.s3 = "s3" in protocols or "s3a" in protocols
        self.local = "file" in protocols or "local" in protocols

    def where(self, name: str = "") -> str:
        """Return a seal's URL (or the folder's, without a name), for messages."""
        return f"{self.url.rstrip('/')}/{self.workspace_id}" + (f"/{name}" if name else "")

    def names(self) -> list[str]:
        """Return the names of the seals present, sorted (oldest first)."""
        try:
            self.fs.invalidate_cache(self.root)
            listed = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        names = (str(path).rstrip("/").rsplit("/", 1)[-1] for path in listed)
        return sorted(name for name in names if name.endswith(".json"))

    def read(self, name: str) -> bytes:
        """Return a seal's bytes."""
        return bytes(self.fs.cat_file(f"{self.root}/{name}"))

    def bucket_key(self, name: str) -> tuple[str, str]:
        """Return the S3 bucket and key of a seal."""
        bucket, _, key = f"{self.root}/{name}".partition("/")
        return bucket, key

    def call_s3(self, method: str, **kwargs: t.Any) -> dict[str, t.Any]:
        """Call an S3 API method through s3fs (its credentials and endpoint)."""
        return t.cast("dict[str, t.Any]", self.fs.call_s3(method, **kwargs))

    def write(self, name: str, data: bytes, retain_until: datetime) -> None:
        """Write a new seal, never over an existing one, and read it back."""
        path = f"{self.root}/{name}"
        if self.s3:
            bucket, key = self.bucket_key(name)
            self.call_s3(
                "put_object",
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode("ascii"),  # noqa: S324
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=retain_until,
                IfNoneMatch="*",
            )
            head = self.call_s3("head_object", Bucket=bucket, Key=key)
            if head.get("ObjectLockMode") != "COMPLIANCE":
                msg = "the object was written without Object Lock COMPLIANCE retention"
                raise SealError(msg)
        elif self.local:
            _write_local(Path(path), data)
        else:
            if self.fs.exists(path):
                msg = "a seal with this name exists already"
                raise SealError(msg)
            self.fs.pipe_file(path, data)
        self.fs.invalidate_cache(path)
        if self.read(name) != data:
            msg = "the seal read back differs from the seal written"
            raise SealError(msg)


def _write_local(path: Path, data: bytes) -> None:
    """Write a file atomically, never over an existing one (a link to a synced temp file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails if a seal of this name exists
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    with contextlib.suppress(OSError):  # make the name durable too
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def chain_heads(
    log_file_states: t.Mapping[str, t.Mapping[str, t.Any]],
    files_state: t.Mapping[str, t.Any] | None,
    rest_states: t.Mapping[str, t.Mapping[str, t.Any]] | None = None,
) -> dict[str, dict[str, t.Any]]:
    """Return the seal's ``chains``: ``log_files/<EVENT_TYPE>``, ``files`` and REST heads.

    ``rest_states``: the bookmark of each REST stream (rest_chain.KEYS), by stream name.
    """
    heads: dict[str, dict[str, t.Any]] = {}
    for event_type, state in sorted(log_file_states.items()):
        found = chain.head(state)
        if found is not None:
            heads[f"{chain.LOG_FILES}/{event_type}"] = {
                "chain_seq": found[0],
                "chain_head": found[1],
            }
    found = chain.head(files_state or {})
    if found is not None:
        heads[chain.FILES] = {"chain_seq": found[0], "chain_head": found[1]}
        head_id = (files_state or {}).get(chain.HEAD_ID_KEY)
        if isinstance(head_id, str) and head_id:
            # The head record's attachment: an upserting target replaces the record when the
            # attachment is written again; verify then finds its kept record later.
            heads[chain.FILES][chain.HEAD_ID_KEY] = head_id
    for name, state in sorted((rest_states or {}).items()):
        found = chain.head(state) if name in rest_chain.KEYS else None
        if found is not None:
            heads[name] = {"chain_seq": found[0], "chain_head": found[1]}
            head_key = state.get(rest_chain.HEAD_KEY_KEY)
            if isinstance(head_key, str) and head_key:
                # The head row's primary key: an upserting target replaces the row when a
                # later run writes the item again; verify then finds its kept row later.
                heads[name][chain.HEAD_ID_KEY] = head_key
    return heads


def tap_version() -> str:
    """Return the installed version of the tap."""
    try:
        return importlib.metadata.version("tap-chatgpt-compliance")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_seal(
    *,
    workspace_id: str,
    run_id: str,
    sealed_at: datetime,
    api_time: datetime | None,
    chains: dict[str, dict[str, t.Any]],
    records: t.Mapping[str, int],
    previous: tuple[str, bytes] | None,
    retain_until: datetime | None,
    selected: t.Mapping[str, t.Sequence[str]] | None = None,
) -> dict[str, t.Any]:
    """Return a seal (``previous``: the name and bytes of the workspace's latest seal).

    ``selected``: the selected columns of each stream written (:func:`selected_columns`).
    """
    previous_seal = None
    seq = 1
    if previous is not None:
        name, data = previous
        previous_seal = {"name": name, "sha256": hashlib.sha256(data).hexdigest()}
        try:
            seq = int(json.loads(data)["seal_seq"]) + 1
        except (ValueError, KeyError, TypeError):
            msg = f"the latest seal {name} is not a seal (no seal_seq): it cannot be chained"
            raise SealError(msg) from None
    return {
        "seal_version": SEAL_VERSION,
        "seal_seq": seq,
        "workspace_id": workspace_id,
        "run_id": run_id,
        "sealed_at": _iso(sealed_at),
        "api_time": None if api_time is None else _iso(api_time),
        "tap": "tap-chatgpt-compliance",
        "tap_version": tap_version(),
        "chains": chains,
        "records": dict(sorted((k, int(v)) for k, v in records.items())),
        "previous_seal": previous_seal,
        "retain_until": None if retain_until is None else _iso(retain_until),
        **(
            {"selected": {k: sorted(v) for k, v in sorted(selected.items())}}
            if selected is not None
            else {}
        ),
    }


def selected_columns(streams: t.Mapping[str, t.Any], records: t.Mapping[str, int]) -> dict:
    """Return ``{stream: [selected column, …]}`` of each stream the run wrote records to.

    The columns of the stream's schema, as its stream map writes it (the SDK's
    ``StreamMap.transformed_schema``: a tap-side map may drop a column; the records are named
    by its alias), that its selection (``Stream.mask``) keeps: a column deselected in the
    catalog is in no record, one selected is in every record.
    """
    out: dict[str, list[str]] = {}
    for stream in streams.values():
        mask = getattr(stream, "mask", None) or {}
        maps = list(getattr(stream, "stream_maps", None) or ())
        written = [
            (getattr(m, "stream_alias", stream.name), getattr(m, "transformed_schema", None))
            for m in maps
        ] or [(stream.name, getattr(stream, "schema", None))]
        for name, schema in written:
            if not records.get(name) or not isinstance(schema, dict):
                continue
            properties = schema.get("properties") or {}
            out[name] = sorted(p for p in properties if mask.get(("properties", p), True))
    return out


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def write_seal(
    store: SealStore,
    *,
    chains: dict[str, dict[str, t.Any]],
    records: t.Mapping[str, int],
    retention_days: int,
    api_time: datetime | None = None,
    now: datetime | None = None,
    selected: t.Mapping[str, t.Sequence[str]] | None = None,
) -> tuple[str, dict[str, t.Any]]:
    """Write the run's seal after the previous one; return its URL and content (SealError)."""
    where = store.where()
    try:
        names = store.names()
        previous = (names[-1], store.read(names[-1])) if names else None
        sealed_at = now or datetime.now(timezone.utc)
        last = name_time(names[-1]) if names else None
        if last is not None and sealed_at <= last:  # names must sort by time
            sealed_at = last + timedelta(microseconds=1)
        run_id = uuid.uuid4().hex
        retain_until = sealed_at + timedelta(days=retention_days) if store.s3 else None
        seal = build_seal(
            workspace_id=store.workspace_id,
            run_id=run_id,
            sealed_at=sealed_at,
            api_time=api_time,
            chains=chains,
            records=records,
            previous=previous,
            retain_until=retain_until,
            selected=selected,
        )
        name = seal_name(sealed_at, run_id)
        store.write(name, canonical(seal), retain_until or sealed_at)
    except SealError as exc:
        raise SealError(_failed(where, str(exc))) from None
    except Exception as exc:  # every storage error: one line naming the store
        raise SealError(_failed(where, _describe(exc), exc)) from None
    return store.where(name), seal


def _failed(where: str, reason: str, exc: BaseException | None = None) -> str:
    """Return the line of a seal not written; its fix fits the cause (storage_faults.py)."""
    fix = (
        "Check seal_storage_url, its credentials and permissions; on S3 the bucket must have "
        "Object Lock enabled (docs/evidence.md, 'Seals on S3 Object Lock')."
    )
    if exc is not None and storage_cause(exc) in ("throttled", "full", "unreachable"):
        fix = storage_fix(exc, "seal_storage_url")
    return (
        f"Seal not written to {where} ({reason}): the archive was written but is NOT anchored. "
        f"{fix}"
    )


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def seal_run(tap: Tap) -> str | None:
    """Write the seal of a run whose records and final STATE were written (SealError).

    Return the seal's URL, or None when seals are off. Called by the tap at the end of a run.
    """
    settings: Settings = tap.settings  # type: ignore[attr-defined]
    url = seal_url(settings)
    if url is None:
        return None
    options = settings.seal_storage_options
    if options is None:
        options = settings.file_storage_options
    streams = tap.streams
    log_files = streams.get(chain.LOG_FILES)
    states = (
        {et: log_files.get_context_state({"event_type": et}) for et in settings.event_types}
        if log_files is not None
        else {}
    )
    files = streams.get(chain.FILES)
    files_state = files.stream_state if files is not None else None
    bookmarks = tap.state.get("bookmarks") if isinstance(tap.state, dict) else None
    rest_states = {
        name: state
        for name, state in (bookmarks or {}).items()
        if name in rest_chain.KEYS and isinstance(state, dict)
    }
    writer = tap.message_writer
    records: t.Mapping[str, int] = getattr(writer, "records", {})
    clock = getattr(tap.__dict__.get("transport"), "clock", None)  # the API's Date (clock.py)
    api_time = clock.now() if clock is not None and getattr(clock, "synced", False) else None
    try:
        store = SealStore(url, settings.workspace_id, dict(options or {}))
    except Exception as exc:
        raise SealError(_failed(url, _describe(exc))) from None
    where, seal = write_seal(
        store,
        chains=chain_heads(states, files_state, rest_states),
        records=records,
        retention_days=settings.seal_retention_days,
        api_time=api_time if isinstance(api_time, datetime) else None,
        selected=selected_columns(streams, records),
    )
    heads = ", ".join(f"{name} #{head['chain_seq']}" for name, head in seal["chains"].items())
    tap.logger.info("Seal %d written: %s (%s).", seal["seal_seq"], where, heads or "no chain")
    return where


def seal_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Probe the seal store before a run: on S3 its bucket must have Object Lock enabled.

    A run whose seal could not be written would fail only at its end: a bucket without Object
    Lock (or unreachable) is refused before the first request, with the fix.
    """
    from tap_chatgpt_compliance.settings import Settings

    settings = Settings.from_config(config)
    url = seal_url(settings)
    if url is None or not url.lower().startswith(("s3://", "s3a://")):
        return []
    options = settings.seal_storage_options
    if options is None:
        options = settings.file_storage_options
    try:
        store = SealStore(url, settings.workspace_id, dict(options or {}))
        bucket, _ = store.bucket_key("")
        answer = store.call_s3("get_object_lock_configuration", Bucket=bucket)
        enabled = (answer.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled")
    except Exception as exc:
        enabled = None
        reason = _describe(exc)
    else:
        reason = f"ObjectLockEnabled: {enabled!r}"
    if enabled == "Enabled":
        return []
    return [
        f"seal_storage_url {url!r}: the bucket has no S3 Object Lock ({reason}): create the seal "
        "bucket with Object Lock enabled (docs/evidence.md, 'Seals on S3 Object Lock'), or set "
        "seal_storage_url to one that has it ('none' turns seals off: the archive is then "
        "not anchored)."
    ]
