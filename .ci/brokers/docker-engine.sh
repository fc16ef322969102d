#!/usr/bin/env bash
# Make a local Docker engine available (for testcontainers and
# .ci/brokers/container-image.sh).
#
#   If `docker info` already answers, nothing is done.  Otherwise Debian's
#   docker.io is installed (only if dockerd is missing) and dockerd is started
#   in the background with overlay2 and --iptables=false (no iptables/nftables
#   here; published ports go through docker-proxy, which is enough for
#   testcontainers' random host ports on 127.0.0.1).
#
#   log      /var/log/rabbitsim-dockerd.log
#   pid file /var/run/docker.pid (written by dockerd itself)
#
# Usage: docker-engine.sh [start|stop|status]   (default: start; idempotent)
#        stop only stops a dockerd started by this script (pid file + cmdline check).
# Env:   RABBITSIM_DOCKERD_LOG       log file (default /var/log/rabbitsim-dockerd.log)
#        RABBITSIM_DOCKERD_TIMEOUT   seconds to wait for the daemon (default 60)
set -euo pipefail

log() { echo "[docker-engine] $*"; }
die() { echo "[docker-engine] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

ACTION="${1:-start}"
LOGFILE="${RABBITSIM_DOCKERD_LOG:-/var/log/rabbitsim-dockerd.log}"
TIMEOUT="${RABBITSIM_DOCKERD_TIMEOUT:-60}"
PIDFILE=/var/run/docker.pid
export DEBIAN_FRONTEND=noninteractive

# Prefer a client already on PATH (e.g. /usr/local/bin/docker); docker.io's
# /usr/bin/docker is the fallback.  Newer clients negotiate the API down.
DOCKER="$(command -v docker || true)"
docker_ok() { [ -n "$DOCKER" ] && "$DOCKER" info >/dev/null 2>&1; }
dockerd_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -qa dockerd "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}
version_line() {
    echo "client $("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null || echo '?')," \
         "server $("$DOCKER" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo '?')," \
         "storage $("$DOCKER" info --format '{{.Driver}}' 2>/dev/null || echo '?')"
}

case "$ACTION" in
    status)
        if docker_ok; then log "running: $(version_line)"; exit 0; fi
        log "not running"; exit 1 ;;
    stop)
        if pid="$(dockerd_pid)"; then
            log "stopping dockerd (pid $pid)"
            kill -TERM "$pid"
            for _ in $(seq 1 "$TIMEOUT"); do [ -d "/proc/$pid" ] || break; sleep 1; done
            [ -d "/proc/$pid" ] && die "dockerd (pid $pid) did not exit within ${TIMEOUT}s"
            log "stopped"
        else
            log "no dockerd started from $PIDFILE; nothing to stop"
        fi
        exit 0 ;;
    start) ;;
    *) die "unknown action '$ACTION' (use start|stop|status)" ;;
esac

if docker_ok; then
    log "docker engine already available: $(version_line)"
    exit 0
fi

# ---- install --------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
    # Keep maintainer scripts from starting the daemon (no init system; we
    # start it ourselves with our flags): policy-rc.d 101.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    cleanup_policy() { if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup_policy EXIT
    log "apt-get install docker.io"
    if ! apt-get install -y -qq --no-install-recommends docker.io >/tmp/docker-engine-apt.log 2>&1; then
        log "install failed; retrying after apt-get update"
        apt-get update -qq || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends docker.io >/tmp/docker-engine-apt.log 2>&1 \
            || { tail -20 /tmp/docker-engine-apt.log >&2; die "apt-get install docker.io failed (log: /tmp/docker-engine-apt.log)"; }
    fi
    cleanup_policy; trap - EXIT
    command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after installing docker.io"
    log "installed docker.io $(dpkg-query -W -f='${Version}' docker.io 2>/dev/null || echo '?')"
fi
[ -n "$DOCKER" ] || DOCKER="$(command -v docker || true)"
[ -n "$DOCKER" ] || die "no docker client found"

# ---- start ----------------------------------------------------------------------
if pid="$(dockerd_pid)"; then
    log "dockerd already started (pid $pid); waiting for it to answer"
else
    # cgroup v1 hierarchies must be mounted for runc; on this kind of VM they are.
    if [ -z "$(ls -A /sys/fs/cgroup 2>/dev/null)" ]; then
        log "warning: /sys/fs/cgroup looks empty; containers may fail to start"
    fi
    mkdir -p "$(dirname "$LOGFILE")"
    log "starting dockerd (log: $LOGFILE)"
    # setsid: detach from this shell's session so the daemon outlives it.
    setsid dockerd --storage-driver=overlay2 --iptables=false --pidfile "$PIDFILE" \
        </dev/null >>"$LOGFILE" 2>&1 &
fi

log "waiting for 'docker info' (timeout ${TIMEOUT}s)"
for _ in $(seq 1 $((TIMEOUT * 2))); do
    docker_ok && break
    sleep 0.5
done
if ! docker_ok; then
    tail -20 "$LOGFILE" >&2 2>/dev/null || true
    die "docker engine did not come up within ${TIMEOUT}s (log: $LOGFILE)"
fi
log "ready: $(version_line), pid $(dockerd_pid || echo '?')"
