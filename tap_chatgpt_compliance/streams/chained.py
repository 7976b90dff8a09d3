"""REST streams on a tamper-evident chain (logfiles/rest_chain.py): link, then commit the head."""

from __future__ import annotations

import typing as t

from tap_chatgpt_compliance.client import ComplianceStream
from tap_chatgpt_compliance.logfiles import rest_chain


class ChainedRows(ComplianceStream):
    """A REST stream whose written records are linked into the stream's one chain.

    Each record is linked as it is written (:meth:`chain_link`, from ``post_process``); the head
    reaches the stream's bookmark at :meth:`commit_chain`, after the sync's last record, so the
    STATE that follows (never one before it) carries it.
    """

    _staged_rest_chain: rest_chain.StagedRestChain | None = None
    commits_with_parent = False
    """Whether the head moves only with the parent's (:meth:`commit_chain` of the parent).

    A child synced once per parent row whose head moved after each sync would reach a STATE
    written before its parent's refresh is recorded: a run killed then leaves rows the next
    run writes again from that head, in another order (a fork of different keys).
    """

    def chain_link(self, record: dict[str, t.Any] | None) -> dict[str, t.Any] | None:
        """Link a record that will be written (a stream synced for its children writes none)."""
        if record is None or not self.selected or self.name not in rest_chain.KEYS:
            return record
        staged = self._staged_rest_chain
        if staged is None:
            staged = rest_chain.StagedRestChain(self.stream_state, self.name)
            self._staged_rest_chain = staged
        staged.link(record)
        return record

    def commit_chain(self) -> None:
        """Move the head kept in the bookmark to the last record linked (its STATE follows).

        The heads of the child streams that move with this one's move too.
        """
        staged = self._staged_rest_chain
        if staged is not None and staged.commit():
            self.state_changed()
        for child in self.child_streams:
            if isinstance(child, ChainedRows) and child.commits_with_parent:
                child.commit_chain()
