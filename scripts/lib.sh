#!/usr/bin/env bash
# Shared set-up for the project's scripts: finds an installed Odoo 18.0,
# installs the system and Python packages, starts PostgreSQL.
#
# Which Odoo: ODOO_PYTHON (a Python that imports Odoo 18.0), or ODOO_PATH
# (an Odoo 18.0 source tree, used with python3.12 or ODOO_PYTHON), otherwise
# the first of python3.12, python3, python3.11 that imports Odoo 18.0.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

die() {
    echo "ERROR: $*" >&2
    exit 2
}

odoo_version_of() {  # python -> prints 18.0 when it imports Odoo 18.0
    "$1" -c 'import odoo.release as r; print(r.major_version)' 2>/dev/null || true
}

find_odoo() {
    local candidates=()
    if [ -n "${ODOO_PATH:-}" ]; then
        [ -f "$ODOO_PATH/odoo/release.py" ] || die "ODOO_PATH=$ODOO_PATH is not an Odoo source tree (no odoo/release.py)."
        export PYTHONPATH="$ODOO_PATH${PYTHONPATH:+:$PYTHONPATH}"
    fi
    if [ -n "${ODOO_PYTHON:-}" ]; then
        candidates=("$ODOO_PYTHON")
    else
        candidates=(python3.12 python3 python3.11)
        # Pythons that are installed but not on the PATH (pyenv, /usr/local)
        local extra
        for extra in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3 /usr/local/bin/python3.1[0-9]; do
            [ -x "$extra" ] && candidates+=("$extra")
        done
    fi
    for py in "${candidates[@]}"; do
        command -v "$py" >/dev/null 2>&1 || continue
        if [ "$(odoo_version_of "$py")" = "18.0" ]; then
            PY="$(command -v "$py")"
            export PY
            ODOO_DIR="$("$PY" -c 'import os, odoo.release as r; print(os.path.dirname(os.path.dirname(os.path.abspath(r.__file__))))')"
            export ODOO_DIR
            return 0
        fi
    done
    cat >&2 <<'MSG'
ERROR: no Odoo 18.0 found.

This addon runs inside Odoo 18.0 Community, which these scripts do not install.
Provide one in either way, then run the command again:
  * install Odoo 18.0 for a Python (e.g. python3.12) so that
    `python3.12 -c "import odoo"` works (pip install of an Odoo 18.0 source
    tree, or a .pth file pointing at it), or
  * give the path of an Odoo 18.0 source tree:  ODOO_PATH=/path/to/odoo ...
    (optionally with ODOO_PYTHON=/path/to/python that has Odoo's requirements).
MSG
    exit 2
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_system_packages() {
    local missing=()
    command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
    command -v wkhtmltopdf >/dev/null 2>&1 || missing+=(wkhtmltopdf)
    command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
    # browser tours (Odoo's HttpCase looks for chromium on the PATH)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "== installing system packages: ${missing[*]}"
        as_root apt-get update -q
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}"
    fi
}

start_postgresql() {
    if ! pg_isready -q 2>/dev/null; then
        echo "== starting PostgreSQL"
        if command -v pg_ctlcluster >/dev/null 2>&1; then
            local version
            version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
            [ -d "/etc/postgresql/$version/main" ] || as_root pg_createcluster "$version" main
            as_root pg_ctlcluster "$version" main start || true
        else
            as_root service postgresql start
        fi
        for _ in $(seq 1 30); do pg_isready -q && break; sleep 1; done
        pg_isready -q || die "PostgreSQL did not start."
    fi
    local me
    me="$(id -un)"
    if ! psql -d postgres -Atc 'select 1' >/dev/null 2>&1; then
        echo "== creating PostgreSQL role $me"
        as_root su postgres -c "createuser --superuser $me" || true
    fi
}

install_python_packages() {
    # queue_job's wheel declares a dependency on the "odoo" distribution,
    # which an Odoo installed from a source tree does not register: install
    # it without dependencies and its own requirements next to it.
    if ! "$PY" -c 'import odoo.addons.queue_job' >/dev/null 2>&1 \
        && ! "$PY" -m pip show odoo-addon-queue_job >/dev/null 2>&1; then
        echo "== installing OCA queue_job"
        "$PY" -m pip install -q --no-deps 'odoo-addon-queue_job==18.0.*'
    fi
    if ! "$PY" -c 'import aiosmtpd, websocket, requests' >/dev/null 2>&1; then
        echo "== installing Python requirements"
        "$PY" -m pip install -q -r "$REPO_ROOT/requirements-test.txt"
    fi
}

addons_path() {
    local qj
    qj="$("$PY" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("odoo.addons.queue_job")
print(os.path.dirname(os.path.dirname(spec.origin)) if spec and spec.origin else "")
PY
)"
    [ -n "$qj" ] || die "OCA queue_job is not installed for $PY."
    echo "$ODOO_DIR/addons,$qj,$REPO_ROOT"
}
