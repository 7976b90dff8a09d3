"""Items a REST list serves again on a later page, and items without a string id.

A Gen-1 list pages by ``after=last_id``; a server that serves part of a page again (a retry
behind a cache, a list that shifted while it was read) gives the same item twice. The copy is
not written again (the same item, byte for byte: an item that changed between the pages is
written as served each time), and it is counted in the run summary.
"""

from __future__ import annotations

import hashlib
import typing as t

from tap_chatgpt_compliance.directory_rows import raw_item

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Iterator

    from tap_chatgpt_compliance.run.sync import RunCounts


class RepeatedItems:
    """The items of one listing already yielded, by the SHA-256 of their canonical JSON."""

    def __init__(self, what: str, counts: RunCounts, logger: logging.Logger) -> None:
        """Start a listing of ``what`` (a path or a stream name, for the log)."""
        self.what = what
        self.counts = counts
        self.logger = logger
        self._digests: set[bytes] = set()
        self.repeated = 0

    def first_time(self, item: t.Mapping[str, t.Any]) -> bool:
        """Whether ``item`` was not yielded before by this listing (else it is counted)."""
        digest = hashlib.sha256(raw_item(item).encode("utf-8")).digest()
        if digest not in self._digests:
            self._digests.add(digest)
            return True
        self.repeated += 1
        self.counts.repeated_items += 1
        if self.repeated == 1:
            self.logger.warning(
                "The list %s served an item again on a later page: each item is written once "
                "(counted in the run summary).",
                self.what,
            )
        return False

    def new(self, items: Iterable[dict[str, t.Any]]) -> Iterator[dict[str, t.Any]]:
        """Yield the items not yielded before by this listing."""
        for item in items:
            if self.first_time(item):
                yield item
