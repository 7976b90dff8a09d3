"""A :class:`Workspace`: its world, its log streams and the generators that fill them.

Everything comes from the generators of :class:`.rand.Rngs`, seeded by strings derived
from the configured seed, so the same configuration and the same sequence of ``advance``
calls always produce the same bytes.
"""

from __future__ import annotations

from .background import BackgroundActivity
from .clock import DAY_US
from .config import SimulatorConfig
from .delivery import Delivery
from .events import EventShapes
from .inventory import WorkspaceInventory
from .logfiles import LogFile, LogStore, Stream
from .messages import ConversationActivity
from .rand import Rngs
from .world import World


class Workspace:
    """One Enterprise workspace (and its organization) with all its generated data."""

    def __init__(self, cfg: SimulatorConfig, index: int, compliance_enabled: bool = True) -> None:
        self.cfg = cfg
        self.index = index
        self.compliance_enabled = compliance_enabled
        rngs = Rngs(f"{cfg.seed}:ws:{index}")
        self.world = World(cfg, rngs)
        self.inventory = WorkspaceInventory(cfg, f"{cfg.seed}:ws:{index}", self.world)
        """Canvases, memories, automations, … (issue 21), from their own random streams."""
        self.logs = LogStore(cfg, self.world.id, self.world.org_id)
        shapes = EventShapes(cfg, self.world.id, rngs)
        delivery = Delivery(cfg, rngs, shapes, self.logs.window_us)
        self._delivery = delivery
        self._messages = ConversationActivity(
            cfg, rngs, self.world, shapes, delivery, self.logs.streams["CONVERSATION_MESSAGE"]
        )
        self._background = BackgroundActivity(cfg, rngs, self.world, shapes, delivery, self.logs)
        self.future_file_id: str | None = None
        """The file listed in 2099 (``Oddities.future_end_time``), once the history is cut."""

    @property
    def id(self) -> str:
        """The workspace id."""
        return self.world.id

    @property
    def org_id(self) -> str:
        """The id of the workspace's organization."""
        return self.world.org_id

    @property
    def streams(self) -> dict[str, Stream]:
        """The workspace's log streams by event type."""
        return self.logs.streams

    @property
    def huge_message_ids(self) -> list[str]:
        """Messages made huge by ``Oddities.huge_message_bytes``."""
        return self._messages.huge_message_ids

    def populate(self, now_us: int) -> None:
        """Create users, GPTs, projects and the initial history ``[now - span, now]``."""
        start_us = now_us - int(self.cfg.span_days * DAY_US)
        self.world.make_users(start_us)
        self.world.make_containers(start_us)
        self.inventory.populate(now_us)
        if not self.compliance_enabled:
            return
        self._messages.initial(start_us, now_us)
        self._background.advance(start_us, now_us)
        self._delivery.odd_lines(self.logs.streams["CONVERSATION_MESSAGE"])
        self.cut(now_us)
        cm = self.logs.streams["CONVERSATION_MESSAGE"].files
        if self.cfg.oddities.future_end_time and cm:
            self.future_file_id = cm[-1].id
        self._messages.end_initial()

    def advance(self, from_us: int, to_us: int) -> None:
        """Generate activity with timestamps in ``(from_us, to_us]`` and cut complete windows."""
        if not self.compliance_enabled or to_us <= from_us:
            return
        self._messages.advance(from_us, to_us)
        self._background.advance(from_us, to_us)
        self.inventory.advance(to_us)
        self.cut(to_us)

    def cut(self, now_us: int) -> list[LogFile]:
        """Cut files for complete windows in every stream."""
        return self.logs.cut(now_us)
