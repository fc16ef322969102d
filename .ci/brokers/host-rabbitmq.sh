#!/usr/bin/env bash
# Start (or stop) Debian 12's rabbitmq-server (3.10.x) on the host.
#   AMQP 5672, management 15672, guest/guest, node rabbit@$(hostname -s).
# Usage: host-rabbitmq.sh [start|stop]   (default: start; idempotent)
set -euo pipefail

log() { echo "[host-rabbitmq] $*"; }
die() { echo "[host-rabbitmq] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

ACTION="${1:-start}"
# Always the /usr/sbin wrappers: they run the CLI as the rabbitmq user with its
# Erlang cookie (the /usr/lib/rabbitmq/bin ones would use root's cookie).
CTL=/usr/sbin/rabbitmqctl
PLUGINS=/usr/sbin/rabbitmq-plugins
SERVER=/usr/sbin/rabbitmq-server
NODE_HOST="$(hostname -s)"
PIDFILE="/var/lib/rabbitmq/mnesia/rabbit@${NODE_HOST}.pid"
STATS_INTERVAL_MS=500
export DEBIAN_FRONTEND=noninteractive

node_running() { [ -x "$CTL" ] && "$CTL" -q status >/dev/null 2>&1; }

if [ "$ACTION" = stop ]; then
    if node_running; then
        log "stopping rabbit@${NODE_HOST}"
        "$CTL" stop "$PIDFILE" >/dev/null || die "rabbitmqctl stop failed"
        log "stopped"
    else
        log "not running"
    fi
    exit 0
fi
[ "$ACTION" = start ] || die "unknown action '$ACTION' (use start|stop)"

# ---- install -----------------------------------------------------------------
if dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null | grep -q 'install ok installed'; then
    log "rabbitmq-server already installed ($(dpkg-query -W -f='${Version}' rabbitmq-server))"
else
    # Keep the package's maintainer scripts from starting a service (no init
    # system here, and a node may already be running): policy-rc.d 101.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    cleanup_policy() { if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup_policy EXIT
    if ! apt-cache show rabbitmq-server >/dev/null 2>&1 \
       || [ "$(apt-cache policy rabbitmq-server | awk '/Candidate:/{print $2}')" = "(none)" ]; then
        log "apt-get update"
        apt-get update -qq || die "apt-get update failed"
    fi
    log "apt-get install rabbitmq-server"
    if ! apt-get install -y -qq --no-install-recommends rabbitmq-server >/tmp/host-rabbitmq-apt.log 2>&1; then
        log "install failed; retrying after apt-get update"
        apt-get update -qq || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends rabbitmq-server >/tmp/host-rabbitmq-apt.log 2>&1 \
            || { tail -20 /tmp/host-rabbitmq-apt.log >&2; die "apt-get install rabbitmq-server failed (log: /tmp/host-rabbitmq-apt.log)"; }
    fi
    cleanup_policy; trap - EXIT
    log "installed rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server)"
fi

# ---- management plugin -------------------------------------------------------
if grep -qs 'rabbitmq_management' /etc/rabbitmq/enabled_plugins; then
    log "management plugin already enabled"
else
    log "enabling rabbitmq_management"
    if node_running; then
        "$PLUGINS" -q enable rabbitmq_management >/dev/null || die "rabbitmq-plugins enable failed"
    else
        "$PLUGINS" -q enable --offline rabbitmq_management >/dev/null || die "rabbitmq-plugins enable --offline failed"
    fi
fi

# ---- statistics every 500 ms (default 5 s), so management API snapshots are fresh -------
STATS_LINE="collect_statistics_interval = $STATS_INTERVAL_MS"
if ! grep -qsx "$STATS_LINE" /etc/rabbitmq/rabbitmq.conf; then
    sed -i '/^collect_statistics_interval/d' /etc/rabbitmq/rabbitmq.conf 2>/dev/null || true
    echo "$STATS_LINE" >> /etc/rabbitmq/rabbitmq.conf
fi

# ---- start -------------------------------------------------------------------
if node_running; then
    log "node rabbit@${NODE_HOST} already running"
else
    log "starting rabbit@${NODE_HOST} (detached)"
    # -detached forks; run it as the rabbitmq user through the wrapper.
    "$SERVER" -detached || die "rabbitmq-server -detached failed"
fi
log "waiting for the node (pid file ${PIDFILE})"
"$CTL" -q wait --timeout 60 "$PIDFILE" >/dev/null \
    || die "node did not start; see /var/log/rabbitmq/rabbit@${NODE_HOST}.log"

# The pid-file wait returns once the app is booted; make sure listeners are up.
for _ in $(seq 1 60); do
    if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null; then
        break
    fi
    sleep 0.5
done
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || die "AMQP port 5672 not listening"
(exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null || die "management port 15672 not listening"

"$CTL" -q trace_on >/dev/null || die "rabbitmqctl trace_on failed"
# a node started before the config line existed takes the interval at run time too
"$CTL" -q eval "application:set_env(rabbit, collect_statistics_interval, $STATS_INTERVAL_MS)." >/dev/null \
    || die "setting collect_statistics_interval failed"
log "ready: amqp://guest:guest@127.0.0.1:5672/  http://127.0.0.1:15672/  ($("$CTL" -q version 2>/dev/null || echo '?'))"
