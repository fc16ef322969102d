#!/usr/bin/env bash
# Start, stop, kill or restart Debian 12's rabbitmq-server (3.10.x) on the host.
#   AMQP 5672, management 15672, guest/guest, node rabbit@$(hostname -s).
# Usage: host-rabbitmq.sh [start|stop|kill|restart]   (default: start; idempotent)
#   start    install if needed, start the node if it is down, trace_on
#   stop     stop the node cleanly
#   kill     SIGKILL the node's beam.smp (a crash: `start` recovers from its data)
#   restart  stop, then start
# A successful start writes /run/rabbitsim/brokers/5672.json (version, ports,
# node, the argv of this node's rabbitmqctl, this script); stop and kill leave it.
set -euo pipefail

log() { echo "[host-rabbitmq] $*"; }
die() { echo "[host-rabbitmq] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

ACTION="${1:-start}"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
# Always the /usr/sbin wrappers: they run the CLI as the rabbitmq user with its
# Erlang cookie (the /usr/lib/rabbitmq/bin ones would use root's cookie).
CTL=/usr/sbin/rabbitmqctl
PLUGINS=/usr/sbin/rabbitmq-plugins
SERVER=/usr/sbin/rabbitmq-server
NODE_HOST="$(hostname -s)"
PIDFILE="/var/lib/rabbitmq/mnesia/rabbit@${NODE_HOST}.pid"
STATS_INTERVAL_MS=500
AMQP_PORT=5672
MGMT_PORT=15672
REGISTRY_DIR=/run/rabbitsim/brokers
export DEBIAN_FRONTEND=noninteractive

# One action at a time per node (concurrent restarts would race on the node and its pid
# file): rerun this script under flock; -o keeps the lock out of the node's processes.
LOCK="/run/lock/rabbitsim-broker-$AMQP_PORT.lock"
if [ "${RABBITSIM_BROKER_LOCK:-}" != "$LOCK" ]; then
    mkdir -p "$(dirname "$LOCK")"
    RABBITSIM_BROKER_LOCK="$LOCK" exec flock -o -w 900 "$LOCK" bash "$SELF" "$@"
fi

node_running() { [ -x "$CTL" ] && "$CTL" -q status >/dev/null 2>&1; }

# The node's beam.smp: the pid in its pid file, accepted only if that process
# is a host (not chrooted) beam.smp running RabbitMQ (a stale pid file may name
# a reused pid; the node name is not on the VM's command line).
node_pid() {
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = / ] || return 1
    [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = beam.smp ] || return 1
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -q '^ERL_LIBS=/usr/lib/rabbitmq/' || return 1
    echo "$pid"
}

do_stop() {
    if node_running; then
        log "stopping rabbit@${NODE_HOST}"
        if node_pid >/dev/null; then
            "$CTL" stop "$PIDFILE" >/dev/null || die "rabbitmqctl stop failed"   # returns when the VM is gone
        else
            # no usable pid file (`stop <pidfile>` would wait for it forever): stop, then
            # wait for the listener to close
            "$CTL" stop >/dev/null || die "rabbitmqctl stop failed"
            for _ in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$AMQP_PORT) 2>/dev/null || break; sleep 0.5; done
        fi
        log "stopped"
    else
        log "not running"
    fi
}

do_kill() {
    local pid
    if ! pid="$(node_pid)"; then
        log "rabbit@${NODE_HOST} has no live beam.smp (pid file $PIDFILE); nothing to kill"
        return 0
    fi
    log "SIGKILL rabbit@${NODE_HOST} (beam.smp pid $pid)"
    kill -KILL "$pid"
    for _ in $(seq 1 100); do
        [ -e "/proc/$pid" ] || break
        sleep 0.1
    done
    [ ! -e "/proc/$pid" ] || die "beam.smp pid $pid still alive after SIGKILL"
    log "killed; the node is down (its data stays for the next start)"
}

write_registry() {
    local version="$1" tmp
    mkdir -p "$REGISTRY_DIR"
    tmp="$(mktemp "$REGISTRY_DIR/.$AMQP_PORT.json.XXXXXX")"
    printf '{"version": "%s", "amqp_port": %d, "management_port": %d, "node": "%s", "ctl": ["%s"], "script": "%s"}\n' \
        "$version" "$AMQP_PORT" "$MGMT_PORT" "rabbit@${NODE_HOST}" "$CTL" "$SELF" > "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$REGISTRY_DIR/$AMQP_PORT.json"
}

case "$ACTION" in
    stop) do_stop; exit 0 ;;
    kill) do_kill; exit 0 ;;
    restart) do_stop ;;
    start) ;;
    *) die "unknown action '$ACTION' (use start|stop|kill|restart)" ;;
esac

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
PKG_VERSION="$(dpkg-query -W -f='${Version}' rabbitmq-server)"
UPSTREAM="${PKG_VERSION#*:}"; UPSTREAM="${UPSTREAM%%-*}"; UPSTREAM="${UPSTREAM%%+*}"   # 3.10.8-1.1 -> 3.10.8

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
    # After a kill the pid file names a dead process; `rabbitmqctl wait` must
    # not read it before the new node rewrites it.
    old_pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [[ "$old_pid" =~ ^[0-9]+$ ]] && [ ! -e "/proc/$old_pid" ]; then rm -f "$PIDFILE"; fi
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
write_registry "$UPSTREAM"
log "ready: amqp://guest:guest@127.0.0.1:5672/  http://127.0.0.1:15672/  ($("$CTL" -q version 2>/dev/null || echo '?'))"
