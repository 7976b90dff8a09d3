"""Gen-1 REST reads: users, GPTs, projects, their configs and shares, file downloads (§1A)."""

from __future__ import annotations

from typing import Any

from .clock import HOUR_US
from .generator import Workspace
from .inventory import knowledge_file_expired
from .model import GPT_FILE, PROJECT_FILE, USER_FILE, Attachment, Config, Container, list_object
from .rand import hash01
from .responses import Request, Response, error_response, json_response
from .state import SimState
from .validation import file_format_param, limit_param


class RestApi:
    """The Gen-1 endpoints (scope and principal already checked by the caller)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.cfg = state.config

    # ------------------------------------------------------------------ shapes
    def _page(
        self, req: Request, items: list[dict[str, Any]], default: int, by_id: bool = True
    ) -> Response:
        """Build a Gen-1 list page: ``after`` = last id; quirk ``short_pages``."""
        limit = limit_param(req, default, 200, clamp=True)
        after = (req.query.get("after") or [""])[-1]
        if after:
            if by_id:
                rest = [i for i in items if i["id"] > after]
            else:
                ids = [i["id"] for i in items]
                rest = items[ids.index(after) + 1 :] if after in ids else []
        else:
            rest = items
        n = limit
        q = self.cfg.quirks
        if (
            q.short_pages
            and len(rest) > 1
            and hash01(self.cfg.seed, "short", req.path, after, limit) < q.short_page_rate
        ):
            n = max(1, min(limit, len(rest)) // 2)
        page = rest[:n]
        return json_response(200, list_object(page, has_more=len(rest) > len(page)))

    def _file_url(self, a: Attachment) -> str:
        return self.state.signed.mint(a.iter_body, a.mime_type, a.name, size=a.size)

    def _config_json(self, c: Container, cfg: Config, file_format: str) -> dict[str, Any]:
        p = c.prefix
        files = [
            a.gen1_file(p, self._file_url(a) if file_format == "url" else None) for a in cfg.files
        ]
        if file_format == "url":  # an expired file: created_at and download_url null (§2.3)
            for f in files:
                if knowledge_file_expired(self.cfg, f["id"]):
                    f["created_at"] = f["download_url"] = None
        tools = []
        for t in cfg.tools:
            tool = {
                "type": t["type"],
                "created_at": t["created_at"],
                "action_domain": t.get("action_domain"),
                "action_openapi_raw": t.get("action_openapi_raw"),
                "action_privacy_policy_url": t.get("action_privacy_policy_url"),
            }
            if c.kind == "gpt":  # §2.4: "ProjectTool has no auth_type"
                tool["auth_type"] = t.get("auth_type")
            tools.append(tool)
        return {
            "object": f"{p}.configuration",
            "id": cfg.id,
            "name": cfg.name,
            "description": cfg.description,
            "categories": cfg.categories,
            "conversation_starters": cfg.conversation_starters,
            "created_at": cfg.created_us / 1e6,
            "instructions": cfg.instructions,
            "version_author": {
                "object": f"{p}.version_author",
                "id": cfg.author.id,
                "email": cfg.author.email,
            },
            "files": list_object(files),
            "tools": {"object": "list", "data": tools, "has_more": False, "last_id": None},
        }

    def _container_json(self, ws: Workspace, c: Container, file_format: str) -> dict[str, Any]:
        p = c.prefix
        perms = {
            "object": f"{p}.permissions",
            "can_read": True,
            "can_view_config": False,
            "can_write": False,
        }
        users = ws.world.users_by_id()
        latest = self._config_json(c, c.configs[0], file_format)
        return {
            "object": p,
            "id": c.id,
            "created_at": c.created_us / 1e6,
            "owner_id": c.owner.id,
            "owner_email": c.owner.email,
            "builder_name": "Community Builder",
            "sharing": {
                "object": f"{p}.sharing",
                "visibility": c.visibility,
                "permissions": perms,
                "recipients": [
                    {
                        "object": f"{p}.shared_user",
                        "id": uid,
                        "email": users[uid].email,
                        "permissions": dict(perms),
                    }
                    for uid in c.shared_user_ids
                ],
            },
            "latest_config": (
                [latest]
                if c.kind == "project" and self.cfg.oddities.project_config_as_array
                else list_object([latest])
            ),
        }

    @staticmethod
    def _containers(ws: Workspace, key: str) -> list[Container]:
        return ws.world.gpts if key == "gpt_id" else ws.world.projects

    def _find(self, req: Request, ws: Workspace, key: str) -> Container | Response:
        """Return the GPT or project named by path parameter ``key``, or a 404."""
        cid = req.params[key]
        for c in self._containers(ws, key):
            if c.id == cid:
                return c
        what = key.split("_")[0].upper()
        return error_response(404, f"{what} '{cid}' not found.", code="not_found")

    # ------------------------------------------------------------------ endpoints
    def list_users(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users`` (reference §1A #3, §2.2)."""
        items = sorted((u.to_json() for u in ws.world.users), key=lambda u: u["id"])
        return self._page(req, items, 200)

    def list_gpts(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts`` (reference §1A #4)."""
        ff = file_format_param(req)
        return self._page(req, [self._container_json(ws, g, ff) for g in ws.world.gpts], 20)

    def list_projects(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects`` (reference §1A #15)."""
        ff = file_format_param(req)
        return self._page(req, [self._container_json(ws, p, ff) for p in ws.world.projects], 20)

    def _get(self, req: Request, ws: Workspace, key: str) -> Response:
        c = self._find(req, ws, key)
        if isinstance(c, Response):
            return c
        return json_response(200, self._container_json(ws, c, file_format_param(req)))

    def get_gpt(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts/{gpt_id}`` (reference §1A #5)."""
        return self._get(req, ws, "gpt_id")

    def get_project(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects/{project_id}`` (reference §1A #16)."""
        return self._get(req, ws, "project_id")

    def _configs(self, req: Request, ws: Workspace, key: str) -> Response:
        c = self._find(req, ws, key)
        if isinstance(c, Response):
            return c
        ff = file_format_param(req)
        return self._page(req, [self._config_json(c, x, ff) for x in c.configs], 20, by_id=False)

    def gpt_configs(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts/{gpt_id}/configs`` (reference §1A #6), newest first."""
        return self._configs(req, ws, "gpt_id")

    def project_configs(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects/{project_id}/configs`` (reference §1A #17), newest first."""
        return self._configs(req, ws, "project_id")

    def _shared(self, req: Request, ws: Workspace, key: str) -> Response:
        c = self._find(req, ws, key)
        if isinstance(c, Response):
            return c
        users = ws.world.users_by_id()
        return self._page(req, [users[uid].to_json() for uid in c.shared_user_ids], 200)

    def gpt_shared_users(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpts/{gpt_id}/shared_users`` (reference §1A #7)."""
        return self._shared(req, ws, "gpt_id")

    def project_shared_users(self, req: Request, ws: Workspace) -> Response:
        """``GET …/projects/{project_id}/shared_users`` (reference §1A #18)."""
        return self._shared(req, ws, "project_id")

    def user_file(self, req: Request, ws: Workspace) -> Response:
        """``GET …/users/{user_id}/files/{file_id}`` (reference §1A #9, §3.3)."""
        fid, uid = req.params["file_id"], req.params["user_id"]
        a = ws.world.attachment(fid, USER_FILE)
        if a is None or a.user_id != uid:
            return error_response(
                404, f"File '{fid}' not found for user '{uid}'.", code="not_found"
            )
        conv_id = (req.query.get("conversation_id") or [""])[-1]
        if a.needs_conversation_id and not conv_id:
            return error_response(
                400,
                "conversation_id is required to download audio and video files.",
                code="missing_required_parameter",
                param="conversation_id",
            )
        if conv_id and conv_id != a.conversation_id:
            return error_response(
                404, f"File '{fid}' not found in conversation '{conv_id}'.", code="not_found"
            )
        now = self.state.now_us()
        if self.cfg.quirks.expired_attachments and a.uploaded_us < now - int(
            self.cfg.attachment_retention_hours * HOUR_US
        ):
            return error_response(410, f"File '{fid}' has expired.", code="file_expired")
        return Response(307, b"", [("Location", self._file_url(a))])

    def _static_file(self, req: Request, ws: Workspace, kind: str) -> Response:
        fid = req.params["file_id"]
        a = ws.world.attachment(fid, kind)
        if a is None:
            return error_response(404, f"File '{fid}' not found.", code="not_found")
        if ws.inventory.knowledge_file_expired(fid):
            return error_response(410, f"File '{fid}' has expired.", code="file_expired")
        return Response(307, b"", [("Location", self._file_url(a))])

    def gpt_file(self, req: Request, ws: Workspace) -> Response:
        """``GET …/gpt_files/{file_id}`` (reference §1A #8); kept indefinitely."""
        return self._static_file(req, ws, GPT_FILE)

    def project_file(self, req: Request, ws: Workspace) -> Response:
        """``GET …/project_files/{file_id}`` (reference §1A #19); kept indefinitely."""
        return self._static_file(req, ws, PROJECT_FILE)
