#!/usr/bin/env bash
# Install the non-Python AMQP clients that tests/amqp drives against the simulator:
# rabbitmq-c's command-line tools (Debian package amqp-tools) and node's amqplib (tests/amqp/node).
# Idempotent: each step runs only when its result is missing or stale, so a rerun takes about a second.
# Meant for the CI machine (Debian 12, root); elsewhere it uses sudo for apt-get when it has to.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. amqp-tools: amqp-publish, amqp-consume, amqp-get, amqp-declare-queue, amqp-delete-queue.
if ! command -v amqp-publish >/dev/null || ! command -v amqp-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends amqp-tools
fi

# 2. amqplib, pinned by tests/amqp/node/package-lock.json. node_modules is reinstalled when the
#    lock file differs from the one it was installed from (the stamp keeps that lock's hash).
command -v node >/dev/null || { echo "node (>= 18) is required for tests/amqp/node" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required for tests/amqp/node" >&2; exit 1; }
node_dir=tests/amqp/node
stamp="$node_dir/node_modules/.installed-from-lock"
want="$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
fi
echo "clients ready: $(command -v amqp-publish), amqplib $(node -p "require('./$node_dir/node_modules/amqplib/package.json').version")"
