"""The bytes of GPT knowledge files, project files and library files (reference §1A #8, #19, #27).

Child streams: ``gpt_files`` of ``gpt_configs``, ``project_files`` of ``project_configs``,
``library_file_contents`` of ``library_files``. A file is fetched when its parent emits a row
(a new configuration, a new or changed library file), once per run per file id, through the
attachment archiver's own download, hashing and storage (``attachments.archive``): the 307 is
followed without credentials, ``file_content`` decides where the bytes go (``inline``: base64
in the record, parts of ``max_inline_file_bytes`` in ``<stream>_parts`` records; ``storage``:
the content store, addressed by SHA-256; ``none``: metadata only). 404 and 410 become the
statuses ``not_found`` and ``expired``; a trashed library file is recorded as ``expired``
without a request.
"""

from __future__ import annotations

import base64
import typing as t
from functools import cached_property

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_chatgpt_compliance import schemas
from tap_chatgpt_compliance.attachments.archive import (
    FAILED,
    AttachmentArchiver,
    AttachmentRef,
    Outcome,
    iter_parts,
    parts_not_selected,
)
from tap_chatgpt_compliance.client import ComplianceStream
from tap_chatgpt_compliance.http.transport import BadPathSegment, path_segment
from tap_chatgpt_compliance.logfiles.rest_chain import with_chain_columns
from tap_chatgpt_compliance.sdk import OncePerRunSchema
from tap_chatgpt_compliance.streams.activity import LibraryFilesStream
from tap_chatgpt_compliance.streams.chained import ChainedRows
from tap_chatgpt_compliance.streams.gen1 import failed_parents
from tap_chatgpt_compliance.streams.history import GPTConfigsStream, ProjectConfigsStream

EVERY_ONE_MISSING = 2
"""Files of a run that, all answering 404, are a route gone (or a fault), not churn."""

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

_OWN_FIELDS = {
    "owner_id": {
        "type": ["string", "null"],
        "description": "The GPT, project or user it belongs to.",
    },
    "status": {
        "type": ["string", "null"],
        "description": (
            "archived; expired (410, or a trashed library file), not_found (404), forbidden "
            "(403), failed (retries spent, storage error), too_large or metadata_only."
        ),
    },
    "part_count": {"type": ["integer", "null"], "description": "Records in <stream>_parts."},
    "name": {
        "type": ["string", "null"],
        "description": (
            "The file's name as its owner lists it, not from the download: for gpt_files and "
            "project_files the configuration's value (files.data[].name of the gpt_configs or "
            "project_configs row), for library_file_contents the library_files item's name."
        ),
    },
}
_COLUMNS = (
    "id",
    "workspace_id",
    "owner_id",
    "name",
    "mime_type",
    "size",
    "sha256",
    "status",
    "status_reason",
    "archived_at",
    "storage_uri",
    "content_base64",
    "part_count",
)
STORED_FILE: dict[str, t.Any] = {
    "type": "object",
    "properties": {
        key: _OWN_FIELDS.get(key) or schemas.FILE["properties"][key] for key in _COLUMNS
    },
    "required": ["id", "workspace_id"],
}
"""An attachment's columns (schemas.FILE) with the owner instead of the conversation."""


class _StoredFilesStream(OncePerRunSchema, ChainedRows):
    """Download the files a parent row names, once per run each (see the module docstring).

    Every record is linked into the stream's chain (logfiles/rest_chain.py, FILE_FIELDS: the
    columns that identify the bytes); the head reaches the bookmark with the parent's, at the
    end of the parent's sync (a run killed before it writes the same records again).
    """

    commits_with_parent = True

    selected_by_default = False
    path = ""
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema: t.ClassVar[dict] = with_chain_columns(STORED_FILE)
    state_partitioning_keys: t.ClassVar[list[str]] = []
    route = ""

    @cached_property
    def archiver(self) -> AttachmentArchiver:
        """Return this stream's archiver (the run's settings, transport and counters)."""
        return AttachmentArchiver(self.settings, self.transport, self.logger, self.sync_run.counts)

    @cached_property
    def _done(self) -> set[str]:
        return set()

    @cached_property
    def _asked(self) -> list[int]:
        """[Files asked for in this run, of which not_found]."""
        return [0, 0]

    def say_if_every_one_missing(self) -> None:
        """Fail the run, loudly, when every file (at least two) asked for is ``not_found``.

        One file answering 404 is that file; every one is the route gone or a fault, never a
        run that succeeded. The records stay as written and the refresh is recorded (a file a
        configuration names that answers 404 for good would otherwise fail every run). Called
        by the parent stream once its refresh is over (streams/workspace.py).
        """
        asked, missing = self._asked
        if asked < EVERY_ONE_MISSING or missing != asked:
            return
        msg = (
            f"stream '{self.name}': every file this run asked for answered 404 ({asked} files, "
            f"not_found): the route ({self.route}) looks gone, or a fault, not every file "
            "deleted. They are recorded not_found; report it to OpenAI support if it persists."
        )
        self.sync_run.fail_at_end(self.logger, msg)

    def files_of(self, context: Context) -> list[dict[str, t.Any]]:
        """Return ``[{id, name, mime_type, gone}]`` of the parent row.

        A configuration's files (``files.data``: id and the name the configuration gives).
        """
        return list(context.get("files") or [])

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Archive each file of the parent row not yet handled in this run."""
        if not context:
            return
        for ref in self.files_of(context):
            file_id = str(ref["id"])
            if file_id in self._done:
                continue
            self._done.add(file_id)
            yield from self._archive(file_id, ref, str(context.get("owner_id")))

    def _archive(
        self, file_id: str, ref: dict[str, t.Any], owner_id: str
    ) -> Iterator[dict[str, t.Any]]:
        attachment = AttachmentRef(
            file_id, None, None, None, None, ref.get("name"), ref.get("mime_type")
        )
        if ref.get("gone"):
            outcome = Outcome("expired", "in the trash: the API answers 410")
        else:
            outcome = self._fetch(owner_id, file_id)
            self._asked[0] += 1
            self._asked[1] += outcome.status == "not_found"
        base, spool = self.archiver.finish(attachment, outcome)
        record = {key: base.get(key) for key in STORED_FILE["properties"]}
        record.update(id=file_id, workspace_id=self.workspace_id, owner_id=owner_id)
        if record["status"] in (FAILED, "forbidden"):
            self.logger.warning(
                "File %s of %s not archived: %s", file_id, owner_id, record["status_reason"]
            )
            self.sync_run.failures.append(
                f"stream '{self.name}': file {file_id} not archived ({record['status_reason']})"
            )
            # The parent's state stays where it was: its next refresh asks for the file again.
            if self.parent_stream_type is not None:
                failed_parents(self.tap).add(t.cast("t.Any", self.parent_stream_type).name)
        parts = next(iter(self.child_streams), None)
        if spool is not None and parts is not None and not parts.selected:
            spool = parts_not_selected(record, spool, parts.name)
        if spool is None:
            yield record
            return
        run = self.sync_run
        run.open_spools[file_id] = spool
        try:
            yield record  # its parts are written by the child stream, before it
        finally:
            run.open_spools.pop(file_id, None)
            spool.close()

    def _fetch(self, owner_id: str, file_id: str) -> Outcome:
        archiver = self.archiver
        if not archiver.downloads:
            return Outcome("metadata_only", "file_content is 'none'")
        try:
            path = self.route.format(owner_id=path_segment(owner_id), file_id=path_segment(file_id))
        except BadPathSegment as exc:
            return Outcome("not_found", str(exc))
        return archiver.download(
            f"/compliance/workspaces/{self.workspace_id}/{path}", what=f"stream '{self.name}'"
        )

    def get_child_context(self, record: dict, context: Context | None) -> dict[str, t.Any]:
        """Name the file whose parts to write; the bytes stay in the run's spool."""
        return {
            "file_id": record["id"],
            "sha256": record["sha256"],
            "part_count": record["part_count"],
        }

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """Return the record as built, linked to the stream's chain."""
        return self.chain_link(row)


class GPTFilesStream(_StoredFilesStream):
    """Knowledge files of new GPT configurations (``gpt_files/{id}``)."""

    name = "gpt_files"
    parent_stream_type = GPTConfigsStream
    route = "gpt_files/{file_id}"


class ProjectFilesStream(_StoredFilesStream):
    """Files of new project configurations (``project_files/{id}``)."""

    name = "project_files"
    parent_stream_type = ProjectConfigsStream
    route = "project_files/{file_id}"


class LibraryFileContentsStream(_StoredFilesStream):
    """Bytes of new or changed library files (``users/{id}/library_files/{id}``)."""

    name = "library_file_contents"
    parent_stream_type = LibraryFilesStream
    route = "users/{owner_id}/library_files/{file_id}"

    def files_of(self, context: Context) -> list[dict[str, t.Any]]:
        """Return the library file itself (a trashed one answers 410: not asked).

        None when it was listed without an id (library_files said so and fails the run).
        """
        if context.get("file_id") is None:
            return []
        return [
            {
                "id": context["file_id"],
                "name": context.get("name"),
                "mime_type": context.get("mime_type"),
                "gone": context.get("state") == "trashed" or bool(context.get("trashed_at")),
            }
        ]


class _PartsStream(OncePerRunSchema, ComplianceStream):
    """Inline content of a file above max_inline_file_bytes, in consecutive base64 parts."""

    selected_by_default = False
    state_partitioning_keys: t.ClassVar[list[str]] = []
    primary_keys: t.ClassVar[list[str]] = ["file_id", "part_index"]
    schema: t.ClassVar[dict] = schemas.FILE_PART
    path = ""
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Cut the spooled file into base64 parts."""
        if not context or (spool := self.sync_run.open_spools.get(context["file_id"])) is None:
            return
        for index, offset, chunk in iter_parts(spool, self.settings.max_inline_file_bytes):
            yield {
                "file_id": context["file_id"],
                "part_index": index,
                "workspace_id": self.workspace_id,
                "part_count": context["part_count"],
                "offset": offset,
                "size": len(chunk),
                "sha256": context["sha256"],
                "content_base64": base64.b64encode(chunk).decode("ascii"),
            }


class GPTFilePartsStream(_PartsStream):
    """Parts of large GPT knowledge files (file_content=inline)."""

    name = "gpt_files_parts"
    parent_stream_type = GPTFilesStream


class ProjectFilePartsStream(_PartsStream):
    """Parts of large project files (file_content=inline)."""

    name = "project_files_parts"
    parent_stream_type = ProjectFilesStream


class LibraryFilePartsStream(_PartsStream):
    """Parts of large library files (file_content=inline)."""

    name = "library_file_contents_parts"
    parent_stream_type = LibraryFileContentsStream
