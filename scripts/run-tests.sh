#!/usr/bin/env bash
# Runs the full test suite of serial_correspondence on a real Odoo 18.0,
# PostgreSQL and queue_job. Usage: scripts/run-tests.sh [extra --test-tags]
source "$(dirname "$0")/lib.sh"

find_odoo
install_system_packages
start_postgresql
install_python_packages

DB="${TEST_DB:-serial_correspondence_test}"
LOG="$REPO_ROOT/var/$DB.log"
mkdir -p "$REPO_ROOT/var"
dropdb --if-exists "$DB" >/dev/null
TAGS="${1:-/serial_correspondence}"

echo "== running the tests of serial_correspondence with $PY (Odoo in $ODOO_DIR)"
set +e
"$PY" "$ODOO_DIR/odoo-bin" \
    --database="$DB" \
    --addons-path="$(addons_path)" \
    --init=serial_correspondence \
    --test-enable --test-tags="$TAGS" \
    --stop-after-init \
    --http-port="${TEST_HTTP_PORT:-8169}" \
    --log-level=info \
    2>&1 | tee "$LOG" | grep -E --line-buffered \
        'ERROR|FAIL|Traceback|odoo\.tests\.(stats|result)|Starting Test|tests when loading|^ *(File|[A-Za-z]*Error)'
rc=${PIPESTATUS[0]}
set -e

summary="$(grep -E 'failed, [0-9]+ error\(s\) of [0-9]+ tests' "$LOG" | tail -1 || true)"
if [ -z "$summary" ]; then
    echo "ERROR: the Odoo test run printed no result (see $LOG)." >&2
    echo "0 passed, 1 failed"
    exit 1
fi
failed=$(sed -E 's/.* ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\1/' <<<"$summary")
errors=$(sed -E 's/.* ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\2/' <<<"$summary")
total=$(sed -E 's/.* ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\3/' <<<"$summary")
bad=$((failed + errors))
echo "tests: $((total - bad)) passed, $bad failed"
if [ "$total" -eq 0 ]; then
    echo "ERROR: no test ran." >&2
    exit 1
fi
if [ "$bad" -ne 0 ] || [ "$rc" -ne 0 ] || grep -q ' ERROR ' "$LOG"; then
    echo "ERROR: the suite is red (odoo-bin exit $rc); see $LOG" >&2
    exit 1
fi
