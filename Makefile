# Thin wrapper: the logic lives in scripts/.
.DEFAULT_GOAL := help
.PHONY: help install test bench-smoke soak lint demo fleet-demo bench bench-fleet chaos hub readme-settings build clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install:  ## create .venv and install the locked dependencies (uv)
	bash scripts/bootstrap.sh

test:  ## install everything, start PostgreSQL + S3 on free ports, run the whole test suite (two phases: parallel, then Meltano/Dagster)
	TEST_PHASES=1 bash scripts/test.sh $(PYTEST_ARGS)

bench-smoke:  ## the benchmarks' short modes, so they cannot rot (~1.5 min; CI runs it after `make test`)
	bash scripts/test.sh -m bench tests/bench tests/fleet

soak:  ## the long tests left out of `make test`: real-time pacing, more chaos seeds and kill points
	bash scripts/test.sh -m soak tests/tap tests/chaos

lint:  ## ruff + mypy on both packages
	bash scripts/bootstrap.sh
	.venv/bin/ruff check tap_chatgpt_compliance chatgpt_compliance_simulator orchestration tests scripts loaders
	.venv/bin/ruff format --check tap_chatgpt_compliance chatgpt_compliance_simulator orchestration tests scripts loaders
	.venv/bin/mypy tap_chatgpt_compliance chatgpt_compliance_simulator orchestration

demo:  ## simulator + local S3 + `meltano run tap-chatgpt-compliance target-s3`, then show what landed
	bash scripts/bootstrap.sh
	.venv/bin/python scripts/demo.py

fleet-demo:  ## every tenant of meltano.yml through Dagster (checks, a revoked key, alerts); ~1 min
	bash scripts/bootstrap.sh
	.venv/bin/python scripts/fleet_demo.py

bench:  ## issue #8 goals in one run: throughput, pacing, memory, requests (BENCH_ARGS=--quick: ~7 min)
	bash scripts/bootstrap.sh
	.venv/bin/python benchmarks/run.py $(BENCH_ARGS)

.PHONY: bench-attachments
bench-attachments:  ## issue #20: a 1 GiB attachment to storage vs curl | sha256 > file, 3x (BENCH_ARGS=--quick)
	bash scripts/bootstrap.sh
	.venv/bin/python benchmarks/attachments.py $(BENCH_ARGS)

bench-fleet:  ## what a tenant costs in the Dagster fleet: 20, 50, 100 tenants; first, idle, active hour (BENCH_FLEET_ARGS=--quick: 3, 6)
	bash scripts/bootstrap.sh
	.venv/bin/python benchmarks/fleet.py $(BENCH_FLEET_ARGS)

chaos:  ## thousands of seeded fault schedules against the simulator (CHAOS_ARGS="--schedules 500 --jobs 2")
	bash scripts/bootstrap.sh
	.venv/bin/python scripts/chaos.py $(or $(CHAOS_ARGS),--schedules 5000)

hub:  ## regenerate the Meltano Hub definition from `--about --format=json`
	.venv/bin/python scripts/generate_hub_definition.py

readme-settings:  ## regenerate the README settings table from `--about --format=markdown`
	.venv/bin/python scripts/update_readme_settings.py

build:  ## sdist + wheel into dist/
	.venv/bin/uv build

clean:  ## remove build and Meltano artefacts
	rm -rf dist .meltano output .pytest_cache .mypy_cache .ruff_cache
