#!/usr/bin/env bash
# shellcheck disable=SC2016  # dpkg-query ${Status}/${Version} formats are literal
# Start, stop, kill or restart RabbitMQ 4.0.x from Debian 13 "trixie", run from a
# debootstrap chroot so it coexists with the host's Debian 12 RabbitMQ 3.10 node.
#
#   node rabbit4@localhost, AMQP 127.0.0.1:5673, management 127.0.0.1:15673,
#   distribution 127.0.0.1:25673, epmd 127.0.0.1:4370, CLI dist 35700-35710,
#   user guest/guest.
#
# Usage: trixie-rabbitmq.sh [start|stop|kill|restart]   (default: start; idempotent)
#   start    install if needed, start the node if it is down, trace_on
#   stop     stop the node cleanly (and its epmd), unmount /proc
#   kill     SIGKILL the node's beam.smp (a crash: `start` recovers from its data)
#   restart  stop, then start
# A successful start writes /run/rabbitsim/brokers/5673.json (version, ports,
# node, the host argv of this node's rabbitmqctl, this script); stop and kill
# leave it.
# Env:   RABBITSIM_TRIXIE_ROOT  chroot dir (default /var/cache/rabbitsim/trixie-root)
#        RABBITSIM_TRIXIE_MIRROR  Debian mirror (default: taken from this machine's apt sources)
set -euo pipefail

log() { echo "[trixie-rabbitmq] $*"; }
die() { echo "[trixie-rabbitmq] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

ACTION="${1:-start}"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
ROOT="${RABBITSIM_TRIXIE_ROOT:-/var/cache/rabbitsim/trixie-root}"
ROOT="${ROOT%/}"
case "$ROOT" in
    ""|/|/bin|/boot|/dev|/etc|/home|/lib|/proc|/root|/sbin|/sys|/tmp|/usr|/var) die "refusing chroot dir '$ROOT'";;
esac

NODENAME=rabbit4@localhost
AMQP_PORT=5673
MGMT_PORT=15673
DIST_PORT=25673
EPMD_PORT=4370
CTL_DIST_MIN=35700
CTL_DIST_MAX=35710
PIDFILE="/var/lib/rabbitmq/mnesia/${NODENAME}.pid"     # path inside the chroot
MARKER="$ROOT/.rabbitsim-debootstrap-ok"
REGISTRY_DIR=/run/rabbitsim/brokers
ENV_PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive

# One action at a time per node (concurrent restarts would race on the node and its pid
# file): rerun this script under flock; -o keeps the lock out of the node's processes.
LOCK="/run/lock/rabbitsim-broker-$AMQP_PORT.lock"
if [ "${RABBITSIM_BROKER_LOCK:-}" != "$LOCK" ]; then
    mkdir -p "$(dirname "$LOCK")"
    RABBITSIM_BROKER_LOCK="$LOCK" exec flock -o -w 900 "$LOCK" bash "$SELF" "$@"
fi

# The CLI wrappers inside the chroot su to the chroot's rabbitmq user and read
# /etc/rabbitmq/rabbitmq-env.conf (node name, epmd and dist ports) themselves.
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=$ENV_PATH HOME=/root LANG=C.UTF-8 "$@"; }
ctl() { in_root /usr/sbin/rabbitmqctl "$@"; }

installed() { [ -x "$ROOT/usr/sbin/rabbitmqctl" ] && [ -f "$ROOT/etc/rabbitmq/rabbitmq-env.conf" ]; }
node_running() { installed && mountpoint -q "$ROOT/proc" && ctl -q status >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mount_proc() {
    if ! mountpoint -q "$ROOT/proc"; then
        mount -t proc proc "$ROOT/proc" || die "cannot mount $ROOT/proc"
    fi
}
umount_proc() {
    if mountpoint -q "$ROOT/proc"; then
        umount "$ROOT/proc" 2>/dev/null || umount -l "$ROOT/proc" || die "cannot unmount $ROOT/proc"
    fi
}

# The node's beam.smp: the pid in its pid file, accepted only if that process
# is a beam.smp inside this chroot using this node's epmd port (a stale pid
# file may name a reused pid; the node name is not on the VM's command line).
node_pid() {
    local pid
    pid="$(cat "$ROOT$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] || return 1
    [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = beam.smp ] || return 1
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "ERL_EPMD_PORT=$EPMD_PORT" || return 1
    echo "$pid"
}

do_stop() {
    if [ ! -d "$ROOT" ]; then log "no chroot at $ROOT; nothing to stop"; return 0; fi
    if node_running; then
        log "stopping $NODENAME"
        if node_pid >/dev/null; then
            ctl -q stop "$PIDFILE" >/dev/null || die "rabbitmqctl stop failed"   # returns when the VM is gone
        else
            # no usable pid file (`stop <pidfile>` would wait for it forever): stop, then
            # wait for the listener to close
            ctl -q stop >/dev/null || die "rabbitmqctl stop failed"
            for _ in $(seq 1 120); do port_open $AMQP_PORT || break; sleep 0.5; done
        fi
        log "stopped"
    else
        log "$NODENAME not running"
    fi
    # epmd on port $EPMD_PORT was started by this node's VM; stop it too.
    if mountpoint -q "$ROOT/proc" && [ -x "$ROOT/usr/bin/epmd" ]; then
        in_root ERL_EPMD_PORT=$EPMD_PORT /usr/bin/epmd -kill >/dev/null 2>&1 || true
    fi
    umount_proc
}

do_kill() {
    local pid
    if ! pid="$(node_pid)"; then
        log "$NODENAME has no live beam.smp (pid file $ROOT$PIDFILE); nothing to kill"
        return 0
    fi
    log "SIGKILL $NODENAME (beam.smp pid $pid)"
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
    printf '{"version": "%s", "amqp_port": %d, "management_port": %d, "node": "%s", "ctl": ["chroot", "%s", "/usr/bin/env", "-i", "PATH=%s", "HOME=/root", "LANG=C.UTF-8", "/usr/sbin/rabbitmqctl"], "script": "%s"}\n' \
        "$version" "$AMQP_PORT" "$MGMT_PORT" "$NODENAME" "$ROOT" "$ENV_PATH" "$SELF" > "$tmp"
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

# ---- host tools ----------------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get install -y -qq debootstrap >/dev/null 2>&1 || {
        apt-get update -qq || die "apt-get update failed"
        apt-get install -y -qq debootstrap >/dev/null || die "apt-get install debootstrap failed"
    }
fi

# ---- mirror: the Debian archive configured in this machine's apt sources -------
find_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case "$f" in
            *.sources) uri=$(awk 'tolower($1)=="uris:" {for (i=2;i<=NF;i++) print $i}' "$f") ;;
            *)         uri=$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break } }' "$f") ;;
        esac
        # The main archive (…/debian), not debian-security, not third-party repos.
        uri=$(printf '%s\n' "$uri" | grep -E '^(https?|file)://.*/debian/?$' | head -n1 || true)
        if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
    done
    echo "http://deb.debian.org/debian"
}
MIRROR="${RABBITSIM_TRIXIE_MIRROR:-$(find_mirror)}"

# ---- debootstrap -----------------------------------------------------------------
if [ -f "$MARKER" ]; then
    log "trixie chroot present at $ROOT"
else
    if [ -e "$ROOT" ]; then
        log "removing incomplete chroot at $ROOT"
        umount_proc
        rm -rf --one-file-system "$ROOT"
    fi
    mkdir -p "$(dirname "$ROOT")"
    log "debootstrap --variant=minbase trixie $ROOT $MIRROR"
    if ! debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >/tmp/trixie-debootstrap.log 2>&1; then
        tail -20 /tmp/trixie-debootstrap.log >&2
        die "debootstrap failed (log: /tmp/trixie-debootstrap.log)"
    fi
    touch "$MARKER"
fi

# Basic chroot plumbing (refreshed on every run).
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mount_proc

# ---- rabbitmq-server inside the chroot ----------------------------------------------
if in_root dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null | grep -q 'install ok installed'; then
    log "rabbitmq-server already installed in chroot ($(in_root dpkg-query -W -f='${Version}' rabbitmq-server))"
else
    log "apt-get install rabbitmq-server (in chroot)"
    if ! in_root DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends rabbitmq-server' \
            >/tmp/trixie-apt.log 2>&1; then
        tail -20 /tmp/trixie-apt.log >&2
        die "apt-get install rabbitmq-server in chroot failed (log: /tmp/trixie-apt.log)"
    fi
    log "installed rabbitmq-server $(in_root dpkg-query -W -f='${Version}' rabbitmq-server) in chroot"
fi
PKG_VERSION="$(in_root dpkg-query -W -f='${Version}' rabbitmq-server)"
UPSTREAM="${PKG_VERSION#*:}"; UPSTREAM="${UPSTREAM%%-*}"; UPSTREAM="${UPSTREAM%%+*}"   # 4.0.5-6+deb13u2 -> 4.0.5

# ---- configuration (rewritten every run; takes effect at next node start) ----------
cat > "$ROOT/etc/rabbitmq/rabbitmq-env.conf" <<EOF
# Written by rabbitsim .ci/brokers/trixie-rabbitmq.sh
NODENAME=$NODENAME
USE_LONGNAME=false
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$AMQP_PORT
DIST_PORT=$DIST_PORT
ERL_EPMD_PORT=$EPMD_PORT
ERL_EPMD_ADDRESS=127.0.0.1
CTL_DIST_PORT_MIN=$CTL_DIST_MIN
CTL_DIST_PORT_MAX=$CTL_DIST_MAX
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
cat > "$ROOT/etc/rabbitmq/rabbitmq.conf" <<EOF
# Written by rabbitsim .ci/brokers/trixie-rabbitmq.sh
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
collect_statistics_interval = 500
EOF

if grep -qs 'rabbitmq_management' "$ROOT/etc/rabbitmq/enabled_plugins"; then
    log "management plugin already enabled"
else
    log "enabling rabbitmq_management (offline)"
    in_root /usr/sbin/rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null \
        || die "rabbitmq-plugins enable failed"
fi

# ---- start ------------------------------------------------------------------------------
if node_running; then
    log "node $NODENAME already running"
else
    for p in $AMQP_PORT $MGMT_PORT $DIST_PORT; do
        port_open "$p" && die "port $p is already in use by another process"
    done
    # After a kill the pid file names a dead process; `rabbitmqctl wait` must
    # not read it before the new node rewrites it.
    old_pid="$(cat "$ROOT$PIDFILE" 2>/dev/null || true)"
    if [[ "$old_pid" =~ ^[0-9]+$ ]] && [ ! -e "/proc/$old_pid" ]; then rm -f "$ROOT$PIDFILE"; fi
    log "starting $NODENAME (detached)"
    in_root /usr/sbin/rabbitmq-server -detached >/tmp/trixie-rabbitmq-start.log 2>&1 \
        || { cat /tmp/trixie-rabbitmq-start.log >&2; die "rabbitmq-server -detached failed"; }
fi
log "waiting for the node"
if ! ctl -q wait --timeout 60 "$PIDFILE" >/dev/null 2>&1; then
    tail -20 "$ROOT/var/log/rabbitmq/${NODENAME}.log" >&2 2>/dev/null || true
    die "node $NODENAME did not start (log: $ROOT/var/log/rabbitmq/${NODENAME}.log)"
fi
for _ in $(seq 1 60); do
    port_open $AMQP_PORT && port_open $MGMT_PORT && break
    sleep 0.5
done
port_open $AMQP_PORT || die "AMQP port $AMQP_PORT not listening"
port_open $MGMT_PORT || die "management port $MGMT_PORT not listening"

ctl -q trace_on >/dev/null || die "rabbitmqctl trace_on failed"
# a node started before the config line existed takes the interval at run time too
ctl -q eval "application:set_env(rabbit, collect_statistics_interval, 500)." >/dev/null \
    || die "setting collect_statistics_interval failed"
write_registry "$UPSTREAM"
log "ready: amqp://guest:guest@127.0.0.1:$AMQP_PORT/  http://127.0.0.1:$MGMT_PORT/  ($(ctl -q version 2>/dev/null || echo '?'))"
