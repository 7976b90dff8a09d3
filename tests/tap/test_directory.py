"""Directory streams (users, GPTs, projects) keep what the API sends (issue #7, item 6)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import requests

from chatgpt_compliance_simulator import Oddities, Simulator
from tap_chatgpt_compliance import schemas
from tests.support.tap import TapRun, run_tap, tap_config

DIRECTORY = ("users", "gpts", "projects")
DROPPED = "not found in catalog schema"


def schemas_of(run: TapRun) -> dict[str, dict[str, Any]]:
    """Return the SCHEMA message of each stream, as the target sees it."""
    found = {}
    for line in run.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            found[message["stream"]] = message["schema"]
    return found


def delivered(sim: Simulator, stream: str) -> dict[str, dict[str, Any]]:
    """Return every item of a directory list, by id, as the API delivers it."""
    items: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        response = requests.get(
            f"{sim.base_url}/compliance/workspaces/{sim.workspace_id}/{stream}",
            params={"limit": 20, "after": after},
            headers={"Authorization": f"Bearer {sim.api_key}"},
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        items.update((item["id"], item) for item in body["data"])
        if not body["has_more"]:
            return items
        after = body["last_id"]


def without_urls(value: Any) -> Any:
    """Return ``value`` with every ``download_url`` blanked, recursively."""
    if isinstance(value, dict):
        return {k: None if k == "download_url" else without_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_urls(v) for v in value]
    return value


def check_directory(sim: Simulator, run: TapRun) -> None:
    """Every record fits its own SCHEMA, nothing is dropped, ``item`` is the item delivered."""
    assert run.returncode == 0, run.stderr[-3000:]
    dropped = [
        line
        for line in run.stderr.splitlines()
        if DROPPED in line and any(f"'{stream}' stream" in line for stream in DIRECTORY)
    ]
    assert dropped == []
    declared = schemas_of(run)
    for stream in DIRECTORY:
        records = run.records[stream]
        assert records, stream
        expected = delivered(sim, stream)
        assert {r["id"] for r in records} == set(expected), stream
        validator = jsonschema.Draft202012Validator(declared[stream])
        for record in records:
            errors = [e.message for e in validator.iter_errors(record)]
            assert errors == [], (stream, record["id"], errors)
            # Signed download URLs are minted afresh for every request: compare the rest.
            assert without_urls(record["item"]) == without_urls(expected[record["id"]])
            assert record["workspace_id"] == sim.workspace_id
            for field, value in record["item"].items():
                if field in declared[stream]["properties"] and field != "created_at":
                    assert record[field] == value, (stream, field)


def test_directory_records_keep_every_field(simulator: Simulator) -> None:
    """On the simulator's data: builder_name on projects too, no warning, originals kept."""
    run = run_tap(tap_config(simulator, file_content="none"))
    check_directory(simulator, run)
    assert {r["builder_name"] for r in run.records["projects"]} == {"Community Builder"}
    assert all(isinstance(r["latest_config"], dict) for r in run.records["gpts"])
    assert all(r["created_at"].endswith("+00:00") for r in run.records["users"])


def test_project_latest_config_as_an_array(simulator_factory) -> None:
    """Published samples show ``latest_config`` as a bare array: it fits the schema as is."""
    sim = simulator_factory(oddities=Oddities(project_config_as_array=True))
    run = run_tap(tap_config(sim, file_content="none"))
    check_directory(sim, run)
    configs = [r["latest_config"] for r in run.records["projects"]]
    assert configs
    assert all(isinstance(config, list) and config for config in configs)


@pytest.mark.parametrize(
    ("schema", "record"),
    [
        (schemas.USER, {"id": "user-1", "workspace_id": "w", "display_name": "Dana Ito"}),
        (schemas.PROJECT, {"id": "g-p", "workspace_id": "w", "latest_config": []}),
        (schemas.PROJECT, {"id": "g-p", "workspace_id": "w", "latest_config": {"data": []}}),
        (schemas.GPT, {"id": "g-1", "workspace_id": "w", "latest_config": None}),
    ],
)
def test_shapes_seen_in_published_samples_are_declared(schema: dict, record: dict) -> None:
    jsonschema.validate(record, schema)
