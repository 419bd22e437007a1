# Shortcuts; each target is one of the README's commands.
.PHONY: run test lint format migrate openapi

run:
	python3 run.py

test:
	python3 run_tests.py

lint:
	.venv/bin/ruff check .

format:
	.venv/bin/ruff format .

migrate:
	FLASK_APP=run.py .venv/bin/flask db upgrade

openapi:
	FLASK_APP=run.py .venv/bin/flask openapi write --format=json docs/openapi.json
