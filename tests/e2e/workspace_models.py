"""The workspace-object dbt models (issue 21) checked against the simulator's ground truth.

Called by ``test_dbt.py`` after its incremental ``meltano run … target-postgres
dbt-postgres--acme:build`` runs (the workspace streams are selected by the project's ``*.*``
and refreshed on every run there): ``gpt_instruction_history`` and ``project_config_history``
hold every configuration version in order with what changed, ``canvas_versions`` every
version of every canvas with its text and size delta, ``canvases`` one row per canvas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Rows = Callable[..., list[tuple]]


def _file_ids(config: dict[str, Any]) -> list[str]:
    files = config.get("files")
    data = files.get("data") if isinstance(files, dict) else files
    return [f["id"] for f in data or []]


def _tool_kinds(config: dict[str, Any]) -> list[dict[str, Any]]:
    tools = config.get("tools")
    data = tools.get("data") if isinstance(tools, dict) else tools
    return [{k: v for k, v in t.items() if k != "created_at"} for t in data or []]


def _history(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The expected rows of one GPT's (project's) history, oldest first."""
    ordered = sorted(configs, key=lambda c: (c["created_at"], c["id"]))
    out = []
    for number, config in enumerate(ordered, 1):
        before = ordered[number - 2] if number > 1 else None
        changed = None if before is None else config["instructions"] != before["instructions"]
        fields = []
        if before is not None:
            for name, value in (
                ("name", lambda c: c["name"]),
                ("description", lambda c: c["description"]),
                ("instructions", lambda c: c["instructions"]),
                ("conversation_starters", lambda c: c["conversation_starters"]),
                ("categories", lambda c: c["categories"]),
                ("knowledge_files", _file_ids),
                ("tools", _tool_kinds),
            ):
                if value(config) != value(before):
                    fields.append(name)
        ids = _file_ids(config)
        previous = _file_ids(before) if before is not None else []
        out.append(
            {
                "config_id": config["id"],
                "version_number": number,
                "version_count": len(ordered),
                "is_current": number == len(ordered),
                "instructions": config["instructions"],
                "changed_from_previous": changed,
                "changed_fields": fields,
                "knowledge_file_ids": ids,
                "knowledge_files_added": sorted(set(ids) - set(previous)),
                "knowledge_files_removed": sorted(set(previous) - set(ids)),
                "created_at": config["created_at"],
                "version_author_id": config["version_author"]["id"],
            }
        )
    return out


def check_config_history(rows: Rows, schema: str, truth: dict[str, Any], kind: str) -> int:
    """Every configuration of the truth is one row of the history model, in order; return the
    number of versions that changed the instructions."""
    model = {"gpt": "gpt_instruction_history", "project": "project_config_history"}[kind]
    parent = f"{kind}_id"
    got: dict[str, list[dict[str, Any]]] = {}
    for row in rows(
        f"SELECT {parent}, config_id, version_number, version_count, is_current, instructions,"
        " changed_from_previous, changed_fields, knowledge_file_ids, knowledge_files_added,"
        " knowledge_files_removed, extract(epoch from created_at), version_author_id"
        f" FROM {schema}.{model} ORDER BY {parent}, version_number"
    ):
        owner, *values = row
        keys = [
            "config_id",
            "version_number",
            "version_count",
            "is_current",
            "instructions",
            "changed_from_previous",
            "changed_fields",
            "knowledge_file_ids",
            "knowledge_files_added",
            "knowledge_files_removed",
            "created_at",
            "version_author_id",
        ]
        got.setdefault(owner, []).append(dict(zip(keys, values, strict=True)))
    want = {owner: _history(configs) for owner, configs in truth[f"{kind}_configs"].items()}
    assert set(got) == {owner for owner, configs in want.items() if configs}, model
    changed = 0
    for owner, expected in want.items():
        if not expected:
            continue
        actual = got[owner]
        for row in actual:
            row["created_at"] = float(row["created_at"])
        for row, exp in zip(actual, expected, strict=True):
            assert abs(row.pop("created_at") - exp.pop("created_at")) < 1e-5, (owner, row)
            assert row == exp, (model, owner, row, exp)
            changed += bool(exp["changed_from_previous"])
    return changed


def check_canvas_versions(rows: Rows, schema: str, truth: dict[str, Any]) -> None:
    """Every version of every canvas, with its text, length delta and user; no canvas missing."""
    canvases = truth["canvases"]
    got = {
        (textdoc, version): (user, content, length, delta, changed, comments, latest)
        for textdoc, version, user, content, length, delta, changed, comments, latest in rows(
            "SELECT textdoc_id, version, user_id, content, content_length, length_delta,"
            f" content_changed, comment_count, is_latest FROM {schema}.canvas_versions"
        )
    }
    want = {}
    for textdoc, canvas in canvases.items():
        previous = None
        for index, version in enumerate(canvas["versions"]):
            content = version["content"]
            want[(textdoc, version["version"])] = (
                canvas["user_id"],
                content,
                len(content),
                len(content) - (len(previous) if previous is not None else 0),
                None if previous is None else content != previous,
                len(version["comments"]),
                index == len(canvas["versions"]) - 1,
            )
            previous = content
    assert got == want
    summary = {
        textdoc: (versions, latest, missing, user)
        for textdoc, versions, latest, missing, user in rows(
            "SELECT textdoc_id, versions_archived, latest_version, versions_missing, user_id"
            f" FROM {schema}.canvases"
        )
    }
    assert summary == {
        textdoc: (len(c["versions"]), len(c["versions"]), 0, c["user_id"])
        for textdoc, c in canvases.items()
    }


def check_workspace_models(
    rows: Rows, schema: str, truth: dict[str, Any], first: dict[str, Any]
) -> None:
    """All workspace models against ``truth`` (after the last run); ``first``: the truth after
    the first run, to prove that the later, incremental loads added versions."""
    changed = check_config_history(rows, schema, truth, "gpt")
    changed += check_config_history(rows, schema, truth, "project")
    assert changed, "no configuration changed its instructions: the test would prove little"
    check_canvas_versions(rows, schema, truth)

    def count(t: dict[str, Any]) -> tuple[int, int]:
        configs = sum(len(c) for c in t["gpt_configs"].values())
        versions = sum(len(c["versions"]) for c in t["canvases"].values())
        return configs, versions

    later_configs, later_versions = count(truth)
    first_configs, first_versions = count(first)
    assert later_configs > first_configs, "no configuration was added by an incremental load"
    assert later_versions > first_versions, "no canvas version was added by an incremental load"
    multi = [c for c in truth["canvases"].values() if len(c["versions"]) > 1]
    assert multi, "no canvas has several versions"
