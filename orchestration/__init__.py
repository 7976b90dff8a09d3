"""Dagster code location for a fleet of tenants archived with tap-chatgpt-compliance (issue #10).

``dagster definitions validate -m orchestration.definitions`` /
``dagster dev -m orchestration.definitions`` (from the wheel: ``chatgpt_compliance_fleet``);
see docs/fleet.md.
"""
