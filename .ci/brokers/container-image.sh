#!/usr/bin/env bash
# shellcheck disable=SC2016  # dpkg-query ${Version} formats are literal
# Build a local RabbitMQ 4.3.x container image from the Debian "sid" chroot
# made by .ci/brokers/sid-rabbitmq.sh (this machine cannot reach Docker Hub,
# so there is no rabbitmq:4.3-management to pull).
#
#   rabbitsim/rabbitmq:4.3-management  and  rabbitsim/rabbitmq:<x.y.z>-management
#
#   - node rabbit@localhost (independent of the container's hostname),
#     AMQP 5672, management 15672, distribution 25672, epmd 4369 (all defaults,
#     inside the container's own network namespace), guest/guest allowed from
#     anywhere (loopback_users = none), management plugin enabled;
#   - runs rabbitmq-server in the foreground as the rabbitmq user, logs to
#     stdout ("Server startup complete" appears in `docker logs`); honours
#     RABBITMQ_NODE_PORT as testcontainers' RabbitMqContainer sets it;
#   - `docker exec <c> rabbitmqctl trace_on` works (the default exec user is
#     rabbitmq and shares the node's Erlang cookie in /var/lib/rabbitmq).
#
# The chroot is only read (tar with excludes); it may hold a running node.
# Steps: tar | docker import (root fs), docker build (config + CMD/ENV/EXPOSE/
# LABEL), smoke test (boot in a --network none container, rabbitmqctl
# trace_on via docker exec), then tag.  Takes ~15 s; a no-op rerun ~0.1 s.
# The build is skipped when both tags exist and carry the current source
# marker (label rabbitsim.source = hash of the chroot's package list and of
# this script).
#
# Usage: container-image.sh [build|rebuild|remove]   (default: build; idempotent)
# Env:   RABBITSIM_SID_ROOT     chroot dir (default /var/cache/rabbitsim/sid-root)
#        RABBITSIM_IMAGE_REPO   image repository (default rabbitsim/rabbitmq)
#        RABBITSIM_IMAGE_SKIP_TEST=1  skip the smoke test
set -euo pipefail

log() { echo "[container-image] $*"; }
die() { echo "[container-image] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

ACTION="${1:-build}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
ROOT="${RABBITSIM_SID_ROOT:-/var/cache/rabbitsim/sid-root}"
ROOT="${ROOT%/}"
REPO="${RABBITSIM_IMAGE_REPO:-rabbitsim/rabbitmq}"
# Classic builder: the docker client here has no buildx plugin, and the build
# below only needs COPY/ENV/LABEL-style steps.
export DOCKER_BUILDKIT=0

case "$ACTION" in
    build|rebuild|remove) ;;
    *) die "unknown action '$ACTION' (use build|rebuild|remove)" ;;
esac

# ---- docker engine -----------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    [ "$ACTION" = remove ] && { log "no docker engine; nothing to remove"; exit 0; }
    "$HERE/docker-engine.sh" start
fi

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null; }
image_label() { docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null; }

if [ "$ACTION" = remove ]; then
    for ref in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$REPO" | grep -E -- '-management$' || true); do
        log "removing $ref"
        docker image rm "$ref" >/dev/null || die "cannot remove $ref (is a container still using it?)"
    done
    exit 0
fi

# ---- source: the sid chroot -------------------------------------------------------
chroot_ready() {
    [ -f "$ROOT/.rabbitsim-debootstrap-ok" ] && [ -x "$ROOT/usr/sbin/rabbitmqctl" ] \
        && dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Status}' rabbitmq-server 2>/dev/null | grep -q 'install ok installed'
}
if ! chroot_ready; then
    log "no sid chroot with rabbitmq-server at $ROOT; running sid-rabbitmq.sh (it also starts its node on 5674)"
    RABBITSIM_SID_ROOT="$ROOT" "$HERE/sid-rabbitmq.sh" start
    chroot_ready || die "sid chroot at $ROOT still not usable"
fi

PKG_VERSION="$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Version}' rabbitmq-server)"
UPSTREAM="${PKG_VERSION#*:}"; UPSTREAM="${UPSTREAM%%-*}"; UPSTREAM="${UPSTREAM%%+*}"   # 4.3.6-1 -> 4.3.6
[[ "$UPSTREAM" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "unexpected rabbitmq-server version '$PKG_VERSION'"
MINOR="${UPSTREAM%.*}"                                                              # 4.3
TAG_MINOR="$REPO:${MINOR}-management"
TAG_PATCH="$REPO:${UPSTREAM}-management"
PLUGINS_DIR="/usr/lib/rabbitmq/lib/rabbitmq_server-${UPSTREAM}/plugins"
[ -d "$ROOT$PLUGINS_DIR" ] || die "plugins dir $PLUGINS_DIR missing in chroot"
RABBIT_UID="$(awk -F: '$1=="rabbitmq"{print $3}' "$ROOT/etc/passwd")"
RABBIT_GID="$(awk -F: '$1=="rabbitmq"{print $4}' "$ROOT/etc/passwd")"
{ [ -n "$RABBIT_UID" ] && [ -n "$RABBIT_GID" ]; } || die "no rabbitmq user in $ROOT/etc/passwd"

SOURCE="$( {
    dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Package} ${Version} ${Architecture}\n'
    sha256sum < "$SELF"
} | sha256sum | cut -c1-16)"

# ---- up to date? ----------------------------------------------------------------------
if [ "$ACTION" = build ] && [ "$(image_label "$TAG_MINOR" rabbitsim.source)" = "$SOURCE" ]; then
    if [ "$(image_id "$TAG_PATCH")" != "$(image_id "$TAG_MINOR")" ]; then
        docker tag "$TAG_MINOR" "$TAG_PATCH"
    fi
    log "image up to date: $TAG_MINOR = $TAG_PATCH ($(image_id "$TAG_MINOR" | cut -c8-19), source $SOURCE)"
    exit 0
fi
OLD_IDS="$(image_id "$TAG_MINOR" || true) $(image_id "$TAG_PATCH" || true)"

# ---- build --------------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/rabbitsim-image.XXXXXX)"
BASE_TAG="$REPO:rootfs-$SOURCE"
CAND_TAG="$REPO:candidate-$SOURCE"
TEST_CTR=""
cleanup() {
    [ -z "$TEST_CTR" ] || docker rm -f "$TEST_CTR" >/dev/null 2>&1 || true
    rm -rf "$TMP"
    # Untag only: the layers stay as long as the final image uses them.
    docker image rm "$CAND_TAG" >/dev/null 2>&1 || true
    docker image rm "$BASE_TAG" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "building $TAG_MINOR from $ROOT (rabbitmq-server $PKG_VERSION, source $SOURCE)"

# 1. root file system: the chroot minus runtime state, caches, docs and the
#    chroot's own node configuration (pinned ports, node name, cookie).
log "docker import (tar of $ROOT)"
tar -C "$ROOT" -c --numeric-owner --one-file-system --anchored --wildcards \
    --exclude='./.rabbitsim-*' \
    --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
    --exclude='./run/*' --exclude='./tmp/*' --exclude='./var/tmp/*' \
    --exclude='./etc/hosts' --exclude='./etc/hostname' --exclude='./etc/resolv.conf' \
    --exclude='./etc/rabbitmq/*' \
    --exclude='./var/lib/rabbitmq/mnesia/*' --exclude='./var/lib/rabbitmq/.erlang.cookie' \
    --exclude='./var/log/*' \
    --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' \
    --exclude='./var/cache/debconf/*-old' --exclude='./var/lib/dpkg/*-old' \
    --exclude='./usr/share/doc/*' --exclude='./usr/share/man/*' --exclude='./usr/share/info/*' \
    --exclude='./usr/share/locale/*' --exclude='./usr/share/lintian/*' \
    . | docker import --message "rabbitsim sid rootfs (rabbitmq-server $PKG_VERSION)" - "$BASE_TAG" >/dev/null \
    || die "docker import failed"

# 2. configuration and runtime metadata.
mkdir -p "$TMP/ctx"
cat > "$TMP/ctx/rabbitmq.conf" <<'EOF'
# Written by rabbitsim .ci/brokers/container-image.sh
# guest/guest may connect from outside the container (mapped ports).
loopback_users = none
# statistics every 500 ms (default 5 s), so management API snapshots are fresh
collect_statistics_interval = 500
# Default ports: AMQP 5672 (RABBITMQ_NODE_PORT overrides), management 15672.
management.tcp.port = 15672
# Log to stdout for `docker logs` (and log-message wait strategies).
log.console = true
log.console.level = info
log.console.use_colors = off
log.file = false
EOF
printf '[rabbitmq_management].\n' > "$TMP/ctx/enabled_plugins"
cat > "$TMP/ctx/rabbitmq-env.conf" <<'EOF'
# Written by rabbitsim .ci/brokers/container-image.sh
# Fixed short node name: the container's hostname does not matter.
NODENAME=rabbit@localhost
USE_LONGNAME=false
EOF
cat > "$TMP/ctx/Dockerfile" <<EOF
FROM $BASE_TAG
COPY rabbitmq.conf rabbitmq-env.conf enabled_plugins /etc/rabbitmq/
ENV LANG=C.UTF-8 \\
    HOME=/var/lib/rabbitmq \\
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="rabbitsim RabbitMQ ${UPSTREAM} (Debian sid, management)" \\
      org.opencontainers.image.version="${UPSTREAM}" \\
      rabbitsim.rabbitmq-server="${PKG_VERSION}" \\
      rabbitsim.source="${SOURCE}"
EXPOSE 4369 5672 15672 25672
WORKDIR /var/lib/rabbitmq
USER ${RABBIT_UID}:${RABBIT_GID}
# /usr/lib/rabbitmq/bin/rabbitmq-server (not the /usr/sbin wrapper, which
# redirects output to /var/log/rabbitmq/startup_log): foreground, stops the
# node cleanly on SIGTERM.
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
EOF
log "docker build (config layer)"
if ! docker build -q -t "$CAND_TAG" "$TMP/ctx" >"$TMP/build.log" 2>&1; then
    cat "$TMP/build.log" >&2
    die "docker build failed"
fi

# 3. smoke test before tagging: the node boots from this configuration and the
#    CLI reaches it through `docker exec` (no published ports needed).
if [ "${RABBITSIM_IMAGE_SKIP_TEST:-0}" != 1 ]; then
    log "smoke test (boot, rabbitmqctl trace_on via docker exec)"
    TEST_CTR="$(docker run -d --network none "$CAND_TAG")" || die "docker run failed"
    booted=0
    for _ in $(seq 1 120); do
        if docker logs "$TEST_CTR" 2>&1 | grep -q 'Server startup complete'; then booted=1; break; fi
        [ "$(docker inspect -f '{{.State.Running}}' "$TEST_CTR" 2>/dev/null)" = true ] || break
        sleep 0.5
    done
    if [ "$booted" != 1 ]; then
        { docker logs "$TEST_CTR" 2>&1 | grep -v '^\s*$' | head -30 >&2; } || true
        die "smoke test: node in $CAND_TAG did not start"
    fi
    docker exec "$TEST_CTR" rabbitmqctl -q trace_on >/dev/null || die "smoke test: rabbitmqctl trace_on failed"
    docker rm -f "$TEST_CTR" >/dev/null; TEST_CTR=""
fi

docker tag "$CAND_TAG" "$TAG_MINOR"
docker tag "$CAND_TAG" "$TAG_PATCH"

# Drop the images these tags pointed to before (if nothing else uses them).
NEW_ID="$(image_id "$TAG_MINOR")"
for id in $OLD_IDS; do
    [ "$id" = "$NEW_ID" ] || docker image rm "$id" >/dev/null 2>&1 || true
done

log "built $TAG_MINOR = $TAG_PATCH (${NEW_ID:7:12}, $(docker image inspect -f '{{.Size}}' "$TAG_MINOR" | awk '{printf "%.0f MB", $1/1e6}'), source $SOURCE)"
