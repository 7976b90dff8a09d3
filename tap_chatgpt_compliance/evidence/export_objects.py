"""A custodian's workspace objects in a production (issue 21): canvases, memories, GPTs they own.

Rendered from what the API served (each row's ``raw_item``, which ``verify`` re-derives every
column from), never from the row's derived columns:

- **canvases**: every version of each canvas of the custodian (``canvas_versions``), one page
  per canvas (``html/canvases/<canvas>.html``);
- **memories**: every entry version found in the custodian's archived Memory objects
  (``memories``; the Memory's ``id`` is the user id, so another user's memory is never taken),
  one page (``html/memories/<user>.html``);
- **GPTs they own** (``gpts`` whose served ``owner_id`` is the custodian): every configuration
  archived (``gpt_configs``, and the ``latest_config`` the GPT listing served) with its
  instructions, and its knowledge files by name, with the SHA-256 and the bytes only when the
  archived bytes hash to it (``html/gpts/<gpt>.html``, ``html/gpts/files/``).

Every canvas version, memory entry version and configuration gets a production number after the
messages', and a row of ``production_objects.csv``. With ``--since``/``--until`` the versions in
the range are produced, and the one in force at ``--since`` (the latest before it).

Not in the served item, so taken from the tap's row: the user of a canvas (the URL it was read
from) and the GPT of a configuration row (its ``latest_config`` in the GPT item is proven).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import html
import json
import typing as t
from collections import defaultdict
from dataclasses import dataclass, field

from tap_chatgpt_compliance.directory_rows import canonical_json, escape_lone_surrogates
from tap_chatgpt_compliance.evidence.export_index import file_parts, file_record, sortable
from tap_chatgpt_compliance.evidence.export_index import json_object as _obj
from tap_chatgpt_compliance.evidence.export_text import (
    csv_cell,
    file_stem,
    inert_name,
    one_line,
    show_controls,
)
from tap_chatgpt_compliance.evidence.hashed_file import HashedFile
from tap_chatgpt_compliance.evidence.provenance import TAP_RECORD, UNPROVEN_MARK

if t.TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator

    from tap_chatgpt_compliance.evidence.sources import Archive

Record = dict[str, t.Any]
OBJECT_STREAMS = (
    "gpts",
    "gpt_configs",
    "gpt_files",
    "gpt_files_parts",
    "canvas_versions",
    "memories",
)
"""What the export reads for a custodian's workspace objects."""
OBJECT_COLUMNS = (
    "production_number",
    "kind",
    "object_id",
    "item_id",
    "timestamp",
    "title",
    "html_path",
    "stream",
    "raw_sha256",
    "verify",
    "note",
)

_SCHEMA = """
CREATE TABLE obj_gpts (id TEXT, owner_id TEXT, owner_email TEXT, raw TEXT, digest TEXT,
                       PRIMARY KEY (id, digest)) WITHOUT ROWID;
CREATE TABLE obj_configs (gpt_id TEXT, id TEXT, at TEXT, raw TEXT, digest TEXT, stream TEXT,
                          PRIMARY KEY (gpt_id, id)) WITHOUT ROWID;
CREATE TABLE obj_files (id TEXT PRIMARY KEY, status TEXT, reason TEXT, sha256 TEXT, size INTEGER,
                        storage_uri TEXT, part_count INTEGER, content_base64 TEXT) WITHOUT ROWID;
CREATE TABLE obj_file_parts (file_id TEXT, part_index INTEGER, content_base64 TEXT,
                             PRIMARY KEY (file_id, part_index)) WITHOUT ROWID;
CREATE TABLE obj_canvas (user_id TEXT, textdoc_id TEXT, textdoc_type TEXT, version INTEGER,
                         at TEXT, raw TEXT, digest TEXT, name TEXT,
                         PRIMARY KEY (user_id, textdoc_id, version)) WITHOUT ROWID;
CREATE TABLE obj_memories (user_id TEXT, digest TEXT, raw TEXT,
                           PRIMARY KEY (user_id, digest)) WITHOUT ROWID;
"""


def _text(value: t.Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _canonical(item: dict[str, t.Any]) -> str:
    """Return an item's canonical JSON, the tap's ``raw_item`` text (SQLite holds it: UTF-8)."""
    return canonical_json(item)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _list(value: t.Any) -> list[t.Any]:
    """Return a list, or the ``data`` of a list object (``{"object": "list", "data": [...]}``)."""
    if isinstance(value, dict):
        value = value.get("data")
    return value if isinstance(value, list) else []


def _shown(value: t.Any) -> str:
    """Return a served value as text (JSON for anything but a string)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class ObjectIndex:
    """The workspace objects of an archive, in the export's SQLite index."""

    def __init__(self, db: sqlite3.Connection, problem: t.Callable[[str, str], None]) -> None:
        """Create the tables in the export index's database; ``problem`` notes a conflict."""
        self.db = db
        self.problem = problem
        db.executescript(_SCHEMA)

    def load(self, archive: Archive) -> None:
        """Read the object streams once each (absent streams are empty)."""
        present = archive.streams()
        read = {
            s: archive.iter_records(s, self.problem) if s in present else iter(())
            for s in OBJECT_STREAMS
        }
        for row in read["gpts"]:
            self._gpt(row)
        for row in read["gpt_configs"]:
            item = self._item("gpt_configs", row)
            if item is not None:
                self._config(_text(row.get("gpt_id")), item, "gpt_configs")
        for row in read["gpt_files"]:
            self._file(row)
        for part in read["gpt_files_parts"]:
            try:
                index = int(part.get("part_index"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            self.db.execute(
                "INSERT OR IGNORE INTO obj_file_parts VALUES (?, ?, ?)",
                (str(part.get("file_id")), index, _text(part.get("content_base64"))),
            )
        for row in read["canvas_versions"]:
            self._canvas(row)
        for row in read["memories"]:
            item = self._item("memories", row)
            user_id = _text((item or {}).get("id"))
            if item is not None and user_id:
                raw = _canonical(item)
                self.db.execute(
                    "INSERT OR IGNORE INTO obj_memories VALUES (?, ?, ?)",
                    (user_id, _digest(raw), raw),
                )
        self.db.commit()

    def _item(self, stream: str, row: Record) -> dict[str, t.Any] | None:
        item = _obj(row.get("raw_item"))
        if not item:
            self.problem(f"{stream} row {one_line(row.get('id'))}", "no raw_item to render from")
            return None
        return item

    def _gpt(self, row: Record) -> None:
        item = self._item("gpts", row)
        if item is None or not _text(item.get("id")):
            return
        raw = _canonical(item)
        self.db.execute(
            "INSERT OR IGNORE INTO obj_gpts VALUES (?, ?, ?, ?, ?)",
            (
                item["id"],
                _text(item.get("owner_id")),
                _text(item.get("owner_email")),
                raw,
                _digest(raw),
            ),
        )
        for config in _list(item.get("latest_config")):
            if isinstance(config, dict):
                self._config(str(item["id"]), config, "gpts")

    def _config(self, gpt_id: str | None, item: dict[str, t.Any], stream: str) -> None:
        config_id = _text(item.get("id"))
        if not gpt_id or not config_id:
            return
        raw = _canonical(item)
        digest = _digest(raw)
        kept = self.db.execute(
            "SELECT digest, stream FROM obj_configs WHERE gpt_id = ? AND id = ?",
            (gpt_id, config_id),
        ).fetchone()
        values = (gpt_id, config_id, sortable(item.get("created_at")), raw, digest, stream)
        if kept is None or (kept[1] == "gpts" and stream == "gpt_configs"):
            # The configuration as its own route served it (file_format=id) over the GPT
            # listing's latest_config (whose files carry signed URLs minted per answer).
            self.db.execute("INSERT OR REPLACE INTO obj_configs VALUES (?, ?, ?, ?, ?, ?)", values)
        elif kept[0] != digest and kept[1] == stream == "gpt_configs":
            self.problem(
                f"gpt {one_line(gpt_id)} configuration {one_line(config_id)}",
                "two different items served for one configuration (conflicting rows)",
            )

    def _file(self, row: Record) -> None:
        ident = _text(row.get("id"))
        if ident is None:
            return
        part_count = row.get("part_count")
        size = row.get("size")
        self.db.execute(
            "INSERT INTO obj_files VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
            "status = excluded.status, reason = excluded.reason, sha256 = excluded.sha256, "
            "size = excluded.size, storage_uri = excluded.storage_uri, "
            "part_count = excluded.part_count, content_base64 = excluded.content_base64 "
            "WHERE obj_files.status IS NOT 'archived' AND excluded.status IS NOT NULL",
            (
                ident,
                _text(row.get("status")),
                _text(row.get("status_reason")),
                _text(row.get("sha256")),
                size if isinstance(size, int) else None,
                _text(row.get("storage_uri")),
                part_count if isinstance(part_count, int) else None,
                _text(row.get("content_base64")),
            ),
        )

    def _canvas(self, row: Record) -> None:
        item = self._item("canvas_versions", row)
        if item is None:
            return
        user_id, textdoc_id = _text(row.get("user_id")), _text(row.get("textdoc_id"))
        version = item.get("version")
        if not user_id or not textdoc_id or type(version) is not int:
            self.problem(
                f"canvas_versions row {one_line(textdoc_id)}",
                "no user, canvas or integer version to place it",
            )
            return
        raw = _canonical(item)
        digest = _digest(raw)
        kept = self.db.execute(
            "SELECT digest FROM obj_canvas WHERE user_id = ? AND textdoc_id = ? AND version = ?",
            (user_id, textdoc_id, version),
        ).fetchone()
        if kept is None:
            self.db.execute(
                "INSERT INTO obj_canvas VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    textdoc_id,
                    _text(row.get("textdoc_type")),
                    version,
                    sortable(item.get("updated_at")),
                    raw,
                    digest,
                    escape_lone_surrogates(_shown(item.get("name"))),
                ),
            )
        elif kept[0] != digest:
            self.problem(
                f"canvas {one_line(textdoc_id)} version {version}",
                "two different items served for one version (conflicting rows)",
            )

    # --- queries -----------------------------------------------------------------------------

    def owned_gpts(self, user_id: str, email: str | None) -> list[str]:
        """Return the GPTs whose served owner is the user (by id, or by email), sorted."""
        rows = self.db.execute(
            "SELECT DISTINCT id FROM obj_gpts WHERE owner_id = ? OR "
            "(? IS NOT NULL AND match_key(owner_email) = match_key(?)) ORDER BY id",
            (user_id, email, email),
        )
        return [str(r[0]) for r in rows]

    def gpt_items(self, gpt_id: str) -> list[dict[str, t.Any]]:
        """Return every distinct item served for a GPT."""
        rows = self.db.execute("SELECT raw FROM obj_gpts WHERE id = ? ORDER BY digest", (gpt_id,))
        return [json.loads(r[0]) for r in rows]

    def configs(self, gpt_id: str) -> list[tuple[str | None, dict[str, t.Any], str]]:
        """Return (time, item, stream) of a GPT's configurations, oldest first."""
        rows = self.db.execute(
            "SELECT at, raw, stream FROM obj_configs WHERE gpt_id = ? ORDER BY at, id", (gpt_id,)
        )
        return [(at, json.loads(raw), str(stream)) for at, raw, stream in rows]

    def canvases(self, user_id: str) -> list[str]:
        """Return the canvases of a user, sorted."""
        rows = self.db.execute(
            "SELECT DISTINCT textdoc_id FROM obj_canvas WHERE user_id = ? ORDER BY textdoc_id",
            (user_id,),
        )
        return [str(r[0]) for r in rows]

    def versions(self, user_id: str, textdoc_id: str) -> Iterator[tuple[str | None, int, str, str]]:
        """Yield (time, version, name, digest) of a canvas's versions, in version order.

        Not the items: a canvas of hundreds of long versions is read one version at a time
        when its page is written (:meth:`version`).
        """
        rows = self.db.execute(
            "SELECT at, version, name, digest FROM obj_canvas WHERE user_id = ? AND "
            "textdoc_id = ? ORDER BY version",
            (user_id, textdoc_id),
        )
        for at, version, name, digest in rows:
            yield at, int(version), str(name or ""), str(digest)

    def version(self, user_id: str, textdoc_id: str, version: str) -> dict[str, t.Any]:
        """Return a canvas version's item as served, with the canvas's ``textdoc_type``."""
        raw, kind = self.db.execute(
            "SELECT raw, textdoc_type FROM obj_canvas WHERE user_id = ? AND textdoc_id = ? AND "
            "version = ?",
            (user_id, textdoc_id, int(version)),
        ).fetchone()
        return {**json.loads(raw), "textdoc_type": kind}

    def memories(self, user_id: str) -> list[dict[str, t.Any]]:
        """Return every distinct Memory object archived for a user."""
        rows = self.db.execute(
            "SELECT raw FROM obj_memories WHERE user_id = ? ORDER BY digest", (user_id,)
        )
        return [json.loads(r[0]) for r in rows]

    def file(self, file_id: str) -> Record | None:
        """Return a knowledge file's record (the archived one when there is one)."""
        return file_record(self.db, "obj_files", file_id)

    def parts(self, file_id: str) -> dict[int, str | None]:
        """Return a knowledge file's parts (base64) by index."""
        return file_parts(self.db, "obj_file_parts", file_id)


def in_range(
    items: list[tuple[str | None, t.Any]], since: str | None, until: str | None
) -> list[tuple[str | None, t.Any]]:
    """Return the (time, item) in [since, until), and the latest before ``since`` (in force then).

    Items must be in time order; an item without a time is kept (it cannot be placed).
    """
    before = [x for x in items if x[0] is not None and since is not None and x[0] < since]
    chosen = [
        x
        for x in items
        if x[0] is None or ((since is None or x[0] >= since) and (until is None or x[0] < until))
    ]
    if before and not (until is not None and before[-1][0] is not None and before[-1][0] >= until):
        chosen.insert(0, before[-1])
    return chosen


@dataclass
class Item:
    """One produced object version: a canvas version, a memory entry version, a configuration."""

    kind: str
    object_id: str
    item_id: str
    at: str | None
    title: str
    stream: str
    raw: dict[str, t.Any]
    """The item as served (empty for a canvas version until its page is written)."""
    digest: str = ""
    """SHA-256 of the item's canonical JSON."""
    number: str = ""
    anchor: str = ""


@dataclass
class Selection:
    """What of a custodian's workspace objects a production holds."""

    canvases: dict[str, list[Item]] = field(default_factory=dict)
    memories: list[Item] = field(default_factory=list)
    memory_snapshots: int = 0
    gpts: dict[str, list[Item]] = field(default_factory=dict)
    user_id: str = ""

    @property
    def count(self) -> int:
        """Return the number of items (each gets a production number)."""
        return (
            sum(len(v) for v in self.canvases.values())
            + len(self.memories)
            + sum(len(v) for v in self.gpts.values())
        )


def select(
    index: ObjectIndex, user_id: str, email: str | None, since: str | None, until: str | None
) -> Selection:
    """Return a custodian's canvases, memories and GPTs (their items in the range)."""
    chosen = Selection(user_id=user_id)
    for textdoc_id in index.canvases(user_id):
        versions = [
            (
                at,
                Item(
                    "canvas_version",
                    textdoc_id,
                    str(version),
                    at,
                    name,
                    "canvas_versions",
                    {},
                    digest,
                ),
            )
            for at, version, name, digest in index.versions(user_id, textdoc_id)
        ]
        items = [item for _, item in in_range(versions, since, until)]
        if items:
            chosen.canvases[textdoc_id] = items
    snapshots = index.memories(user_id)
    chosen.memory_snapshots = len(snapshots)
    entries: dict[tuple[str, str | None, str], Item] = {}
    for memory in snapshots:
        for context in _list(memory.get("memory_contexts")):
            context_id = _text(_obj(context).get("id")) or ""
            for entry in _list(_obj(context).get("memory_entries")):
                entry = _obj(entry)
                entry_id = _text(entry.get("id"))
                if not entry_id:
                    continue
                at = sortable(entry.get("updated_at"))
                key = (entry_id, at, _canonical(entry))
                entries.setdefault(
                    key,
                    Item("memory_entry", user_id, entry_id, at, context_id, "memories", entry),
                )
    by_entry: dict[str, list[tuple[str | None, Item]]] = defaultdict(list)
    for key in sorted(entries, key=lambda k: (k[0], k[1] or "", k[2])):
        by_entry[key[0]].append((key[1], entries[key]))
    memory_items = [
        item for versions in by_entry.values() for _, item in in_range(versions, since, until)
    ]
    chosen.memories = sorted(memory_items, key=lambda i: (i.at or "", i.item_id))
    for gpt_id in index.owned_gpts(user_id, email):
        configs = [
            (
                at,
                Item(
                    "gpt_configuration",
                    gpt_id,
                    str(item["id"]),
                    at,
                    _shown(item.get("name")),
                    stream,
                    item,
                ),
            )
            for at, item, stream in index.configs(gpt_id)
        ]
        chosen.gpts[gpt_id] = [item for _, item in in_range(configs, since, until)]
    return chosen


def file_bytes(index: ObjectIndex, archive: Archive, record: Record) -> bytes | None:
    """Return a knowledge file's archived bytes when they hash to its record's SHA-256."""
    try:
        if record.get("content_base64") is not None:
            data = base64.b64decode(record["content_base64"], validate=True)
        elif record.get("storage_uri"):
            data = archive.read_object(str(record["storage_uri"]), record.get("size")) or b""
        else:
            parts = index.parts(str(record.get("id")))
            count = int(record.get("part_count") or 0)
            if not count or any(parts.get(i) is None for i in range(count)):
                return None
            data = b"".join(base64.b64decode(str(parts[i]), validate=True) for i in range(count))
    except (ValueError, TypeError, binascii.Error, OSError):
        return None
    return data if hashlib.sha256(data).hexdigest() == record.get("sha256") else None


class ObjectPages:
    """Write a custodian's object pages, numbered after the messages (see the module)."""

    def __init__(self, run: t.Any, index: ObjectIndex, archive: Archive) -> None:
        """Write through ``run`` (the export's _Run: numbering, page head, production)."""
        self.run = run
        self.index = index
        self.archive = archive
        self.files_included = 0
        self.files_missing = 0
        self.selection_user = ""

    def unproven(self, *idents: str) -> bool:
        """Return whether a finding concerns an object known by these ids (export_findings)."""
        return bool(self.run.concerns.any(*idents))

    def write(self, chosen: Selection) -> None:
        """Write every page and production_objects.csv."""
        run = self.run
        production = run.production
        table = _Hashed(production.out / "production_objects.csv", run)
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(OBJECT_COLUMNS)
        self.selection_user = chosen.user_id
        for textdoc_id, items in chosen.canvases.items():
            self._canvas(textdoc_id, items, writer)
        if chosen.memories:
            self._memories(chosen, writer)
        for gpt_id, items in chosen.gpts.items():
            self._gpt(gpt_id, items, writer)
        table.close("production_objects.csv", kind="objects", message_count=chosen.count)

    def _number(self, items: list[Item], page: str, writer: t.Any) -> str:
        for item in items:
            self.run.number += 1
            item.number = self.run.numbered(self.run.number)
            item.anchor = f"o-{file_stem(item.kind + '-' + item.object_id + '-' + item.item_id)}"
            writer.writerow(
                csv_cell(v)
                for v in (
                    item.number,
                    item.kind,
                    one_line(item.object_id),
                    one_line(item.item_id),
                    item.at or "",
                    one_line(item.title),
                    f"{page}#{item.anchor}",
                    item.stream,
                    item.digest or _digest(_canonical(item.raw)),
                    self.run.stamp.verdict,
                    UNPROVEN_MARK if self.flagged(item) else "",
                )
            )
        return f"{items[0].number} .. {items[-1].number}" if items else "none"

    def _page(
        self, path: str, title: str, subtitle: str, items: list[Item], numbers: str
    ) -> _Hashed:
        times = sorted(i.at for i in items if i.at)
        self.run.production.claim(path, "")  # two objects never share a page (error otherwise)
        page = _Hashed(self.run.production.out / path, self.run)
        page.write(
            self.run.page_head(
                title,
                subtitle,
                self.run.workspaces,
                times[0] if times else "",
                times[-1] if times else "",
                numbers,
                objects=True,
            )
        )
        return page

    def flagged(self, item: Item) -> bool:
        """Return whether a finding concerns this item.

        A finding names a canvas by its id (a version number alone is no id), a memory by its
        user or entry id, a configuration by its id or its GPT's.
        """
        idents = {"canvas_version": (item.object_id,)}.get(
            item.kind, (item.object_id, item.item_id)
        )
        return self.unproven(*idents)

    def _block(self, item: Item, heading: str, body: str, extra: str = "") -> str:
        flagged = self.flagged(item)
        return (
            f'<div class="msg other{" unproven" if flagged else ""}" '
            f'id="{html.escape(item.anchor)}">'
            f'<div class="meta"><span class="bates">{html.escape(item.number)}</span> · '
            f"{html.escape(item.at or 'no time')} · <b>{html.escape(one_line(heading))}</b>"
            + (f" · <b>{UNPROVEN_MARK}</b>" if flagged else "")
            + "</div>"
            f'<div class="body">{html.escape(show_controls(body))}</div>{extra}</div>\n'
        )

    def _canvas(self, textdoc_id: str, items: list[Item], writer: t.Any) -> None:
        path = f"html/canvases/{file_stem(textdoc_id)}.html"
        numbers = self._number(items, path, writer)
        names = [i.title for i in items if i.title]
        title = one_line(f"Canvas: {names[-1]}" if names else f"Canvas {textdoc_id}")
        user_id = self.selection_user
        kind = _shown(
            self.index.version(user_id, textdoc_id, items[-1].item_id).get("textdoc_type")
        )
        kind = kind or "unknown type"
        page = self._page(
            path,
            title,
            # Owner and type: the URL the tap read the canvas from (verify.UNPROVEN_COLUMNS).
            f"Canvas {one_line(textdoc_id)} · type {one_line(kind)} ({TAP_RECORD}) · owner "
            f"{one_line(user_id)} ({TAP_RECORD}) · {len(items)} versions",
            items,
            numbers,
        )
        for item in items:
            raw = self.index.version(user_id, textdoc_id, item.item_id)
            comments = "".join(
                f"<li>{html.escape(one_line(_shown(_obj(c).get('start'))))}-"
                f"{html.escape(one_line(_shown(_obj(c).get('end'))))}: "
                f"{html.escape(show_controls(_shown(_obj(c).get('content'))))}</li>"
                for c in _list(raw.get("comments"))
            )
            heading = f"version {item.item_id}" + (f" · {item.title}" if item.title else "")
            page.write(
                self._block(
                    item,
                    heading,
                    _shown(raw.get("content")) or "(empty)",
                    f"<ul>{comments}</ul>" if comments else "",
                )
            )
        page.finish(
            path,
            kind="canvas",
            object_id=textdoc_id,
            title=title,
            items=items,
            not_proven=sum(map(self.flagged, items)),
        )

    def _memories(self, chosen: Selection, writer: t.Any) -> None:
        user_id = chosen.memories[0].object_id
        path = f"html/memories/{file_stem(user_id)}.html"
        items = chosen.memories
        numbers = self._number(items, path, writer)
        title = one_line(f"Memories of {self.run.custodian}")
        page = self._page(
            path,
            title,
            f"{len(items)} memory entry versions from {chosen.memory_snapshots} archived "
            "Memory objects",
            items,
            numbers,
        )
        for item in items:
            page.write(
                self._block(
                    item,
                    f"entry {item.item_id} · context {item.title}",
                    _shown(item.raw.get("content")) or "(empty)",
                )
            )
        page.finish(
            path,
            kind="memories",
            object_id=user_id,
            title=title,
            items=items,
            not_proven=sum(map(self.flagged, items)),
        )

    def _gpt(self, gpt_id: str, items: list[Item], writer: t.Any) -> None:
        path = f"html/gpts/{file_stem(gpt_id)}.html"
        numbers = self._number(items, path, writer) if items else "none"
        names = [i.title for i in items if i.title]
        title = one_line(f"GPT: {names[-1]}" if names else f"GPT {gpt_id}")
        served = self.index.gpt_items(gpt_id)
        owners = sorted(
            {one_line(f"{g.get('owner_email') or ''} ({g.get('owner_id')})") for g in served}
        )
        visibility = sorted({one_line(_obj(g.get("sharing")).get("visibility")) for g in served})
        page = self._page(
            path,
            title,
            f"GPT {one_line(gpt_id)} · owner {', '.join(owners)} · sharing "
            f"{', '.join(visibility)} · {len(items)} configurations",
            items,
            numbers,
        )
        for item in items:
            raw = item.raw
            author = _obj(raw.get("version_author"))
            # A gpt_configs row's GPT is the URL the tap read it from (verify.UNPROVEN_COLUMNS);
            # the latest_config of the GPT item was served within it.
            placed = f" · in GPT {gpt_id} ({TAP_RECORD})" if item.stream == "gpt_configs" else ""
            lines = [
                f"Name: {_shown(raw.get('name'))}",
                f"Description: {_shown(raw.get('description'))}",
                f"Version author: {_shown(author.get('email'))} ({_shown(author.get('id'))})",
                f"Tools: {', '.join(_shown(_obj(x).get('type')) for x in _list(raw.get('tools')))}",
                "Conversation starters:",
                *(f"  - {_shown(s)}" for s in _list(raw.get("conversation_starters"))),
                "Instructions:",
                _shown(raw.get("instructions")),
            ]
            page.write(
                self._block(
                    item,
                    f"configuration {item.item_id}"
                    + (f" · {item.title}" if item.title else "")
                    + placed,
                    "\n".join(lines),
                    self._knowledge(gpt_id, raw),
                )
            )
        page.finish(
            path,
            kind="gpt",
            object_id=gpt_id,
            title=title,
            items=items,
            not_proven=sum(map(self.flagged, items)),
        )

    def _knowledge(self, gpt_id: str, config: dict[str, t.Any]) -> str:
        links = []
        for info in _list(config.get("files")):
            info = _obj(info)
            file_id = _text(info.get("id"))
            if not file_id:
                continue
            name = one_line(_shown(info.get("name")) or file_id)
            # A finding or limitation naming the file (its record on a dead-end branch, say):
            # the record rendered may be that one (the first archived record of the file).
            mark = f" · <b>{UNPROVEN_MARK}</b>" if self.unproven(file_id) else ""
            record = self.index.file(file_id)
            status = (record or {}).get("status") or "not in the archive"
            data = (
                file_bytes(self.index, self.archive, record)
                if record and status == "archived"
                else None
            )
            if data is None:
                if status == "archived":
                    status = "archived bytes missing or not matching their SHA-256"
                elif record:  # the tap's record of the download: no OpenAI hash
                    status = f"{status} ({TAP_RECORD})"
                self.files_missing += 1
                links.append(
                    f"<li>{html.escape(name)} ({html.escape(one_line(file_id))}): "
                    f"<b>not included: {html.escape(one_line(status))}</b>{mark}</li>"
                )
                continue
            sha = hashlib.sha256(data).hexdigest()
            entry = f"gpts/files/{file_stem(file_id)}-{inert_name(name)}"
            self.files_included += 1
            self.run.production.write(
                f"html/{entry}",
                data,
                kind="knowledge_file",
                conversation_id=gpt_id,
                not_proven=int(bool(mark)),
            )
            links.append(
                f'<li><a href="{html.escape(entry.removeprefix("gpts/"))}">{html.escape(name)}</a> '
                f"({html.escape(one_line(file_id))}) <code>sha256 {sha}</code> (bytes and "
                f"record {TAP_RECORD}: the tap's download, no OpenAI hash covers them){mark}</li>"
            )
        if not links:
            return ""
        return f"<p>Knowledge files:</p><ul>{''.join(links)}</ul>"


class _Hashed:
    """A produced file written piece by piece, then listed with its hashes."""

    def __init__(self, path: t.Any, run: t.Any) -> None:
        self.file = HashedFile(path)
        self.run = run

    def write(self, text: str) -> None:
        self.file.write(text)

    def close(self, relative: str, **about: t.Any) -> None:
        sha, md5, size = self.file.close()
        self.run.production.listed(relative, sha, md5, size, **about)

    def finish(
        self,
        relative: str,
        *,
        kind: str,
        object_id: str,
        title: str,
        items: list[Item],
        not_proven: int,
    ) -> None:
        """Close a page and list it; ``not_proven``: its items marked NOT PROVEN."""
        self.write("</body></html>\n")
        self.run.production.not_proven["objects"] += not_proven
        self.close(
            relative,
            kind=kind,
            conversation_id=object_id,
            title=title,
            message_count=len(items),
            first_number=items[0].number if items else "",
            last_number=items[-1].number if items else "",
            not_proven=not_proven,
        )
        self.run.production.objects.append((relative, title, len(items), kind))
