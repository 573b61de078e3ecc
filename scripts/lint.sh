#!/usr/bin/env bash
# The lint checks of .pre-commit-config.yaml, without pre-commit:
# ruff (lint and format check), pylint-odoo's OCA mandatory checks and OCA's
# checks of the translation files.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${ODOO_PYTHON:-python3.12}"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m pylint --rcfile=.pylintrc serial_correspondence
OCA_CHECKS_PO="${OCA_CHECKS_PO:-oca-checks-po}"
if ! command -v "$OCA_CHECKS_PO" >/dev/null; then
    echo "lint: oca-checks-po is missing: pip install -r requirements-dev.txt" \
        "(or OCA_CHECKS_PO=/path/to/oca-checks-po)" >&2
    exit 1
fi
"$OCA_CHECKS_PO" serial_correspondence/i18n/*.po serial_correspondence/i18n/*.pot
echo "lint: clean"
