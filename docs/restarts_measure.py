#!/usr/bin/env python3
"""Measure what a real RabbitMQ node keeps across a clean restart and a kill -9.

Starts a private, throw-away RabbitMQ node per version (never the shared
ones), builds a known state over AMQP 0-9-1 (pika) and rabbitmqctl, then
either stops the node cleanly (``rabbitmqctl stop``) or ``kill -9``s its
beam.smp, starts it again and records what is still there.

Run as root (the nodes run as the ``rabbitmq`` user; 4.x nodes run inside the
Debian chroots built by ``.ci/brokers/trixie-rabbitmq.sh`` / ``sid-rabbitmq.sh``,
which must have ``/proc`` mounted)::

    PY=/work/main/.venv/bin/python
    $PY docs/restarts_measure.py --version 3.10.8 --mode all   # clean, kill, confirms, young
    $PY docs/restarts_measure.py --version 4.0.5 --mode kill
    $PY docs/restarts_measure.py --version 4.3.6 --mode confirms --rounds 10
    $PY docs/restarts_measure.py --mode summarize --json facts.json --md tables.md
    $PY docs/restarts_measure.py --version 4.0.5 --mode down   # stop that node

``--mode``: ``clean`` (rabbitmqctl stop + start), ``kill`` (kill -9 + start),
``confirms`` (repeated publish-with-confirms then kill -9), ``young`` (the same
into queues declared 0-5 s before the kill), ``all`` (those four),
``summarize`` (facts JSON + markdown tables from the results), ``down``.
Every clean/kill/confirms run wipes the measurement node's data first.
Raw results go to ``$RESTARTS_RESULTS/<version>-<mode>.json``
(default ``/tmp/restarts/results``). Written for docs/restarts.md (2026-12-02).

Node layout (host path, or inside the chroot for 4.x):
3.10.8 host install, node measure310@localhost, AMQP 5692, data /tmp/restarts/m310;
4.0.5 chroot /var/cache/rabbitsim/trixie-root, measure40@localhost, AMQP 5693;
4.3.6 chroot /var/cache/rabbitsim/sid-root, measure43@localhost, AMQP 5694.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import decimal
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time

import pika
import pika.exceptions

NODES = {
    "3.10.8": {
        "root": "",
        "node": "measure310@localhost",
        "port": 5692,
        "dist": 25692,
        "epmd": 4369,
        "ctl": (35740, 35749),
        "dir": "/tmp/restarts/m310",
    },
    "4.0.5": {
        "root": "/var/cache/rabbitsim/trixie-root",
        "node": "measure40@localhost",
        "port": 5693,
        "dist": 25693,
        "epmd": 4370,
        "ctl": (35750, 35759),
        "dir": "/tmp/restarts/m40",
    },
    "4.3.6": {
        "root": "/var/cache/rabbitsim/sid-root",
        "node": "measure43@localhost",
        "port": 5694,
        "dist": 25694,
        "epmd": 4371,
        "ctl": (35760, 35769),
        "dir": "/tmp/restarts/m43",
    },
}
RESULTS = os.environ.get("RESTARTS_RESULTS", "/tmp/restarts/results")
DOWN_SECONDS = 10  # how long the node stays down between stop and start
TTL_MS = 30000  # per-message / per-queue message TTL used for the "time while down" test
EXPIRES_MS = 40000  # x-expires used for the "does the countdown restart" test


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# --------------------------------------------------------------------------- node control
class Node:
    def __init__(self, version):
        self.version = version
        c = NODES[version]
        self.root, self.name, self.port = c["root"], c["node"], c["port"]
        self.dir = c["dir"]  # as seen by the node
        self.hdir = self.root + self.dir  # as seen from the host
        self.envf = self.dir + "/rabbitmq-env.conf"
        self.pidf = f"{self.dir}/{self.name}.pid"
        self.cfg = c

    def sh(self, cmd, timeout=180, check=False):
        inner = f"cd /var/lib/rabbitmq; HOME=/var/lib/rabbitmq RABBITMQ_CONF_ENV_FILE={self.envf} {cmd}"
        argv = [
            "/usr/bin/env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
            "su",
            "rabbitmq",
            "-s",
            "/bin/sh",
            "-c",
            inner,
        ]
        if self.root:
            argv = ["chroot", self.root, *argv]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode:
            raise RuntimeError(f"{cmd!r} failed: {p.stdout} {p.stderr}")
        return p

    def ctl(self, *args, check=True, timeout=180):
        return self.sh(
            "/usr/lib/rabbitmq/bin/rabbitmqctl -n " + self.name + " " + shlex.join(args),
            check=check,
            timeout=timeout,
        )

    def chown(self):
        argv = ["chown", "-R", "rabbitmq:rabbitmq", self.dir]
        subprocess.run((["chroot", self.root] if self.root else []) + argv, check=True)

    def setup(self):
        c = self.cfg
        os.makedirs(self.hdir + "/mnesia", exist_ok=True)
        os.makedirs(self.hdir + "/log", exist_ok=True)
        with open(self.hdir + "/rabbitmq-env.conf", "w") as f:
            f.write(f"""NODENAME={self.name}
USE_LONGNAME=false
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT={self.port}
DIST_PORT={c["dist"]}
ERL_EPMD_PORT={c["epmd"]}
ERL_EPMD_ADDRESS=127.0.0.1
MNESIA_BASE={self.dir}/mnesia
LOG_BASE={self.dir}/log
PID_FILE={self.pidf}
ENABLED_PLUGINS_FILE={self.dir}/enabled_plugins
CONFIG_FILE={self.dir}/rabbitmq.conf
ADVANCED_CONFIG_FILE={self.dir}/advanced.config
CTL_DIST_PORT_MIN={c["ctl"][0]}
CTL_DIST_PORT_MAX={c["ctl"][1]}
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {{127,0,0,1}}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {{127,0,0,1}}"
""")
        with open(self.hdir + "/rabbitmq.conf", "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{self.port}\nlog.file.level = info\n")
        with open(self.hdir + "/enabled_plugins", "w") as f:
            f.write("[].\n")
        self.chown()

    def pid(self):
        try:
            with open(f"{self.hdir}/{self.name}.pid") as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            return None
        if self.envf.encode() in env and b"beam" in cmd:
            return pid
        return None

    def port_open(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def start(self):
        """Start and wait; returns seconds until `rabbitmqctl wait` succeeded."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{self.hdir}/{self.name}.pid")
        t0 = time.monotonic()
        self.sh(
            f"nohup /usr/lib/rabbitmq/bin/rabbitmq-server >>{self.dir}/log/stdout.log 2>&1 </dev/null &",
            check=True,
        )
        self.ctl("wait", "--timeout", "120", self.pidf, timeout=200)
        t1 = time.monotonic() - t0
        while not self.port_open():
            time.sleep(0.1)
        return round(t1, 2)

    def stop(self):
        """rabbitmqctl stop; returns (ctl seconds, seconds until the OS process is gone)."""
        pid = self.pid()
        t0 = time.monotonic()
        p = self.ctl("stop", check=False)
        t1 = time.monotonic() - t0
        while pid and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.05)
        return round(t1, 2), round(time.monotonic() - t0, 2), p.returncode

    def kill(self):
        pid = self.pid()
        if not pid:
            raise RuntimeError("no pid for " + self.name)
        os.kill(pid, signal.SIGKILL)
        while os.path.exists(f"/proc/{pid}"):
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    break
            time.sleep(0.02)
        return pid

    def running(self):
        return self.pid() is not None

    def reset(self):
        """Wipe all data: the node must be down."""
        assert not self.running()
        subprocess.run(["rm", "-rf", "--one-file-system", self.hdir + "/mnesia"], check=True)
        os.makedirs(self.hdir + "/mnesia")
        self.chown()

    def listing(self, what, *cols, vhost="/"):
        p = self.ctl(what, "-q", "-p", vhost, "--formatter", "json", *cols)
        return json.loads(p.stdout or "[]")

    def fresh(self):
        """Node up with empty data; returns start seconds."""
        if self.running():
            self.stop()
        self.setup()
        self.reset()
        return self.start()


# --------------------------------------------------------------------------- AMQP helpers
def conn(node, **kw):
    return pika.BlockingConnection(
        pika.ConnectionParameters(
            host="127.0.0.1",
            port=node.port,
            heartbeat=0,
            blocked_connection_timeout=None,
            connection_attempts=1,
            **kw,
        )
    )


def try_(fn):
    """Run fn; return ("ok", value) or ("error", text)."""
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def err_text(e):
    if isinstance(e, pika.exceptions.ConnectionClosedByBroker):
        return {"class": type(e).__name__, "reply_code": e.reply_code, "reply_text": e.reply_text}
    if isinstance(e, pika.exceptions.ChannelClosedByBroker):
        return {"class": type(e).__name__, "reply_code": e.reply_code, "reply_text": e.reply_text}
    return {"class": type(e).__name__, "text": str(e)}


def props_dict(p):
    d = {}
    for k in (
        "content_type",
        "content_encoding",
        "headers",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    ):
        v = getattr(p, k)
        if v is not None:
            d[k] = v
    return d


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, bytes):
        return {"bytes": x.hex()}
    if isinstance(x, decimal.Decimal):
        return {"decimal": str(x)}
    if isinstance(x, datetime.datetime):
        return {"datetime": x.isoformat()}
    if isinstance(x, float):
        return {"float": x}
    return x


RICH_HEADERS = {
    "str": "text",
    "int": 42,
    "neg": -7,
    "big": 2**40,
    "bool": True,
    "false": False,
    "dec": decimal.Decimal("1.25"),
    "ts": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    "bytes": b"\x00\x01\xff",
    "none": None,
    "list": [1, "a", {"x": 1}, [2, 3]],
    "nested": {"a": {"b": [1, 2], "c": "d"}, "e": True},
}


def rich_props():
    return pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=dict(RICH_HEADERS),
        delivery_mode=2,
        priority=3,
        correlation_id="corr-1",
        reply_to="reply.q",
        expiration="3600000",
        message_id="msg-1",
        timestamp=1764633600,
        type="kind.x",
        user_id="guest",
        app_id="rabbitsim-measure",
    )


def drain(ch, queue, limit=200):
    """basic.get (manual ack) everything; returns list of dicts."""
    out = []
    for _ in range(limit):
        m, p, body = ch.basic_get(queue, auto_ack=False)
        if m is None:
            break
        hdr = p.headers or {}
        out.append(
            {
                "body": body.decode(),
                "redelivered": m.redelivered,
                "delivery_tag": m.delivery_tag,
                "x-delivery-count": hdr.get("x-delivery-count"),
                "delivery_mode": p.delivery_mode,
            }
        )
        ch.basic_ack(m.delivery_tag)
    return out


def wait_queue(node, ch_factory, queue, timeout=90):
    """Passive-declare until the queue answers (quorum queues elect a leader after boot).

    Returns (connection, message_count) or (None, error) when the queue is missing (404)
    or still failing after `timeout` seconds."""
    t0 = time.monotonic()
    while True:
        c = None
        try:
            c = ch_factory()
            ok = c.channel().queue_declare(queue, passive=True)
            return c, ok.method.message_count
        except pika.exceptions.AMQPError as e:
            if c is not None and c.is_open:
                with contextlib.suppress(Exception):
                    c.close()
            code = getattr(e, "reply_code", None)
            if code == 404 or time.monotonic() - t0 > timeout:
                return None, err_text(e)
            time.sleep(1)


def drain_bodies(node, queue, limit, timeout=90):
    """Drain a queue (get + ack), reconnecting on errors (a quorum queue may time out
    right after boot). Returns (bodies, errors)."""
    bodies, errors = [], []
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c, n = wait_queue(node, lambda: conn(node), queue)
        if c is None:
            errors.append(n)
            break
        try:
            ch = c.channel()
            for _ in range(limit):
                m, _, b = ch.basic_get(queue, auto_ack=False)
                if m is None:
                    c.close()
                    return bodies, errors
                bodies.append(b.decode())
                ch.basic_ack(m.delivery_tag)
        except pika.exceptions.AMQPError as e:
            errors.append(err_text(e))
            time.sleep(1)
    return bodies, errors


# --------------------------------------------------------------------------- observers
class Observer(threading.Thread):
    """Owns one connection; runs `prepare(conn)`, then pumps I/O until the connection dies."""

    def __init__(self, node, name, prepare, tick=None):
        super().__init__(daemon=True)
        self.node, self.label, self.prepare, self.tick = node, name, prepare, tick
        self.ready = threading.Event()
        self.error = None
        self.info = {}
        self.died_at = None

    def run(self):
        try:
            c = conn(self.node)
            self.info = self.prepare(c) or {}
            self.ready.set()
            while True:
                if self.tick:
                    self.tick(c)
                c.process_data_events(time_limit=0.1)
        except Exception as e:
            self.died_at = time.monotonic()
            self.error = err_text(e)
            self.ready.set()


# --------------------------------------------------------------------------- scenario
EX_TYPES = ("direct", "fanout", "topic", "headers")


def build_state(node, res):
    """Declare everything over AMQP / rabbitmqctl. Returns per-test bookkeeping."""
    book = {}
    # ---- definitions made with rabbitmqctl
    ctl_steps = [
        ("add_vhost", "vh1"),
        ("add_user", "u1", "p1"),
        ("set_user_tags", "u1", "monitoring"),
        ("set_permissions", "-p", "vh1", "u1", "^u1.*", ".*", ".*"),
        ("set_topic_permissions", "-p", "vh1", "u1", "amq.topic", "^a", "^b"),
        ("set_policy", "pol1", "^pol\\.", '{"max-length": 5}', "--apply-to", "queues"),
        ("set_operator_policy", "opol1", "^opol\\.", '{"max-length": 7}', "--apply-to", "queues"),
        ("set_global_parameter", "gp1", '{"a": 1}'),
        ("set_vhost_limits", "-p", "vh1", '{"max-connections": 50}'),
        ("set_user_limits", "u1", '{"max-channels": 9}'),
    ]
    res["ctl_setup"] = {}
    for step in ctl_steps:
        p = node.ctl(*step, check=False)
        res["ctl_setup"][" ".join(step[:2])] = p.returncode
    c = conn(node)
    ch = c.channel()
    ch.confirm_delivery()
    # ---- exchanges
    for t in EX_TYPES:
        ch.exchange_declare(f"ex.d.{t}", t, durable=True)
        ch.exchange_declare(f"ex.t.{t}", t, durable=False)
    ch.exchange_declare("ex.ad.nobind", "direct", durable=True, auto_delete=True)
    ch.exchange_declare("ex.ad.bound", "direct", durable=True, auto_delete=True)
    ch.exchange_declare("ex.internal", "topic", durable=True, internal=True)
    ch.exchange_declare("ex.with.ae", "direct", durable=True, arguments={"alternate-exchange": "ex.d.fanout"})
    ch.exchange_declare("dlx", "fanout", durable=True)
    # ---- queues
    ch.queue_declare("q.durable", durable=True)
    ch.queue_declare("q.durable2", durable=True)
    res["declare_transient_queue"] = try_(lambda: conn_declare(node, "q.transient", durable=False))
    res["declare_server_named_durable"] = try_(lambda: conn_declare(node, "", durable=True))
    book["server_named"] = res["declare_server_named_durable"].get("value")
    ch.queue_declare("q.ad.noconsumer", durable=True, auto_delete=True)
    ch.queue_declare("q.ad.consumer", durable=True, auto_delete=True)
    ch.queue_declare("q.quorum", durable=True, arguments={"x-queue-type": "quorum"})
    ch.queue_declare(
        "q.args",
        durable=True,
        arguments={
            "x-message-ttl": 3600000,
            "x-max-length": 100,
            "x-dead-letter-exchange": "dlx",
            "x-dead-letter-routing-key": "dead",
            "x-max-priority": 10,
            "x-overflow": "reject-publish",
        },
    )
    ch.queue_declare(
        "q.q.args",
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-max-length": 100,
            "x-dead-letter-exchange": "dlx",
            "x-delivery-limit": 5,
        },
    )
    ch.queue_declare("pol.q", durable=True)
    # ---- bindings
    ch.queue_bind("q.durable", "ex.d.direct", "k")
    ch.queue_bind("q.durable", "ex.t.direct", "k-transient")
    ch.queue_bind("q.durable2", "ex.ad.bound", "k")
    ch.queue_bind(
        "q.durable",
        "ex.d.headers",
        "",
        arguments={"x-match": "all", "a": 1, "b": "x", "nested": {"c": [1, 2]}},
    )
    ch.exchange_bind("ex.d.topic", "ex.d.fanout", "e2e.dd")  # destination, source
    ch.exchange_bind("ex.t.topic", "ex.d.fanout", "e2e.dt")  # durable source -> transient dest
    ch.exchange_bind("ex.d.topic", "ex.t.fanout", "e2e.td")  # transient source -> durable dest
    ch.queue_bind("q.durable2", "ex.internal", "#")
    # ---- messages
    for qt in ("classic", "quorum"):
        q = f"q.{qt[0]}.mixed"
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": qt})
        for i in range(1, 7):
            ch.basic_publish("", q, f"m{i}", pika.BasicProperties(delivery_mode=2 if i % 2 else 1))
        q = f"q.{qt[0]}.acks"
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": qt})
        for i in range(1, 13):
            ch.basic_publish("", q, f"m{i}", pika.BasicProperties(delivery_mode=2))
        q = f"q.{qt[0]}.props"
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": qt})
        ch.basic_publish("", q, "props-1", rich_props())
        ch.basic_publish("", q, "props-2", rich_props())
        _, p, _ = ch.basic_get(q, auto_ack=True)
        book[f"props_before_{qt}"] = props_dict(p)
        # dead-lettering: source queue -> dlx -> dead queue
        src, dead = f"q.{qt[0]}.dlsrc", f"q.{qt[0]}.dead"
        ch.exchange_declare(f"dlx.{qt}", "fanout", durable=True)
        ch.queue_declare(dead, durable=True)
        ch.queue_bind(dead, f"dlx.{qt}")
        ch.queue_declare(
            src, durable=True, arguments={"x-queue-type": qt, "x-dead-letter-exchange": f"dlx.{qt}"}
        )
        for b in ("dead-1", "dead-2"):
            ch.basic_publish("", src, b, pika.BasicProperties(delivery_mode=2, headers={"h": 1}))
        for _ in range(2):
            m, _, _ = ch.basic_get(src, auto_ack=False)
            ch.basic_nack(m.delivery_tag, requeue=False)
    time.sleep(1)
    for qt in ("classic", "quorum"):
        m, p, _ = ch.basic_get(f"q.{qt[0]}.dead", auto_ack=False)
        book[f"xdeath_before_{qt}"] = jsonable(props_dict(p)) if m else None
        if m:
            ch.basic_ack(m.delivery_tag)
    # priority order
    ch.queue_declare("q.c.prio", durable=True, arguments={"x-max-priority": 10})
    for i, pr in enumerate((1, 5, 3, 9, 5), 1):
        ch.basic_publish("", "q.c.prio", f"p{i}-prio{pr}", pika.BasicProperties(delivery_mode=2, priority=pr))
    # publisher sink
    ch.queue_declare("q.pubsink", durable=True)
    c.close()
    return book


def arm_timers(node, book):
    """Declared right before the stop/kill: x-expires queue and TTL'd messages."""
    c = conn(node)
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare("q.expires", durable=True, arguments={"x-expires": EXPIRES_MS})
    book["expires_declared"] = time.monotonic()
    ch.queue_declare("q.c.msgttl", durable=True)
    ch.basic_publish("", "q.c.msgttl", "ttl", pika.BasicProperties(delivery_mode=2, expiration=str(TTL_MS)))
    ch.queue_declare("q.c.qttl", durable=True, arguments={"x-message-ttl": TTL_MS})
    ch.basic_publish("", "q.c.qttl", "qttl", pika.BasicProperties(delivery_mode=2))
    book["ttl_published"] = time.monotonic()
    c.close()


def conn_declare(node, name, **kw):
    c = conn(node)
    try:
        ok = c.channel().queue_declare(name, **kw)
        return ok.method.queue
    finally:
        if c.is_open:
            c.close()


def prepare_consumer(c):
    """Hold unacked messages (basic.get and basic.consume), own an exclusive queue and consume
    from the auto-delete queue."""
    info = {}
    ch = c.channel()
    ch.queue_declare("q.excl", exclusive=True, durable=False)
    info["excl_durable"] = try_(
        lambda: c.channel().queue_declare("q.excl.durable", exclusive=True, durable=True).method.queue
    )
    ch.basic_consume("q.ad.consumer", lambda *a: None, auto_ack=False)
    for qt in ("classic", "quorum"):
        q = f"q.{qt[0]}.acks"
        cch = c.channel()
        m, _, _ = cch.basic_get(q, auto_ack=False)  # m1: acked
        cch.basic_ack(m.delivery_tag)
        _, _, b = cch.basic_get(q, auto_ack=False)  # m2: held (basic.get, no ack)
        held = [b.decode()]
        cch.basic_qos(prefetch_count=3)
        got: list = []

        def on_msg(_ch, m_, _p, b_, got=got):
            got.append((m_.delivery_tag, b_.decode()))

        cch.basic_consume(q, on_msg, auto_ack=False)
        t0 = time.monotonic()
        while len(got) < 3 and time.monotonic() - t0 < 10:
            c.process_data_events(time_limit=0.1)
        c.process_data_events(time_limit=1)
        first = [b for _, b in got]
        # ack m4; the freed prefetch slot lets one more message (m6) in
        for tag, body in list(got):
            if body == "m4":
                cch.basic_ack(tag)
        c.process_data_events(time_limit=1.5)
        held += [b for _, b in got if b != "m4"]
        info[qt] = {
            "acked": ["m1", "m4"],
            "held_unacked": held,
            "consumer_got_before_ack": first,
            "consumer_got_total": [b for _, b in got],
        }
    return info


def prepare_publisher(c):
    ch = c.channel()
    ch.confirm_delivery()
    return {}


def publisher_tick(c):
    ch = c._measure_ch if hasattr(c, "_measure_ch") else None
    if ch is None:
        ch = c.channel()
        ch.confirm_delivery()
        c._measure_ch = ch
    ch.basic_publish("", "q.pubsink", b"tick", pika.BasicProperties(delivery_mode=1))
    time.sleep(0.1)


def snapshot(node):
    snap = {
        "exchanges": node.listing(
            "list_exchanges", "name", "type", "durable", "auto_delete", "internal", "arguments"
        ),
        "queues": node.listing(
            "list_queues", "name", "durable", "auto_delete", "exclusive", "arguments", "type", "messages"
        ),
        "bindings": node.listing(
            "list_bindings",
            "source_name",
            "source_kind",
            "destination_name",
            "destination_kind",
            "routing_key",
            "arguments",
        ),
    }
    p = node.ctl("export_definitions", "-", "-q", "--format", "json", check=False)
    try:
        defs = json.loads(p.stdout)
    except ValueError:
        defs = {}
    for k in (
        "users",
        "vhosts",
        "permissions",
        "topic_permissions",
        "parameters",
        "global_parameters",
        "policies",
    ):
        snap[f"list_{k}"] = defs.get(k, f"missing rc={p.returncode} {p.stderr[-200:]}")
    for cmd in ("list_operator_policies", "list_user_limits"):
        p = node.ctl(cmd, "-q", "--formatter", "json", check=False)
        snap[cmd] = p.stdout.strip() if p.returncode == 0 else f"rc={p.returncode} {p.stderr[-200:]}"
    return snap


def canon(x):
    """Order-insensitive form of a definitions listing."""
    if isinstance(x, list):
        return sorted(json.dumps(i, sort_keys=True) for i in x)
    return x


def compare(pre, post):
    out = {}
    for kind, key in (("exchanges", "name"), ("queues", "name")):
        pre_by = {x[key]: x for x in pre[kind]}
        post_by = {x[key]: x for x in post[kind]}
        for name, x in pre_by.items():
            if (name.startswith("amq.") and kind == "exchanges") or name == "":
                continue
            y = post_by.get(name)
            label = name if not name.startswith("amq.gen-") else "server_named"
            if y is None:
                out[f"{kind}.{label}"] = "gone"
            else:
                diff = {k: [x[k], y.get(k)] for k in x if k != "messages" and x[k] != y.get(k)}
                out[f"{kind}.{label}"] = "kept" if not diff else {"kept_but_changed": diff}
        for name in post_by:
            if name not in pre_by:
                out[f"{kind}.{name}"] = "new_after_restart"

    def bkey(b):
        return (
            b["source_name"],
            b["destination_kind"],
            b["destination_name"],
            b["routing_key"],
            json.dumps(b["arguments"]),
        )

    pre_b = {bkey(b) for b in pre["bindings"]}
    post_b = {bkey(b) for b in post["bindings"]}
    for b in sorted(pre_b):
        if b[0] == "":
            continue
        out["bindings." + "|".join(b[:4])] = "kept" if b in post_b else "gone"
    for b in sorted(post_b - pre_b):
        out["bindings." + "|".join(b[:4])] = "new_after_restart"
    for k in pre:
        if k.startswith("list_") or k.startswith("list"):
            out[f"definitions.{k}"] = (
                "same" if canon(pre[k]) == canon(post[k]) else {"pre": pre[k], "post": post[k]}
            )
    return out


def run_state(node, mode):
    res = {"version": node.version, "mode": mode, "date": datetime.datetime.now(datetime.UTC).isoformat()}
    res["start_fresh_s"] = node.fresh()
    log("node up, building state")
    book = build_state(node, res)
    res["book"] = jsonable({k: v for k, v in book.items() if not k.endswith(("declared", "published"))})
    cons = Observer(node, "consumer", prepare_consumer)
    pub = Observer(node, "publisher", prepare_publisher, publisher_tick)
    cons.start()
    cons.ready.wait(30)
    pub.start()
    pub.ready.wait(30)
    res["consumer_setup"] = cons.info
    time.sleep(2)
    pre = snapshot(node)
    res["snapshot_pre"] = pre
    arm_timers(node, book)
    log("state built; restarting with", mode)
    t_stop = time.monotonic()
    if mode == "clean":
        ctl_s, gone_s, rc = node.stop()
        res["stop_ctl_s"], res["stop_process_gone_s"], res["stop_rc"] = ctl_s, gone_s, rc
    else:
        res["killed_pid"] = node.kill()
    cons.join(15)
    pub.join(15)
    res["client_seen"] = {
        "consumer": {
            "error": cons.error,
            "after_s": round(cons.died_at - t_stop, 3) if cons.died_at else None,
        },
        "publisher": {"error": pub.error, "after_s": round(pub.died_at - t_stop, 3) if pub.died_at else None},
    }
    time.sleep(DOWN_SECONDS)
    res["start_s"] = node.start()
    t_up = time.monotonic()
    log("node back up after", res["start_s"], "s")
    timers = {}
    poller = threading.Thread(target=lambda: timers.update(poll_timers(node, book, t_stop, t_up)))
    poller.start()
    post = snapshot(node)
    res["snapshot_post"] = post
    res["compare"] = compare(pre, post)
    res["compare"].pop("queues.q.expires", None)
    res["checks"] = check_after(node, book, res)
    # expiry / TTL polling (CLI listing, which does not touch the queues)
    poller.join()
    res["timers"] = timers
    return res


def check_after(node, book, res):
    out = {}

    def fac():
        return conn(node)

    for qt in ("classic", "quorum"):
        k = qt[0]
        c, n = wait_queue(node, fac, f"q.{k}.acks")
        out[f"{qt}.acks.count_before_drain"] = n
        if c:
            ch = c.channel()
            out[f"{qt}.acks.drained"] = drain(ch, f"q.{k}.acks")
            out[f"{qt}.mixed.drained"] = drain(ch, f"q.{k}.mixed")
            m, p, _ = ch.basic_get(f"q.{k}.props", auto_ack=True)
            if m:
                after = props_dict(p)
                before = book[f"props_before_{qt}"]
                out[f"{qt}.props.after"] = jsonable(after)
                out[f"{qt}.props.equal_to_before_restart"] = after == before
                out[f"{qt}.props.diff"] = {
                    kk: [jsonable(before.get(kk)), jsonable(after.get(kk))]
                    for kk in set(before) | set(after)
                    if before.get(kk) != after.get(kk)
                }
                bh, ah = before.get("headers", {}), after.get("headers", {})
                out[f"{qt}.props.header_diff"] = {
                    kk: [jsonable(bh.get(kk)), jsonable(ah.get(kk))]
                    for kk in set(bh) | set(ah)
                    if bh.get(kk) != ah.get(kk)
                }
                out[f"{qt}.props.redelivered"] = m.redelivered
            else:
                out[f"{qt}.props.after"] = None
            out[f"{qt}.props.before_vs_sent_headers_equal"] = (
                book[f"props_before_{qt}"].get("headers") == RICH_HEADERS
            )
            m, p, _ = ch.basic_get(f"q.{k}.dead", auto_ack=True)
            out[f"{qt}.dead.after"] = jsonable(props_dict(p)) if m else None
            out[f"{qt}.dead.redelivered"] = m.redelivered if m else None
            out[f"{qt}.dead.xdeath_equal_to_before"] = (
                jsonable(props_dict(p)) == book[f"xdeath_before_{qt}"] if m else None
            )
            c.close()
    c = fac()
    ch = c.channel()
    out["classic.prio.drained"] = [d["body"] for d in drain(ch, "q.c.prio")]
    out["first_delivery_tag_new_channel"] = None
    ch2 = c.channel()
    ch2.basic_publish("", "q.durable", b"x")
    time.sleep(0.2)
    m, _, _ = ch2.basic_get("q.durable", auto_ack=True)
    out["first_delivery_tag_new_channel"] = m.delivery_tag if m else None
    tag = ch2.basic_consume("q.durable2", lambda *a: None)
    out["server_consumer_tag_example"] = tag
    c.close()
    # can u1 log in?
    out["user_u1_login_vh1"] = try_(
        lambda: pika.BlockingConnection(
            pika.ConnectionParameters(
                host="127.0.0.1",
                port=node.port,
                virtual_host="vh1",
                credentials=pika.PlainCredentials("u1", "p1"),
            )
        ).close()
    )
    return out


def poll_timers(node, book, t_stop, t_up, limit=90):
    """Poll until q.expires is gone and the TTL'd messages are gone (or limit)."""
    out = {
        "expires_ms": EXPIRES_MS,
        "ttl_ms": TTL_MS,
        "expires_declared_before_stop_s": round(t_stop - book["expires_declared"], 2),
        "ttl_published_before_stop_s": round(t_stop - book["ttl_published"], 2),
        "down_total_s": round(t_up - t_stop, 2),
    }
    seen = {"q.expires": None, "q.c.msgttl": None, "q.c.qttl": None}
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and any(v is None for v in seen.values()):
        qs = {q["name"]: q for q in node.listing("list_queues", "name", "messages")}
        now = time.monotonic()
        if seen["q.expires"] is None and "q.expires" not in qs:
            seen["q.expires"] = now
        for q in ("q.c.msgttl", "q.c.qttl"):
            if seen[q] is None and q in qs and qs[q]["messages"] == 0:
                seen[q] = now
            if seen[q] is None and q not in qs:
                seen[q] = now
        time.sleep(1)
    out["q.expires_gone_after_declare_s"] = (
        round(seen["q.expires"] - book["expires_declared"], 1) if seen["q.expires"] else None
    )
    out["q.expires_gone_after_up_s"] = round(seen["q.expires"] - t_up, 1) if seen["q.expires"] else None
    for q in ("q.c.msgttl", "q.c.qttl"):
        out[f"{q}_empty_after_publish_s"] = round(seen[q] - book["ttl_published"], 1) if seen[q] else None
        out[f"{q}_empty_after_up_s"] = round(seen[q] - t_up, 1) if seen[q] else None
    return out


# --------------------------------------------------------------------------- confirms + kill
def run_confirms(node, rounds=10, per_queue=100):
    res = {
        "version": node.version,
        "mode": "confirms",
        "rounds": [],
        "date": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    node.fresh()
    c = conn(node)
    ch = c.channel()
    for qt in ("classic", "quorum"):
        ch.queue_declare(f"old.{qt}", durable=True, arguments={"x-queue-type": qt})
    c.close()
    # make the "old" queues survive one restart first so they are long established
    node.stop()
    node.start()
    delays = [0, 0, 0, 0, 0, 0, 1, 1, 5, 5][:rounds]
    for i, delay in enumerate(delays):
        rnd = {"round": i, "delay_s": delay, "queues": {}}
        c = conn(node)
        ch = c.channel()
        ch.confirm_delivery()
        targets = []
        for qt in ("classic", "quorum"):
            wait_queue(node, lambda: conn(node), f"old.{qt}")
            ch.queue_purge(f"old.{qt}")
            targets.append(f"old.{qt}")
            ch.queue_declare(f"new.{qt}.{i}", durable=True, arguments={"x-queue-type": qt})
            targets.append(f"new.{qt}.{i}")
        confirmed = dict.fromkeys(targets, 0)
        for n in range(per_queue):
            for q in targets:
                ch.basic_publish(
                    "", q, f"{q}-{n}".encode(), pika.BasicProperties(delivery_mode=2), mandatory=True
                )
                confirmed[q] += 1
        time.sleep(delay)
        node.kill()
        with contextlib.suppress(Exception):
            c.close()
        node.start()
        for q in targets:
            c2, n = wait_queue(node, lambda: conn(node), q)
            if c2 is not None:
                with contextlib.suppress(Exception):
                    c2.close()
            bodies, errors = drain_bodies(node, q, per_queue + 10)
            expected = [f"{q}-{k}" for k in range(per_queue)]
            rnd["queues"][q] = {
                "confirmed": confirmed[q],
                "after_restart": n,
                "drained": len(bodies),
                "bodies_match": bodies == expected,
                "errors": errors,
            }
        res["rounds"].append(rnd)
        log("round", i, {q: v["after_restart"] for q, v in rnd["queues"].items()})
        with open(f"{RESULTS}/{node.version}-confirms.partial.json", "w") as f:
            json.dump(res, f, indent=1, default=repr)
    return res


# --------------------------------------------------------------------------- young queues + kill
def run_young(node, delays=(0, 0, 0, 0, 0, 0, 1, 2, 3, 5)):
    """Declare a quorum and a classic queue, wait `delay`, publish 100 confirmed persistent
    messages to each, kill -9 at once, restart, count. Shows that queues younger than ~1 s
    lose confirmed messages (quorum) or disappear (classic)."""
    node.fresh()
    res = {
        "version": node.version,
        "mode": "young",
        "rounds": [],
        "date": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    for i, delay in enumerate(delays):
        c = conn(node)
        ch = c.channel()
        ch.confirm_delivery()
        t0 = time.monotonic()
        qs = {f"qq.{i}": "quorum", f"cq.{i}": "classic"}
        for q, t in qs.items():
            ch.queue_declare(q, durable=True, arguments={"x-queue-type": t})
        time.sleep(delay)
        for n in range(100):
            for q in qs:
                ch.basic_publish("", q, f"{q}-{n}".encode(), pika.BasicProperties(delivery_mode=2))
        age = time.monotonic() - t0
        node.kill()
        node.start()
        time.sleep(3)
        listed = {x["name"]: x["messages"] for x in node.listing("list_queues", "name", "messages")}
        rnd = {
            "round": i,
            "declare_to_publish_s": delay,
            "queue_age_at_kill_s": round(age, 2),
            "after": {q: listed.get(q, "missing") for q in qs},
        }
        p = node.sh(
            "/usr/lib/rabbitmq/bin/rabbitmq-queues -n "
            + node.name
            + f" quorum_status qq.{i} --formatter json",
            timeout=120,
        )
        try:
            st = json.loads(p.stdout)[0]
            rnd["qq_raft"] = {
                k: v for k, v in st.items() if k in ("Raft State", "Last Log Index", "Commit Index", "Term")
            }
        except (ValueError, IndexError, KeyError):
            rnd["qq_raft"] = (p.stdout + p.stderr)[-300:]
        res["rounds"].append(rnd)
        log("round", i, json.dumps(rnd))
    # quorum queue message counts in list_queues can lag for a few seconds after a boot:
    # take the counts that decide the facts once everything has settled
    time.sleep(15)
    listed = {x["name"]: x["messages"] for x in node.listing("list_queues", "name", "messages")}
    for rnd in res["rounds"]:
        rnd["after_final"] = {q: listed.get(q, "missing") for q in rnd["after"]}
    return res


def young_facts(version):
    """Facts from <version>-young*.json / -qqloss*.json: loss vs queue age at the kill."""
    import glob

    rounds = []
    for p in sorted(
        glob.glob(f"{RESULTS}/{version}-young*.json") + glob.glob(f"{RESULTS}/{version}-qqloss*.json")
    ):
        with open(p) as fh:
            rounds += json.load(fh)["rounds"]
    f = {}
    for key, lo, hi in (("lt_1s", 0, 1.0), ("ge_1s", 1.0, 1e9)):
        rs = [r for r in rounds if lo <= r["queue_age_at_kill_s"] < hi]
        if not rs:
            continue
        qf = cf = miss = 0
        states = set()
        for r in rs:
            after = r.get("after_final", r["after"])  # quorum counts can lag just after boot
            qv = next(v for k, v in after.items() if k.startswith("qq."))
            cv = next(v for k, v in after.items() if k.startswith("cq."))
            qf += qv if isinstance(qv, int) else 0
            if isinstance(cv, int):
                cf += cv
            else:
                miss += 1
            st = r["qq_raft"] if isinstance(r["qq_raft"], dict) else {}
            states.add(f"{st.get('Raft State')} term {st.get('Term')}" if qv == 0 else "leader, ok")
        n = len(rs)
        f[f"kill_just_declared.age_{key}.rounds"] = n
        f[f"kill_just_declared.age_{key}.quorum_found_vs_confirmed"] = f"{qf}/{100 * n}"
        f[f"kill_just_declared.age_{key}.quorum_state_when_emptied"] = ", ".join(sorted(states))
        f[f"kill_just_declared.age_{key}.classic_found_vs_confirmed"] = f"{cf}/{100 * n}"
        f[f"kill_just_declared.age_{key}.classic_queue_missing"] = miss
    return f


# --------------------------------------------------------------------------- summary
VERSIONS = ("3.10.8", "4.0.5", "4.3.6")
MODES = ("clean", "kill")


def load(v, m):
    p = f"{RESULTS}/{v}-{m}.json"
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def client_text(e):
    if not e:
        return None
    if "reply_code" in e:
        return f"{e['class']}: {e['reply_code']} {e['reply_text']}"
    return f"{e['class']}: {e['text']}"


def declare_text(d):
    return "ok" if d.get("ok") else d.get("error")


def msgs(lst, quorum=False):
    out = []
    for d in lst:
        s = d["body"] + ("(redelivered)" if d["redelivered"] else "")
        if quorum:
            xdc = d["x-delivery-count"]
            s += f"[xdc={'absent' if xdc is None else xdc}]"
        out.append(s)
    return " ".join(out)


def canon_defs(x):
    """Order-insensitive form of a definitions listing (JSON text or list)."""
    if isinstance(x, str):
        try:
            x = json.loads(x)
        except ValueError:
            return x
    if isinstance(x, list):
        return sorted(json.dumps(i, sort_keys=True) for i in x)
    return x


def state_facts(r):
    f = {}
    cmp_, chk, tm = r["compare"], r["checks"], r["timers"]
    f["timing.start_after_restart_s"] = r["start_s"]
    f["timing.start_fresh_node_s"] = r["start_fresh_s"]
    f["timing.rabbitmqctl_stop_s"] = r.get("stop_ctl_s")
    f["timing.stop_until_process_exit_s"] = r.get("stop_process_gone_s")
    for t in ("direct", "fanout", "topic", "headers"):
        f[f"exchange.durable_{t}"] = cmp_[f"exchanges.ex.d.{t}"]
        f[f"exchange.transient_{t}"] = cmp_[f"exchanges.ex.t.{t}"]
    f["exchange.durable_auto_delete_never_bound"] = cmp_["exchanges.ex.ad.nobind"]
    f["exchange.durable_auto_delete_with_binding"] = cmp_["exchanges.ex.ad.bound"]
    f["exchange.durable_internal_flag_kept"] = cmp_["exchanges.ex.internal"]
    f["exchange.alternate_exchange_argument_kept"] = cmp_["exchanges.ex.with.ae"]
    f["queue.durable_classic"] = cmp_["queues.q.durable"]
    f["queue.transient_nonexclusive_declare"] = declare_text(r["declare_transient_queue"])
    f["queue.transient_nonexclusive"] = cmp_.get("queues.q.transient", "not declared")
    f["queue.exclusive_nondurable"] = cmp_.get("queues.q.excl", "not declared")
    f["queue.exclusive_durable_declare"] = declare_text(r["consumer_setup"]["excl_durable"])
    f["queue.exclusive_durable"] = cmp_.get("queues.q.excl.durable", "not declared")
    excl_d = [q for q in r["snapshot_pre"]["queues"] if q["name"] == "q.excl.durable"]
    f["queue.exclusive_declared_durable_listed_durable"] = excl_d[0]["durable"] if excl_d else None
    f["queue.durable_auto_delete_never_consumed"] = cmp_["queues.q.ad.noconsumer"]
    f["queue.durable_auto_delete_consumer_at_stop"] = cmp_["queues.q.ad.consumer"]
    f["queue.server_named_durable_declare"] = declare_text(r["declare_server_named_durable"])
    f["queue.server_named_durable"] = cmp_.get("queues.server_named", "not declared")
    f["queue.quorum"] = cmp_["queues.q.quorum"]
    f["queue.classic_with_arguments_identical"] = cmp_["queues.q.args"]
    f["queue.quorum_with_arguments_identical"] = cmp_["queues.q.q.args"]
    f["queue.policy_matched_queue"] = cmp_["queues.pol.q"]
    f["queue.x_expires_ms"] = tm["expires_ms"]
    f["queue.x_expires_declared_before_stop_s"] = tm["expires_declared_before_stop_s"]
    f["queue.x_expires_gone_after_declare_s"] = tm["q.expires_gone_after_declare_s"]
    f["queue.x_expires_gone_after_node_up_s"] = tm["q.expires_gone_after_up_s"]
    up = tm["q.expires_gone_after_up_s"]
    exp = tm["expires_ms"] / 1000
    if up is not None:
        # node down longer than x-expires: a countdown that kept running would already have
        # fired before/at boot; one restarted at boot fires about x-expires after the node is up
        if up >= exp - 3:
            f["queue.x_expires_countdown"] = "restarts at boot"
        elif tm["q.expires_gone_after_declare_s"] <= exp + 10:
            f["queue.x_expires_countdown"] = "keeps running (time down counts)"
        else:
            f["queue.x_expires_countdown"] = "other"
    f["binding.durable_exchange_to_durable_queue"] = cmp_["bindings.ex.d.direct|queue|q.durable|k"]
    f["binding.transient_exchange_to_durable_queue"] = cmp_[
        "bindings.ex.t.direct|queue|q.durable|k-transient"
    ]
    f["binding.e2e_durable_to_durable"] = cmp_["bindings.ex.d.fanout|exchange|ex.d.topic|e2e.dd"]
    f["binding.e2e_durable_source_transient_destination"] = cmp_[
        "bindings.ex.d.fanout|exchange|ex.t.topic|e2e.dt"
    ]
    f["binding.e2e_transient_source_durable_destination"] = cmp_[
        "bindings.ex.t.fanout|exchange|ex.d.topic|e2e.td"
    ]
    f["binding.headers_with_arguments_identical"] = cmp_["bindings.ex.d.headers|queue|q.durable|"]
    f["binding.auto_delete_exchange_to_queue"] = cmp_["bindings.ex.ad.bound|queue|q.durable2|k"]
    f["binding.internal_exchange_to_queue"] = cmp_["bindings.ex.internal|queue|q.durable2|#"]
    timer_objs = ("q.expires", "q.c.msgttl", "q.c.qttl")  # declared after the pre-snapshot
    extra = sorted(
        k
        for k, v in cmp_.items()
        if v == "new_after_restart" and not any(k.endswith(t) or f"|{t}|" in k for t in timer_objs)
    )
    f["objects_new_after_restart"] = extra or "none"
    for qt in ("classic", "quorum"):
        mixed = chk.get(f"{qt}.mixed.drained", [])
        bodies = [d["body"] for d in mixed]
        f[f"msg.{qt}.persistent_kept"] = f"{sum(b in bodies for b in ('m1', 'm3', 'm5'))}/3"
        f[f"msg.{qt}.transient_kept"] = f"{sum(b in bodies for b in ('m2', 'm4', 'm6'))}/3"
        f[f"msg.{qt}.mixed_after_restart"] = msgs(mixed, qt == "quorum")
        f[f"msg.{qt}.delivery_mode_after_restart"] = " ".join(
            f"{d['body']}={d['delivery_mode']}" for d in mixed
        )
        f[f"msg.{qt}.properties_identical"] = chk.get(f"{qt}.props.equal_to_before_restart")
        f[f"msg.{qt}.properties_diff"] = chk.get(f"{qt}.props.diff") or "none"
        f[f"msg.{qt}.headers_equal_to_sent"] = chk.get(f"{qt}.props.before_vs_sent_headers_equal")
        after = chk.get(f"{qt}.props.after") or {}
        added = sorted(
            set(after.get("headers", {}))
            - {"str", "int", "neg", "big", "bool", "false", "dec", "ts", "bytes", "none", "list", "nested"}
        )
        f[f"msg.{qt}.headers_added_by_broker"] = (
            ", ".join(f"{k}={after['headers'][k]}" for k in added) or "none"
        )
        acks = chk.get(f"{qt}.acks.drained", [])
        held = r["consumer_setup"][qt]["held_unacked"]
        f[f"unacked.{qt}.held_at_stop"] = " ".join(held) + " (m1, m4 acked; m7-m12 never delivered)"
        f[f"unacked.{qt}.after_restart"] = msgs(acks, qt == "quorum")
        ab = [d["body"] for d in acks]
        f[f"unacked.{qt}.acked_messages_gone"] = "m1" not in ab and "m4" not in ab
        f[f"unacked.{qt}.held_redelivered_flag"] = sorted(
            {d["redelivered"] for d in acks if d["body"] in held}
        )
        f[f"unacked.{qt}.never_delivered_redelivered_flag"] = sorted(
            {d["redelivered"] for d in acks if d["body"] not in held}
        )
        f[f"deadletter.{qt}_source.dead_lettered_message_kept"] = chk.get(f"{qt}.dead.after") is not None
        f[f"deadletter.{qt}_source.x_death_identical"] = chk.get(f"{qt}.dead.xdeath_equal_to_before")
        f[f"deadletter.{qt}_source.redelivered_flag"] = chk.get(f"{qt}.dead.redelivered")
    f["msg.classic_priority_queue_order_after_restart"] = " ".join(chk["classic.prio.drained"])
    for q, label in (("q.c.msgttl", "per_message_ttl"), ("q.c.qttl", "queue_x_message_ttl")):
        a, b = tm[f"{q}_empty_after_publish_s"], tm[f"{q}_empty_after_up_s"]
        f[f"msg.{label}_ms"] = tm["ttl_ms"]
        f[f"msg.{label}_expired_after_publish_s"] = a
        f[f"msg.{label}_expired_after_node_up_s"] = b
        if b is not None:
            # if the TTL clock restarted at boot, expiry would be ~TTL after the node came up
            f[f"msg.{label}_time_while_down_counts"] = b < tm["ttl_ms"] / 1000 - 5
    f["timers.node_down_s"] = tm["down_total_s"]
    cs = r["client_seen"]
    f["client.consumer_connection_error"] = client_text(cs["consumer"]["error"])
    f["client.publisher_connection_error"] = client_text(cs["publisher"]["error"])
    f["client.error_seen_after_s"] = cs["consumer"]["after_s"]
    pre, post = r["snapshot_pre"], r["snapshot_post"]
    for k in pre:
        if k.startswith("list"):
            same = canon_defs(pre[k]) == canon_defs(post.get(k))
            f[k.replace("list_", "definitions.")] = "same" if same else "changed"
    f["definitions.user_u1_login_after_restart"] = chk["user_u1_login_vh1"].get("ok")
    f["channel.first_delivery_tag_after_restart"] = chk["first_delivery_tag_new_channel"]
    f["consumer_tag_example_after_restart"] = chk["server_consumer_tag_example"]
    return f


LOG_DIRS = {
    "3.10.8": "/tmp/restarts/m310/log",
    "4.0.5": "/var/cache/rabbitsim/trixie-root/tmp/restarts/m40/log",
    "4.3.6": "/var/cache/rabbitsim/sid-root/tmp/restarts/m43/log",
}


def log_facts(version):
    """Deprecation warnings the node logged (logs accumulate over all runs of that node)."""
    d = LOG_DIRS[version]
    if not os.path.isdir(d):
        return {}
    warned = set()
    for name in os.listdir(d):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(d, name), errors="replace") as fh:
            for line in fh:
                if "Deprecated features: `" in line:
                    warned.add(line.split("Deprecated features: `", 1)[1].split("`", 1)[0])
    return {"log.deprecated_feature_warnings": sorted(warned) or "none"}


def confirm_facts(r):
    f = {}
    if not r:
        return f
    kinds = {}
    for rnd in r["rounds"]:
        for q, d in rnd["queues"].items():
            kind = ("existing_" if q.startswith("old.") else "just_declared_") + q.split(".")[1]
            k = kinds.setdefault(
                kind,
                {
                    "rounds": 0,
                    "confirmed": 0,
                    "found": 0,
                    "lost_rounds": [],
                    "queue_missing": 0,
                    "order_ok": 0,
                },
            )
            k["rounds"] += 1
            k["confirmed"] += d["confirmed"]
            n = d["after_restart"] if isinstance(d["after_restart"], int) else 0
            if not isinstance(d["after_restart"], int):
                k["queue_missing"] += 1
            k["found"] += n
            k["order_ok"] += bool(d["bodies_match"])
            if n < d["confirmed"]:
                k["lost_rounds"].append(f"delay {rnd['delay_s']}s: {n}/{d['confirmed']}")
    for kind, k in sorted(kinds.items()):
        f[f"confirms.{kind}.confirmed_vs_found"] = f"{k['found']}/{k['confirmed']} in {k['rounds']} kills"
        f[f"confirms.{kind}.queue_missing_after_kill"] = k["queue_missing"]
        f[f"confirms.{kind}.rounds_with_loss"] = k["lost_rounds"] or "none"
        f[f"confirms.{kind}.all_bodies_in_order"] = f"{k['order_ok']}/{k['rounds']}"
    f["confirms.delays_s"] = [rnd["delay_s"] for rnd in r["rounds"]]
    return f


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v).replace("|", "\\|") + "`"
    return str(v).replace("|", "\\|")


def summarize(out_json=None, out_md=None):
    facts = {}
    for v in VERSIONS:
        cf = confirm_facts(load(v, "confirms"))
        for m in MODES:
            r = load(v, m)
            if not r:
                continue
            f = state_facts(r)
            if m == "kill":
                f.update(cf)
                f.update(young_facts(v))
            f.update(log_facts(v))
            facts.setdefault(v, {})[m] = f
    out_json = out_json or f"{RESULTS}/restart_facts.json"
    out_md = out_md or f"{RESULTS}/tables.md"
    with open(out_json, "w") as fh:
        json.dump(facts, fh, indent=1, sort_keys=False)
    cols = [(v, m) for v in VERSIONS for m in MODES if m in facts.get(v, {})]
    keys = []
    for v, m in cols:
        for k in facts[v][m]:
            if k not in keys:
                keys.append(k)
    groups = {}
    for k in keys:
        groups.setdefault(k.split(".")[0].split("_")[0], []).append(k)
    lines = []
    for g, ks in groups.items():
        lines.append(f"\n### {g}\n")
        lines.append("| fact | " + " | ".join(f"{v} {m}" for v, m in cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for k in ks:
            lines.append(f"| `{k}` | " + " | ".join(fmt(facts[v][m].get(k)) for v, m in cols) + " |")
    with open(out_md, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", choices=sorted(NODES), help="broker version to measure")
    ap.add_argument(
        "--mode", required=True, choices=("clean", "kill", "confirms", "young", "all", "down", "summarize")
    )
    ap.add_argument("--rounds", type=int, default=10, help="kill -9 rounds for --mode confirms")
    ap.add_argument("--json", help="summarize: facts JSON path")
    ap.add_argument("--md", help="summarize: markdown tables path")
    a = ap.parse_args()
    if a.mode == "summarize":
        summarize(a.json, a.md)
        return
    if not a.version:
        ap.error("--version is required")
    node = Node(a.version)
    if a.mode == "down":
        if node.running():
            log("stop", node.stop())
        return
    os.makedirs(RESULTS, exist_ok=True)
    for mode in ("clean", "kill", "confirms", "young") if a.mode == "all" else (a.mode,):
        if mode == "confirms":
            res = run_confirms(node, a.rounds)
        elif mode == "young":
            res = run_young(node)
        else:
            res = run_state(node, mode)
        path = f"{RESULTS}/{a.version}-{mode}.json"
        with open(path, "w") as f:
            json.dump(res, f, indent=1, default=repr)
        log("wrote", path)


if __name__ == "__main__":
    main()
