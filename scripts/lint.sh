#!/usr/bin/env bash
# The lint checks of .pre-commit-config.yaml, without pre-commit:
# ruff (lint and format check), pylint-odoo's OCA mandatory checks and OCA's
# checks of the addon and of its translation files.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${ODOO_PYTHON:-python3.12}"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m pylint --rcfile=.pylintrc serial_correspondence
# OCA's checks (oca-odoo-pre-commit-hooks): in OCA_HOOKS_BIN, or on the PATH
OCA_HOOKS_BIN="${OCA_HOOKS_BIN:-}"
if ! command -v "${OCA_HOOKS_BIN:+$OCA_HOOKS_BIN/}oca-checks-po" >/dev/null; then
    echo "lint: oca-checks-po is missing: pip install -r requirements-dev.txt" \
        "(or OCA_HOOKS_BIN=/path/to/its/bin)" >&2
    exit 1
fi
# (the demo's German texts are its records again with context lang de_DE)
"${OCA_HOOKS_BIN:+$OCA_HOOKS_BIN/}oca-checks-odoo-module" \
    --disable=xml-duplicate-record-id serial_correspondence/__manifest__.py
"${OCA_HOOKS_BIN:+$OCA_HOOKS_BIN/}oca-checks-po" \
    serial_correspondence/i18n/*.po serial_correspondence/i18n/*.pot
echo "lint: clean"
