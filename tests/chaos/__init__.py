"""Chaos tests: kill storms and seeded fault schedules against the simulator's ground truth."""
