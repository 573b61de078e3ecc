#!/usr/bin/env bash
# The lint checks of .pre-commit-config.yaml, without pre-commit:
# ruff (lint and format check) and pylint-odoo's OCA mandatory checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${ODOO_PYTHON:-python3.12}"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m pylint --rcfile=.pylintrc serial_correspondence
echo "lint: clean"
