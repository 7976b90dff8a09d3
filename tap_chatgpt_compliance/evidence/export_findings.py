"""What the findings of an export produced with ``--allow-findings`` concern.

A finding concerns what its item names (``<check>: <item>: <detail>``; the detail is not read):

- a row of a log file (``messages event <id> of log file <id> …``, ``attachment <id> of log
  file <id>``): that message's copy in that log file (by message, event or attachment id, or
  its row's own ``event_id`` or ``id`` column: a row made up under a real message's key), when
  such a row of that log file is in the archive;
- otherwise every message any word of the item names: by its message, event or attachment id,
  its conversation or its actor; and by its log file (a raw file altered, or kept without raw
  bytes, a line without its row, a manifest record altered or missing, a conversation's row
  altered) that message's copy in that log file; every attachment and workspace object it
  names by id;
- a row of a REST stream (``users``, ``gpts``, a workspace object: ``canvas_versions
  <user>/<canvas>/…``, ``canvas <id>: archived under 2 owners``), which no log line backs:
  the workspace objects any word (or ``/``-part of one) of its item names, never a message;
- a finding whose item names nothing of the archive (an anchor, a seal, an unreadable line, a
  chain that starts twice, a row naming a log file the manifest lacks), and every ``anchor``,
  ``seal`` or ``read`` finding: everything, every message, attachment and object.

A message is marked when a finding concerns it, or each of its copies (the rows holding its very
delivered event: OpenAI may deliver an event in several log files, and a run keeps a row of
each file it read it in); it is shown from a copy no finding concerns.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

from tap_chatgpt_compliance.evidence.verify import (
    DIRECTORY,
    OWNED_BY,
    STORED_FILES,
    WORKSPACE_PARENTS,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tap_chatgpt_compliance.evidence.export_index import Copy, Index

EVERYTHING_CHECKS = frozenset({"anchor", "seal", "read"})
"""Checks whose findings concern the archive as a whole, whatever their item names."""
REST = frozenset(
    {
        *DIRECTORY,
        *WORKSPACE_PARENTS,
        *STORED_FILES,
        *(f"{s}_parts" for s in STORED_FILES),
        *(kind.split()[0] for kind, _, _ in OWNED_BY.values()),
    }
)
"""First words of the items of REST rows' findings (streams, and verify's owner kinds)."""
_ROW = re.compile(r"\S+ (?:event )?(?P<key>.+) of log file (?P<log_file>.+?)(?: column \S+)?")
_STRIP = ":,;()[]'\"…"


def words(item: str) -> set[str]:
    """Return the words of a finding's item (punctuation around them removed)."""
    return {w.strip(_STRIP) for w in item.split()} - {""}


@dataclass
class Concerns:
    """The messages, attachments and objects that findings concern."""

    everything: bool = False
    messages: set[str] = field(default_factory=set)
    """Message ids: the message whichever copy is shown."""
    copies: set[tuple[str, str]] = field(default_factory=set)
    """(message id, log file id as findings name it): the copy of a message in a log file."""
    named: set[str] = field(default_factory=set)
    """Every id a finding names (attachments, workspace objects)."""
    users: set[str] = field(default_factory=set)
    """Every word of a ``users`` row's finding: the users whose listed name is not proven."""
    raw_less: bool = False
    """verify named a log file's raw bytes (none kept, missing, unreadable): not traced."""

    def message(self, message_id: str, copies: Sequence[Copy] = ()) -> bool:
        """Return whether a finding concerns this message as shown from the first of ``copies``."""
        if self.everything or message_id in self.messages:
            return True
        return bool(copies) and (message_id, copies[0].named) in self.copies

    def shown(self, message_id: str, copies: Sequence[Copy]) -> Copy:
        """Return the copy a message is shown from: the first nothing concerns, else the first."""
        return next((c for c in copies if (message_id, c.named) not in self.copies), copies[0])

    def user(self, user_id: str) -> bool:
        """Return whether a finding concerns this user's ``users`` row (their shown name)."""
        return self.everything or user_id in self.users

    def any(self, *idents: str) -> bool:
        """Return whether a finding concerns an attachment or object known by these ids."""
        return self.everything or any(i in self.named for i in idents if i)

    @classmethod
    def of(cls, located: Iterable[tuple[str, str]], index: Index) -> Concerns:
        """Return what findings, given as (check, item), concern in the index's archive."""
        concerns = cls()
        for check, item in located:
            concerns.raw_less |= check == "raw"
            if check in EVERYTHING_CHECKS:
                concerns.everything = True
                continue
            if item.split(" ", 1)[0] in REST:
                concerns.named |= {p for w in words(item) for p in (w, *w.split("/"))}
                if item.split(" ", 1)[0] == "users":
                    concerns.users |= words(item)
                continue
            row = _ROW.fullmatch(item)
            found = index.row_messages(row["key"], row["log_file"]) if row else set()
            if found:
                concerns.copies |= {(m, row["log_file"]) for m in found}  # type: ignore[index]
                concerns.named.add(row["key"])  # type: ignore[index]
                continue
            named = words(item)
            found, copies = index.messages_named(named)
            known = index.known(named)
            if not found and not copies and not known:
                concerns.everything = True
            concerns.messages |= found
            concerns.copies |= copies
            concerns.named |= named
        return concerns


def located(line: str) -> tuple[str, str]:
    """Return (check, item) of a finding line whose structure was not kept (all but the check)."""
    check, _, rest = line.partition(": ")
    return check, rest
