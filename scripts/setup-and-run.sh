#!/usr/bin/env bash
# Sets up and runs the demo of serial_correspondence on an installed Odoo 18.0:
# PostgreSQL, a demo database with the addon, its demo data (a German club,
# its contacts and templates) and German, an SMTP sink on loopback that keeps
# every e-mail Odoo sends, the demo's serial correspondences (made once by the
# real workflow: serial_correspondence/testing/demo_correspondences.py), then Odoo with queue_job's
# job runner in the foreground. Ctrl-C stops Odoo and the sink.
#
# Usage: scripts/setup-and-run.sh [--reset] [--db NAME] [--http-port N]
#            [--smtp-port N] [--workers N] [--http-interface ADDR]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: scripts/setup-and-run.sh [options]

Sets up the demo of serial_correspondence (once) and runs it.

  --reset               drop the demo database and create it anew
  --db NAME             database name (default: serial_correspondence_demo)
  --http-port N         Odoo's HTTP port (default: 8069; websocket port N+3)
  --smtp-port N         port of the SMTP sink on 127.0.0.1 (default: 2525)
  --workers N           Odoo HTTP workers (default: 0 = threaded server, live updates)
  --http-interface ADDR address Odoo listens on (default: 127.0.0.1;
                        0.0.0.0 to reach the demo from other machines)
  -h, --help            this text

Odoo 18.0 must be installed: see README.md (python3.12 importing odoo, or
ODOO_PATH / ODOO_PYTHON).
USAGE
}

DB=serial_correspondence_demo
HTTP_PORT=8069
SMTP_HOST=127.0.0.1
SMTP_PORT=2525
WORKERS=0
HTTP_INTERFACE=127.0.0.1
RESET=0
# serial correspondence jobs get at most one HTTP worker, other jobs a second
QUEUE_JOB_CHANNELS="root:2,root.serial_correspondence:1"

while [ $# -gt 0 ]; do
    case "$1" in
        --reset) RESET=1 ;;
        --db) DB="${2:?--db needs a name}"; shift ;;
        --http-port) HTTP_PORT="${2:?--http-port needs a number}"; shift ;;
        --smtp-port) SMTP_PORT="${2:?--smtp-port needs a number}"; shift ;;
        --workers) WORKERS="${2:?--workers needs a number}"; shift ;;
        --http-interface) HTTP_INTERFACE="${2:?--http-interface needs an address}"; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
[[ "$DB" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "invalid database name: $DB"
for number in "$HTTP_PORT" "$SMTP_PORT" "$WORKERS"; do
    [[ "$number" =~ ^[0-9]+$ ]] || die "not a number: $number"
done
GEVENT_PORT=$((HTTP_PORT + 3))

find_odoo
install_system_packages
start_postgresql
install_python_packages

DEMO_DIR="$REPO_ROOT/var/demo"
MAIL_DIR="$REPO_ROOT/var/mail"
CONF="$DEMO_DIR/$DB.conf"
SINK_LOG="$REPO_ROOT/var/smtp-sink.log"
mkdir -p "$DEMO_DIR" "$MAIL_DIR"

port_free() {  # host port -> success when nothing listens there
    "$PY" - "$1" "$2" <<'PY'
import socket, sys
with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((sys.argv[1], int(sys.argv[2])))
    except OSError:
        sys.exit(1)
PY
}

port_free "$HTTP_INTERFACE" "$HTTP_PORT" \
    || die "port $HTTP_PORT is in use (another Odoo?); choose one with --http-port N."
if [ "$WORKERS" -gt 0 ]; then
    port_free "$HTTP_INTERFACE" "$GEVENT_PORT" \
        || die "port $GEVENT_PORT (websocket, --http-port + 3) is in use; choose another --http-port."
fi
port_free "$SMTP_HOST" "$SMTP_PORT" \
    || die "port $SMTP_PORT is in use (an SMTP sink still running?); choose one with --smtp-port N."

# Our own configuration file: Odoo then ignores a ~/.odoorc of the user.
# Only this database is served, and only its jobs are run.
cat >"$CONF" <<CONF
[options]
addons_path = $(addons_path)
data_dir = $DEMO_DIR/data
db_name = $DB
dbfilter = ^$DB\$
list_db = False
without_demo = False

[queue_job]
channels = $QUEUE_JOB_CHANNELS
CONF

odoo() {
    "$PY" "$ODOO_DIR/odoo-bin" "$@"
}

db_exists() {
    [ "$(psql -d postgres -At -v db="$DB" <<<"select count(*) from pg_database where datname = :'db'")" = 1 ]
}

if [ "$RESET" = 1 ] && db_exists; then
    echo "== dropping database $DB"
    dropdb "$DB"
    rm -rf "$DEMO_DIR/data/filestore/$DB"
fi

INSTALL_LOG="$DEMO_DIR/$DB-install.log"

# Odoo's log while it installs or updates modules, as progress: one line per
# module ("[ 12/41] mail"), rewritten in place on a terminal; warnings and
# errors in full. The whole log is in $INSTALL_LOG.
show_progress() {
    local line level tty=0 open_line=0 show_more=1
    local log_re='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:,]+ [0-9]+ ([A-Z]+) '
    local module_re='Loading module ([A-Za-z0-9_]+) \(([0-9]+)/([0-9]+)\)'
    [ -t 1 ] && tty=1
    while IFS= read -r line; do
        if [[ $line =~ $log_re ]]; then
            level="${BASH_REMATCH[1]}"
            show_more=0
            if [[ $level =~ ^(WARNING|ERROR|CRITICAL)$ ]]; then
                [ "$open_line" = 1 ] && printf '\n' && open_line=0
                printf '%s\n' "$line"
                show_more=1  # and the traceback that follows
            elif [[ $line =~ $module_re ]]; then
                if [ "$tty" = 1 ]; then
                    printf '\r\033[K   [%3d/%d] %s' "${BASH_REMATCH[2]}" \
                        "${BASH_REMATCH[3]}" "${BASH_REMATCH[1]}"
                    open_line=1
                else
                    printf '   [%3d/%d] %s\n' "${BASH_REMATCH[2]}" \
                        "${BASH_REMATCH[3]}" "${BASH_REMATCH[1]}"
                fi
            fi
        elif [ "$show_more" = 1 ]; then
            [ "$open_line" = 1 ] && printf '\n' && open_line=0
            printf '%s\n' "$line"
        fi
    done
    if [ "$open_line" = 1 ]; then printf '\r\033[K'; fi
}

if db_exists; then
    installed="$(psql -d "$DB" -Atc \
        "select state from ir_module_module where name = 'serial_correspondence'" 2>/dev/null || true)"
    [ "$installed" = installed ] \
        || die "database $DB exists but is not a complete demo database; run again with --reset."
    echo "== updating serial_correspondence in database $DB (log: $INSTALL_LOG)"
    odoo -c "$CONF" -d "$DB" --update=serial_correspondence --stop-after-init \
        --no-http --log-level=info 2>&1 | tee "$INSTALL_LOG" | show_progress
else
    # in German, as a German club would create it: German is the language of
    # the user interface and of new contacts (English is active too)
    echo "== creating database $DB with serial_correspondence, its demo data and German (log: $INSTALL_LOG)"
    odoo -c "$CONF" -d "$DB" --init=serial_correspondence --load-language=de_DE \
        --stop-after-init --no-http --log-level=info 2>&1 | tee "$INSTALL_LOG" | show_progress
fi

SINK_PID=""
ODOO_PID=""
# shellcheck disable=SC2317  # run by the traps below
stop_all() {
    trap - EXIT INT TERM
    if [ -n "$ODOO_PID" ] && kill -0 "$ODOO_PID" 2>/dev/null; then
        kill -TERM "$ODOO_PID" 2>/dev/null || true
        wait "$ODOO_PID" 2>/dev/null || true
    fi
    if [ -n "$SINK_PID" ] && kill -0 "$SINK_PID" 2>/dev/null; then
        kill -TERM "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
    fi
    echo "== stopped Odoo and the SMTP sink"
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

echo "== starting the SMTP sink (log: $SINK_LOG)"
# the addon's own test-support sink, run as a script (standard library and
# aiosmtpd only)
"$PY" "$REPO_ROOT/serial_correspondence/testing/smtp_sink.py" \
    --host "$SMTP_HOST" --port "$SMTP_PORT" --dir "$MAIL_DIR" >>"$SINK_LOG" 2>&1 &
SINK_PID=$!
for _ in $(seq 1 50); do
    port_free "$SMTP_HOST" "$SMTP_PORT" || break
    kill -0 "$SINK_PID" 2>/dev/null || break
    sleep 0.2
done
kill -0 "$SINK_PID" 2>/dev/null || die "the SMTP sink did not start; see $SINK_LOG"

echo "== admin: password admin, notifications in Odoo; outgoing mail server: SMTP sink on $SMTP_HOST:$SMTP_PORT"
echo "== the demo's serial correspondences (made once per database by the real workflow; e-mails to the sink)"
SC_SMTP_HOST="$SMTP_HOST" SC_SMTP_PORT="$SMTP_PORT" \
    SC_DEMO_SCRIPT="$REPO_ROOT/serial_correspondence/testing/demo_correspondences.py" \
    odoo shell -c "$CONF" -d "$DB" --no-http --log-level=warn <<'PY'
import os
import runpy

admin = env.ref("base.user_admin")
admin.password = "admin"
# notifications (e.g. "recipients read") in Odoo's inbox, not by e-mail
admin.notification_type = "inbox"
env.cr.commit()
# the outgoing mail servers (to the sink; the newsletter sender's with a
# sending limit of its own), and a serial letter or e-mail in each state
demo = runpy.run_path(os.environ["SC_DEMO_SCRIPT"])
demo["main"](env, os.environ["SC_SMTP_HOST"], os.environ["SC_SMTP_PORT"])
PY

cat <<BANNER

=====================================================================
 Serial Correspondence demo (database $DB)

   URL:       http://localhost:$HTTP_PORT
   Login:     admin
   Password:  admin

   The club "Musterverein Berlin e. V." writes to its members, supporters
   and the press (Kontakte, tags Mitglieder, Förderer, Presse): German
   contacts, one in English, with every communication status; templates
   in German and English (each contact gets its own language). Six serial
   letters and e-mails show the states. "Neues aus dem Verein" waits: its
   sender newsletter@musterverein-berlin.example goes through the mail
   server "SMTP sink, newsletter (demo)", which allows 2 e-mails per 60
   minutes, so it sends two more by itself every hour. Other serial
   e-mails: at most 100 per 60 minutes (Settings, Sending limits).
   The database speaks German, as a German club's would; for English:
   user menu (top right) > Präferenzen > Sprache: English (US).

   E-mails Odoo sends go to the SMTP sink on $SMTP_HOST:$SMTP_PORT, which
   stores each delivery as a .eml file in $MAIL_DIR/
   (log: $SINK_LOG).
   Background jobs: queue_job runner, channels $QUEUE_JOB_CHANNELS.

   Stop with Ctrl-C.  Start afresh: scripts/setup-and-run.sh --reset
=====================================================================

BANNER
if [ "$WORKERS" -gt 0 ]; then
    cat <<NOTE
Note: with --workers $WORKERS Odoo serves live updates (websocket) on port
$GEVENT_PORT only, which a browser reaches through a reverse proxy routing
/websocket there. Without one, there are no live updates: messages show up
on reloading the page, toasts not at all. Run with --workers 0 to have them.

NOTE
fi

# In the background and waited for, so that Ctrl-C and SIGTERM reach the
# traps, which stop Odoo and then the sink. (Not through the odoo function:
# $! would be the pid of a subshell, not Odoo's.)
"$PY" "$ODOO_DIR/odoo-bin" -c "$CONF" -d "$DB" \
    --load=base,web,queue_job \
    --workers="$WORKERS" \
    --http-interface="$HTTP_INTERFACE" \
    --http-port="$HTTP_PORT" \
    --gevent-port="$GEVENT_PORT" &
ODOO_PID=$!
set +e
wait "$ODOO_PID"
rc=$?
set -e
ODOO_PID=""
exit "$rc"
