"""Route templates of the API host (reference §1A-§1C) and the matching of request paths."""

from __future__ import annotations

WS = "/v1/compliance/workspaces/{workspace_id}"
ORG = "/v1/compliance/organizations/{organization_id}"

#: GET routes: template -> (handler name, requests per minute).
GET_ROUTES: dict[str, tuple[str, int]] = {
    f"{WS}/logs": ("list_logs", 100),
    f"{WS}/logs/{{log_file_id}}": ("download_log", 100),
    f"{WS}/max_event_time": ("max_event_time", 100),
    f"{ORG}/logs": ("list_logs", 100),
    f"{ORG}/logs/{{log_file_id}}": ("download_log", 100),
    f"{ORG}/max_event_time": ("max_event_time", 100),
    f"{WS}/users": ("list_users", 50),
    f"{WS}/users/{{user_id}}/files/{{file_id}}": ("user_file", 100),
    f"{WS}/gpts": ("list_gpts", 50),
    f"{WS}/gpts/{{gpt_id}}": ("get_gpt", 100),
    f"{WS}/gpts/{{gpt_id}}/configs": ("gpt_configs", 50),
    f"{WS}/gpts/{{gpt_id}}/shared_users": ("gpt_shared_users", 50),
    f"{WS}/gpt_files/{{file_id}}": ("gpt_file", 100),
    f"{WS}/projects": ("list_projects", 50),
    f"{WS}/projects/{{project_id}}": ("get_project", 100),
    f"{WS}/projects/{{project_id}}/configs": ("project_configs", 50),
    f"{WS}/projects/{{project_id}}/shared_users": ("project_shared_users", 50),
    f"{WS}/project_files/{{file_id}}": ("project_file", 100),
    # issue 21: what the workspace holds beyond users, GPTs and projects
    f"{WS}/memories": ("list_memories", 50),
    f"{WS}/users/{{user_id}}/memories": ("user_memories", 100),
    f"{WS}/users/{{user_id}}/canvases": ("list_canvases", 100),
    f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}": ("get_canvas", 100),
    f"{WS}/users/{{user_id}}/automations": ("list_automations", 100),
    f"{WS}/users/{{user_id}}/recordings": ("list_recordings", 100),
    f"{WS}/users/{{user_id}}/recordings/{{recording_id}}/transcript": ("recording_transcript", 100),
    f"{WS}/codex_tasks": ("list_codex_tasks", 100),
    f"{WS}/codex_tasks/{{task_id}}": ("get_codex_task", 100),
    f"{WS}/users/{{user_id}}/library_files": ("list_library_files", 100),
    f"{WS}/users/{{user_id}}/library_files/{{library_file_id}}": ("library_file", 100),
}

FILE_CONTENT_BUCKET = "file-content"
#: Routes whose requests share one bucket per API key instead of one per route (reference §3.4:
#: "File-content endpoints allow 100/min per key", where the others are "per endpoint per key").
SHARED_BUCKETS: dict[str, str] = {
    f"{WS}/users/{{user_id}}/files/{{file_id}}": FILE_CONTENT_BUCKET,
    f"{WS}/gpt_files/{{file_id}}": FILE_CONTENT_BUCKET,
    f"{WS}/project_files/{{file_id}}": FILE_CONTENT_BUCKET,
}

#: Write routes of reference §1C (all answered 405, counted, never change anything).
WRITE_ROUTES: list[str] = [
    f"{WS}/conversations/{{conversation_id}}",
    f"{WS}/users/{{user_id}}/conversations/{{conversation_id}}",
    f"{WS}/gpts/{{gpt_id}}",
    f"{WS}/gpts/{{gpt_id}}/files/{{file_id}}",
    f"{WS}/gpts/{{gpt_id}}/shared_users",
    f"{WS}/projects/{{project_id}}",
    f"{WS}/projects/{{project_id}}/files/{{file_id}}",
    f"{WS}/projects/{{project_id}}/shared_users",
    f"{WS}/projects/{{project_id}}/connector_scopes/{{scope_id}}",
    f"{WS}/users/{{user_id}}/files/{{file_id}}",
    f"{WS}/users/{{user_id}}/library_files/{{library_file_id}}",
    f"{WS}/users/{{user_id}}/memory_contexts/{{memory_context_id}}/memories/{{memory_id}}",
    f"{WS}/users/{{user_id}}/memory/delete_and_disable",
    f"{WS}/memory/delete_and_disable",
    f"{WS}/users/{{user_id}}/canvas/{{textdoc_id}}",
    f"{WS}/users/{{user_id}}/automations/{{automation_id}}",
    f"{WS}/users/{{user_id}}/recordings/{{recording_id}}",
    f"{WS}/codex_tasks/{{task_id}}",
    f"{WS}/codex_environments/{{environment_id}}",
    f"{WS}/agents/{{agent_id}}",
    f"{WS}/agents/{{agent_id}}/unpublish",
    f"{WS}/custom_agents/{{agent_id}}",
    f"{WS}/custom_agents/{{agent_id}}/unpublish",
    f"{WS}/skills",
    f"{WS}/skills/{{skill_id}}",
    f"{WS}/agent-skills",
]

UNMATCHED = "unmatched"
"""Counter key of requests that match no route."""
SIGNED_ROUTE = "signed"
"""Route name of the signed-URL host (``request_count``, ``inject``)."""


def _split(template: str) -> list[str]:
    return template.strip("/").split("/")


_GET_SPLIT = [(_split(t), t) for t in GET_ROUTES]
_WRITE_SPLIT = [(_split(t), t) for t in WRITE_ROUTES]


def match_route(path: str, method: str = "GET") -> tuple[str | None, dict[str, str]]:
    """Match ``path`` to a route template; return (template, path parameters)."""
    segs = path.strip("/").split("/")
    tables = _GET_SPLIT if method in ("GET", "HEAD") else _WRITE_SPLIT + _GET_SPLIT
    if (
        method not in ("GET", "HEAD")
        and segs[:3] == ["v1", "compliance", "workspaces"]
        and len(segs) > 4
        and segs[4] == "manage"
    ):
        return WS + "/manage/" + "/".join(segs[5:]), {}
    for tsegs, template in tables:
        if len(tsegs) != len(segs):
            continue
        params: dict[str, str] = {}
        for t, s in zip(tsegs, segs, strict=False):
            if t.startswith("{"):
                if not s:
                    break
                params[t[1:-1]] = s
            elif t != s:
                break
        else:
            return template, params
    return None, {}
