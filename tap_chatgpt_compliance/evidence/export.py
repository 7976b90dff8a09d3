"""Produce a custodian's (or one conversation's) ChatGPT messages for review: RSMF 2.0 and HTML.

Output folder:

- ``rsmf/<conversation>_<YYYY-MM-DD>_<n>.rsmf``: one RFC 5322 email per conversation per UTC day
  (at most :data:`MAX_EVENTS` events each), ``X-RSMF-*`` headers, a plain-text skim and an
  ``rsmf.zip`` attachment holding ``rsmf_manifest.json`` (RSMF 2.0.0) and the attachments (the
  archived bytes, or a text placeholder naming why they are missing);
- ``html/<conversation>.html``: one self-contained transcript per conversation (inline styles,
  attachments linked to ``attachments/`` beside it, SHA-256 shown) and ``index.html``;
- ``production_manifest.json`` and ``.csv``: every produced file with its SHA-256, its
  conversation, message count and source log files.

The same archive and selection always give byte-identical files: nothing depends on the clock,
the order of records in the archive, or the machine.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
import time
import typing as t
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tap_chatgpt_compliance.evidence.sources import ArchiveError
from tap_chatgpt_compliance.timeparse import to_datetime

if t.TYPE_CHECKING:
    from tap_chatgpt_compliance.evidence.sources import Archive

Record = dict[str, t.Any]
RSMF_VERSION = "2.0.0"
MAX_EVENTS = 10_000
"""Relativity's advice: at most this many events per RSMF file."""
PLATFORM = "ChatGPT Enterprise"
GENERATOR = "tap-chatgpt-compliance export"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
PROGRESS_EVERY = 15.0
"""Seconds between progress lines, as the tap."""
PLACEHOLDER_SUFFIX = "-NOT-ARCHIVED.txt"
EXPORT_STREAMS = ("messages", "conversations", "users", "files", "file_parts")
"""What an export reads of an archive (not the raw log files, events nor unparsed lines)."""


class SelectionError(ArchiveError):
    """The selection matches nothing (no such custodian or conversation, or an empty range)."""


@dataclass
class Message:
    """One message of the production."""

    record: Record
    at: datetime
    participant: str

    @property
    def id(self) -> str:
        """Return the message id."""
        return str(self.record["id"])


@dataclass
class Production:
    """What an export wrote."""

    out: Path
    files: list[dict[str, t.Any]] = field(default_factory=list)
    conversations: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    message_ids: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    attachments: dict[str, str] = field(default_factory=dict)
    """Attachment entries of the production: ``included``, or the status of a placeholder."""

    def summary_lines(self, seconds: float) -> list[str]:
        """Return the summary block printed at the end of an export."""
        kinds = Counter(f["kind"] for f in self.files)
        included = sum(1 for status in self.attachments.values() if status == "included")
        placeholders = Counter(s for s in self.attachments.values() if s != "included")
        times = sorted(c["first"] for c in self.conversations.values()) + sorted(
            c["last"] for c in self.conversations.values()
        )
        return [
            f"Exported {len(self.message_ids):,} messages of {len(self.conversations):,} "
            f"conversations to {self.out} in {seconds:.1f} s.",
            f"  Production: {self.out.resolve()}",
            f"  Files: {len(self.files) + 2:,}: {kinds['rsmf']:,} RSMF, {kinds['html']:,} HTML "
            f"transcripts, {kinds['index']:,} index.html, {kinds['attachment']:,} attachment "
            "files, production_manifest.json and .csv (every file's SHA-256).",
            f"  Conversations: {len(self.conversations):,}; messages: {len(self.message_ids):,}"
            + (f", {min(times)} .. {max(times)}." if times else "."),
            f"  Attachments: {included:,} included (archived bytes, SHA-256 verified), "
            f"{sum(placeholders.values()):,} placeholders"
            + (
                " ("
                + ", ".join(f"{n:,} {status}" for status, n in sorted(placeholders.items()))
                + ")."
                if placeholders
                else "."
            ),
        ]

    def write(self, relative: str, data: bytes, **about: t.Any) -> None:
        """Write one file of the production and list it with its SHA-256 (once)."""
        if relative in self.written:
            return
        self.written.add(relative)
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append(
            {
                "path": relative,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "kind": about.get("kind", ""),
                "conversation_id": about.get("conversation_id", ""),
                "message_count": about.get("message_count", 0),
                "source_log_files": ";".join(about.get("source_log_files", [])),
            }
        )


def _time(value: t.Any) -> datetime | None:
    when = value if isinstance(value, datetime) else to_datetime(value)
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_bound(value: str | None, *, end: bool) -> datetime | None:
    """Return a --since/--until bound; a bare date as --until covers that whole day."""
    if not value:
        return None
    when = _time(value)
    if when is None:
        msg = f"{'--until' if end else '--since'} {value!r} is not a date (use 2026-11-26)"
        raise SelectionError(msg)
    if end and re.fullmatch(r"\d{4}-\d\d-\d\d", value.strip()):
        when += timedelta(days=1)
    return when


def _latest(records: list[Record], key: str, order: str) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for record in records:
        ident = str(record.get(key))
        kept = out.get(ident)
        if kept is None or str(record.get(order) or "") >= str(kept.get(order) or ""):
            out[ident] = record
    return out


class Exporter:
    """Select messages from an archive and write the production."""

    def __init__(self, archive: Archive) -> None:
        """Index the archive's messages, users, conversations and attachments."""
        self.archive = archive
        self.users = _latest(archive.records("users"), "id", "id")
        self.conversations = _latest(archive.records("conversations"), "id", "title_seen_at")
        files: dict[str, Record] = {}
        for record in archive.records("files"):
            kept = files.get(str(record.get("id")))
            if kept is None or (kept.get("status") != "archived" and record.get("status")):
                files[str(record.get("id"))] = record
        self.files = files
        self.parts: dict[str, dict[int, Record]] = defaultdict(dict)
        for part in archive.records("file_parts"):
            self.parts[str(part.get("file_id"))].setdefault(int(part["part_index"]), part)
        messages: dict[str, Record] = {}
        for record in archive.records("messages"):
            messages.setdefault(str(record.get("id")), record)
        self.messages = messages

    def select(
        self,
        custodian: str | None,
        conversation: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[str | None, dict[str, list[Message]]]:
        """Return the custodian's user id and the selected messages by conversation, in order."""
        user_id = None
        if custodian:
            wanted = custodian.strip().lower()
            user_id = next(
                (
                    uid
                    for uid, user in sorted(self.users.items())
                    if uid.lower() == wanted or str(user.get("email") or "").lower() == wanted
                ),
                None,
            )
            if user_id is None:
                user_id = next(
                    (
                        str(m.get("actor_user_id"))
                        for m in self.messages.values()
                        if str(m.get("actor_user_id") or "").lower() == wanted
                        or str(m.get("actor_email") or "").lower() == wanted
                    ),
                    None,
                )
            if user_id is None:
                msg = f"--custodian {custodian}: no such user id or email in the archive"
                raise SelectionError(msg)
            chosen = {
                str(m.get("conversation_id"))
                for m in self.messages.values()
                if m.get("actor_user_id") == user_id
            }
            chosen |= {
                cid for cid, c in self.conversations.items() if c.get("owner_user_id") == user_id
            }
        else:
            chosen = {str(conversation)}
        selected: dict[str, list[Message]] = defaultdict(list)
        for record in self.messages.values():
            conversation_id = str(record.get("conversation_id"))
            if conversation_id not in chosen:
                continue
            at = _time(record.get("created_at")) or _time(record.get("event_timestamp"))
            if at is None or (since and at < since) or (until and at >= until):
                continue
            selected[conversation_id].append(Message(record, at, self._participant(record)))
        if not selected:
            who = f"custodian {custodian}" if custodian else f"conversation {conversation}"
            msg = f"nothing to export: no message of {who} in the archive for the range given"
            raise SelectionError(msg)
        for messages in selected.values():
            messages.sort(key=lambda m: (m.at, m.id))
        return user_id, dict(sorted(selected.items()))

    @staticmethod
    def _participant(record: Record) -> str:
        author = str(record.get("author_type") or "unknown")
        if author == "user":
            return str(record.get("actor_user_id") or "user:unknown")
        event = record.get("event")
        if isinstance(event, str):
            event = json.loads(event)
        message = _obj(_obj(event).get("message"))
        name = _obj(message.get("author")).get("name") or record.get("author_model")
        return f"{author}:{name}" if name else author

    def _display(self, participant: str) -> tuple[str, str | None]:
        user = self.users.get(participant)
        if user is not None:
            return str(user.get("name") or user.get("email") or participant), user.get("email")
        kind, _, name = participant.partition(":")
        if kind == "assistant":
            return (f"ChatGPT ({name})" if name else "ChatGPT"), None
        return (f"{kind}: {name}" if name else kind), None

    def attachment_bytes(self, record: Record) -> bytes | None:
        """Return an archived attachment's bytes when the archive holds them intact."""
        try:
            if record.get("content_base64") is not None:
                data = base64.b64decode(record["content_base64"])
            elif record.get("storage_uri"):
                data = self.archive.read_object(str(record["storage_uri"])) or b""
            else:
                parts = self.parts.get(str(record.get("id")), {})
                count = int(record.get("part_count") or 0)
                if not count or any(i not in parts for i in range(count)):
                    return None
                data = b"".join(base64.b64decode(parts[i]["content_base64"]) for i in range(count))
        except (ValueError, TypeError):
            return None
        return data if hashlib.sha256(data).hexdigest() == record.get("sha256") else None

    def attachments_of(self, message: Record) -> list[tuple[str, str, bytes, Record | None]]:
        """Return (entry name, display, bytes, files record) of a message's attachments."""
        out = []
        for file_id in message.get("attachment_ids") or []:
            record = self.files.get(str(file_id))
            name = str((record or {}).get("name") or file_id)
            data = (
                self.attachment_bytes(record) if record and record["status"] == "archived" else None
            )
            if data is not None:
                out.append((_SAFE.sub("_", f"{file_id}-{name}"), name, data, record))
                continue
            status = (record or {}).get("status") or "not in the archive"
            reason = (record or {}).get("status_reason") or ""
            text = (
                f"Attachment {name} ({file_id}) is not in this production: status "
                f"{status}{f' ({reason})' if reason else ''}.\n"
            )
            entry = _SAFE.sub("_", f"{file_id}{PLACEHOLDER_SUFFIX}")
            out.append((entry, f"{name} (not archived: {status})", text.encode(), record))
        return out

    def body(self, record: Record) -> str:
        """Return a message's text (tool output as JSON)."""
        if isinstance(record.get("content_text"), str):
            return str(record["content_text"])
        value = record.get("content_json")
        if isinstance(value, str):
            return value
        return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)

    def export(
        self,
        out: Path,
        custodian: str | None = None,
        conversation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        progress: t.Callable[[str], None] | None = None,
        every: float = PROGRESS_EVERY,
    ) -> Production:
        """Write the production folder; return what was written.

        ``progress`` gets a line at the start, then every ``every`` seconds (conversations and
        messages done of the total, files written).
        """
        user_id, selected = self.select(custodian, conversation, since, until)
        production = Production(out)
        total = sum(len(messages) for messages in selected.values())
        started = last = time.monotonic()
        if progress:
            progress(
                f"Export: {total:,} messages of {len(selected):,} conversations selected; "
                f"writing {out}"
            )
        index_rows = []
        for number, (conversation_id, messages) in enumerate(selected.items(), 1):
            self._write_rsmf(production, conversation_id, messages, user_id)
            index_rows.append(self._write_html(production, conversation_id, messages))
            production.message_ids.extend(m.id for m in messages)
            now = time.monotonic()
            if progress and now - last >= every:
                last = now
                progress(
                    f"Export progress: {number:,}/{len(selected):,} conversations, "
                    f"{len(production.message_ids):,}/{total:,} messages, "
                    f"{len(production.files):,} files written ({now - started:.0f} s)"
                )
        production.write(
            "index.html", _index_html(index_rows, custodian, conversation), kind="index"
        )
        self._write_manifest(production, custodian, conversation, since, until)
        return production

    def _write_rsmf(
        self,
        production: Production,
        conversation_id: str,
        messages: list[Message],
        custodian_id: str | None,
    ) -> None:
        by_day: dict[str, list[Message]] = defaultdict(list)
        for message in messages:
            by_day[message.at.astimezone(timezone.utc).date().isoformat()].append(message)
        title = str(self.conversations.get(conversation_id, {}).get("title") or conversation_id)
        for day, day_messages in sorted(by_day.items()):
            for start in range(0, len(day_messages), MAX_EVENTS):
                chunk = day_messages[start : start + MAX_EVENTS]
                number = start // MAX_EVENTS + 1
                name = f"rsmf/{_SAFE.sub('_', conversation_id)}_{day}_{number:02d}.rsmf"
                data = self._rsmf(conversation_id, title, chunk, custodian_id)
                production.write(
                    name,
                    data,
                    kind="rsmf",
                    conversation_id=conversation_id,
                    message_count=len(chunk),
                    source_log_files=sorted({str(m.record.get("log_file_id")) for m in chunk}),
                )

    def rsmf_manifest(
        self,
        conversation_id: str,
        title: str,
        messages: list[Message],
        custodian_id: str | None,
    ) -> tuple[dict[str, t.Any], dict[str, bytes]]:
        """Return the RSMF manifest of a slice and the files rsmf.zip holds beside it."""
        in_slice = {m.id for m in messages}
        ids = {m.participant for m in messages}
        if custodian_id:
            ids.add(custodian_id)
        participant_ids = sorted(ids)
        participants = []
        for pid in participant_ids:
            display, email = self._display(pid)
            entry: dict[str, t.Any] = {"id": pid, "display": display}
            if email:
                entry["email"] = email
            participants.append(entry)
        entries: dict[str, bytes] = {}
        events = []
        for message in messages:
            record = message.record
            event: dict[str, t.Any] = {
                "id": message.id,
                "type": "message",
                "participant": message.participant,
                "conversation": conversation_id,
                "timestamp": _iso(message.at),
                "body": self.body(record),
                "direction": "outgoing" if record.get("author_type") == "user" else "incoming",
            }
            parent = record.get("parent_id") or record.get("previous_message_id")
            if parent and parent in in_slice:
                event["parent"] = parent
            attachments = []
            for entry_name, display, data, files_record in self.attachments_of(record):
                entries[entry_name] = data
                attachments.append({"id": entry_name, "display": display, "size": len(data)})
                if files_record is not None and files_record.get("sha256"):
                    display_sha = str(files_record["sha256"])
                    event.setdefault("custom", []).append(
                        {"name": f"sha256 {display}", "value": display_sha}
                    )
            if attachments:
                event["attachments"] = attachments
            custom = event.setdefault("custom", [])
            for name in ("event_id", "log_file_id", "parent_id", "author_model"):
                if record.get(name):
                    custom.append({"name": name, "value": str(record[name])})
            events.append(event)
        conversation = {
            "id": conversation_id,
            "display": title,
            "platform": PLATFORM,
            "type": "direct",
            "participants": participant_ids,
        }
        if custodian_id:
            conversation["custodian"] = custodian_id
        manifest = {
            "version": RSMF_VERSION,
            "participants": participants,
            "conversations": [conversation],
            "events": events,
            "eventcollectionid": conversation_id,
        }
        return manifest, entries

    def _rsmf(
        self, conversation_id: str, title: str, messages: list[Message], custodian_id: str | None
    ) -> bytes:
        manifest, entries = self.rsmf_manifest(conversation_id, title, messages, custodian_id)
        zipped = _zip(
            {"rsmf_manifest.json": _json_bytes(manifest), **dict(sorted(entries.items()))}
        )
        email = EmailMessage(policy=policy.SMTP)
        begin, end = messages[0].at, messages[-1].at
        custodian = self._display(custodian_id)[1] or custodian_id if custodian_id else ""
        email["From"] = f"{GENERATOR} <export@tap-chatgpt-compliance.invalid>"
        email["To"] = str(custodian or "production")
        email["Subject"] = f"{PLATFORM}: {title} ({begin.date().isoformat()})"
        email["Date"] = format_datetime(begin.astimezone(timezone.utc))
        email["Message-ID"] = f"<{hashlib.sha256(zipped).hexdigest()[:32]}@rsmf.invalid>"
        email["X-RSMF-Version"] = RSMF_VERSION
        email["X-RSMF-Generator"] = GENERATOR
        email["X-RSMF-Application"] = PLATFORM
        email["X-RSMF-BeginDate"] = _iso(begin)
        email["X-RSMF-EndDate"] = _iso(end)
        email["X-RSMF-EventCount"] = str(len(messages))
        email["X-RSMF-AttachmentCount"] = str(len(entries))
        email["X-RSMF-EventCollectionID"] = conversation_id
        if custodian_id:
            email["X-RSMF-Custodian"] = custodian_id
        email["X-RSMF-Participants"] = ", ".join(p["id"] for p in manifest["participants"])
        skim = [f"{title}", ""]
        for message in messages:
            display = self._display(message.participant)[0]
            skim.append(f"[{_iso(message.at)}] {display}: {self.body(message.record)}")
        email.set_content("\n".join(skim) + "\n", charset="utf-8")
        email.add_attachment(zipped, maintype="application", subtype="zip", filename="rsmf.zip")
        email.set_boundary("rsmf-" + hashlib.sha256(zipped).hexdigest()[:40])
        return email.as_bytes()

    def _write_html(
        self, production: Production, conversation_id: str, messages: list[Message]
    ) -> dict[str, t.Any]:
        title = str(self.conversations.get(conversation_id, {}).get("title") or conversation_id)
        name = f"html/{_SAFE.sub('_', conversation_id)}.html"
        rows = []
        for message in messages:
            record = message.record
            links = []
            for entry, display, data, files_record in self.attachments_of(record):
                production.attachments[entry] = (
                    str((files_record or {}).get("status") or "not in the archive")
                    if entry.endswith(PLACEHOLDER_SUFFIX)
                    else "included"
                )
                path = f"attachments/{entry}"
                production.write(
                    f"html/{path}", data, kind="attachment", conversation_id=conversation_id
                )
                sha = (files_record or {}).get("sha256") or hashlib.sha256(data).hexdigest()
                links.append(
                    f'<li><a href="{html.escape(path)}">{html.escape(display)}</a> '
                    f"<code>sha256 {html.escape(str(sha))}</code></li>"
                )
            author = self._display(message.participant)[0]
            css = "user" if record.get("author_type") == "user" else "other"
            rows.append(
                f'<div class="msg {css}" id="m-{html.escape(message.id)}">'
                f'<div class="meta">{html.escape(_iso(message.at))} · '
                f"<b>{html.escape(author)}</b></div>"
                f'<div class="body">{html.escape(self.body(record))}</div>'
                + (f"<ul>{''.join(links)}</ul>" if links else "")
                + "</div>"
            )
        page = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f'<h1>{html.escape(title)}</h1><p class="meta">Conversation '
            f"{html.escape(conversation_id)} · {len(messages)} messages · {PLATFORM}</p>"
            + "\n".join(rows)
            + "</body></html>\n"
        )
        sources = sorted({str(m.record.get("log_file_id")) for m in messages})
        production.write(
            name,
            page.encode("utf-8"),
            kind="html",
            conversation_id=conversation_id,
            message_count=len(messages),
            source_log_files=sources,
        )
        production.conversations[conversation_id] = {
            "title": title,
            "messages": len(messages),
            "first": _iso(messages[0].at),
            "last": _iso(messages[-1].at),
            "source_log_files": sources,
        }
        return {"id": conversation_id, "title": title, "path": name, "count": len(messages)}

    def _write_manifest(
        self,
        production: Production,
        custodian: str | None,
        conversation: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> None:
        files = sorted(production.files, key=lambda f: f["path"])
        document = {
            "selection": {
                "custodian": custodian,
                "conversation": conversation,
                "since": _iso(since) if since else None,
                "until": _iso(until) if until else None,
            },
            "source": self.archive.description,
            "message_count": len(production.message_ids),
            "conversations": production.conversations,
            "files": files,
        }
        (production.out / "production_manifest.json").write_bytes(_json_bytes(document))
        buffer = io.StringIO()
        columns = [
            "path",
            "sha256",
            "bytes",
            "kind",
            "conversation_id",
            "message_count",
            "source_log_files",
        ]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(files)
        (production.out / "production_manifest.csv").write_text(buffer.getvalue())


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;color:#222}"
    ".msg{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}"
    ".user{background:#eef5ff}.other{background:#f7f7f7}.meta{color:#666;font-size:.85rem}"
    ".body{white-space:pre-wrap;margin-top:.3rem}code{font-size:.75rem;color:#555}"
)


def _index_html(
    rows: list[dict[str, t.Any]], custodian: str | None, conversation: str | None
) -> bytes:
    what = f"custodian {custodian}" if custodian else f"conversation {conversation}"
    items = "".join(
        f'<li><a href="{html.escape(r["path"])}">{html.escape(r["title"])}</a> '
        f"({r['count']} messages)</li>"
        for r in rows
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>ChatGPT production</title>'
        f"<style>{_CSS}</style></head><body><h1>ChatGPT production: {html.escape(what)}</h1>"
        f"<ul>{items}</ul></body></html>\n"
    ).encode()


def _obj(value: t.Any) -> dict[str, t.Any]:
    return value if isinstance(value, dict) else {}


def _json_bytes(value: t.Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _zip(entries: dict[str, bytes]) -> bytes:
    """Return a zip of the entries, the same bytes for the same entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
