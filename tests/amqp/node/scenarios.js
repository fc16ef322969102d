// The tutorials' path with node's amqplib, one scenario per run:
//   node scenarios.js SCENARIO AMQP_URL NAME
// Prints one JSON object on stdout for tests/amqp/test_node_amqplib.py to check, and exits 0;
// on any failure prints the error on stderr and exits 1. A timer bounds every run.
'use strict';

const amqp = require('amqplib');

const TIMEOUT_MS = 8000;

// Resolves once `condition()` holds, checking after every event-loop turn.
function until(condition, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    (function check() {
      if (condition()) return resolve();
      if (Date.now() - started > TIMEOUT_MS / 2) return reject(new Error(`timed out: ${what}`));
      setImmediate(check);
    })();
  });
}

// An error from a closed channel, as amqplib reports it: the AMQP reply code and text.
function describe(error) {
  return { code: error.code, classId: error.classId, methodId: error.methodId, message: error.message };
}

// Work queue: a producer channel sends persistent tasks; a worker with prefetch 1 and manual
// acks takes them in order, sends the first back once (nack with requeue) and sees it again
// marked redelivered; at the end the queue is empty, and deleting it cancels the consumer.
async function workQueue(connection, name) {
  const producer = await connection.createChannel();
  await producer.assertQueue(name, { durable: true });
  for (let n = 0; n < 5; n++) {
    producer.sendToQueue(name, Buffer.from(`task ${n}`), { persistent: true, messageId: `m${n}` });
  }

  const worker = await connection.createChannel();
  await worker.prefetch(1);
  const deliveries = [];
  let requeued = false;
  let cancelled = false;
  await worker.consume(name, (message) => {
    if (message === null) {
      cancelled = true; // basic.cancel from the broker: the queue was deleted under the consumer
      return;
    }
    deliveries.push({
      body: message.content.toString(),
      redelivered: message.fields.redelivered,
      deliveryMode: message.properties.deliveryMode,
      messageId: message.properties.messageId,
    });
    if (!requeued) {
      requeued = true;
      worker.nack(message, false, true);
    } else {
      worker.ack(message);
    }
  });
  await until(() => deliveries.length === 6, 'six deliveries');
  const { messageCount } = await producer.checkQueue(name);
  await producer.deleteQueue(name);
  await until(() => cancelled, 'the consumer cancelled by the broker');
  return { deliveries, messageCount, cancelled };
}

// Publish/subscribe and topics: exclusive server-named queues bound to a topic exchange,
// read back with basic.get once the confirm channel has every publish acked.
async function topics(connection, name) {
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange(name, 'topic', { autoDelete: true });
  const bindings = { Q1: ['*.orange.*'], Q2: ['*.*.rabbit', 'lazy.#'] };
  const queues = {};
  for (const [label, patterns] of Object.entries(bindings)) {
    const { queue } = await channel.assertQueue('', { exclusive: true });
    for (const pattern of patterns) await channel.bindQueue(queue, name, pattern);
    queues[label] = queue;
  }
  const keys = ['quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox', 'lazy.brown.fox',
    'lazy.pink.rabbit', 'quick.brown.fox', 'orange', 'lazy.orange.new.rabbit', 'lazy'];
  for (const key of keys) channel.publish(name, key, Buffer.from(key));
  await channel.waitForConfirms();
  const got = { names: queues };
  for (const [label, queue] of Object.entries(queues)) {
    got[label] = [];
    for (let message; (message = await channel.get(queue, { noAck: true })) !== false;) {
      got[label].push(message.content.toString());
    }
  }
  return got;
}

// Publisher confirms: every publish's callback gets no error, waitForConfirms resolves; a
// mandatory publish nobody can route comes back as basic.return (312 NO_ROUTE) and is still acked.
async function confirms(connection, name) {
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue(name, { autoDelete: true });
  const outcomes = [];
  for (let n = 0; n < 20; n++) {
    channel.sendToQueue(name, Buffer.from(`m${n}`), {}, (error) => outcomes.push(error ? String(error) : 'ack'));
  }
  await channel.waitForConfirms();
  const returns = [];
  channel.on('return', (message) => returns.push({
    replyCode: message.fields.replyCode,
    replyText: message.fields.replyText,
    exchange: message.fields.exchange,
    routingKey: message.fields.routingKey,
    body: message.content.toString(),
  }));
  let unroutable = null;
  channel.publish('', `${name}-nowhere`, Buffer.from('lost'), { mandatory: true },
    (error) => { unroutable = error ? String(error) : 'ack'; });
  await channel.waitForConfirms();
  await until(() => returns.length === 1, 'the basic.return');
  const { messageCount } = await channel.checkQueue(name);
  await channel.deleteQueue(name);
  return { outcomes, unroutable, returns, messageCount };
}

// Headers: amqplib encodes non-integer numbers as doubles (field type 'd'), integers by size,
// Buffers as byte arrays; what comes back must be what was sent, bit for bit.
async function headers(connection, name) {
  const channel = await connection.createConfirmChannel();
  const { queue } = await channel.assertQueue(name, { exclusive: true });
  const sent = {
    pi: Math.PI,
    tenth: 0.1,
    tiny: 5e-324,
    big: 2 ** 53 - 1,
    negative: -42,
    text: 'héllo wörld',
    flag: true,
    nothing: null,
    list: [1, 'two', 3.5, { four: 4 }],
    nested: { level1: { level2: ['a', 2.25] } },
    bytes: Buffer.from([0, 1, 254, 255]),
  };
  channel.sendToQueue(queue, Buffer.from('body'), { headers: sent });
  await channel.waitForConfirms();
  const message = await channel.get(queue, { noAck: true });
  const received = { ...message.properties.headers };
  received.bytes = Buffer.isBuffer(received.bytes) ? [...received.bytes] : received.bytes;
  return received;
}

// Errors: each closes its channel with RabbitMQ's code and text; the connection survives.
async function errors(connection, name) {
  const result = {};
  const attempt = async (label, action) => {
    const channel = await connection.createChannel();
    const closed = new Promise((resolve) => channel.on('close', resolve));
    channel.on('error', () => {}); // reported through the rejected promise below
    try {
      await action(channel);
      result[label] = 'no error';
    } catch (error) {
      result[label] = describe(error);
    }
    await closed;
  };
  const setup = await connection.createChannel();
  await setup.assertQueue(name, { durable: false, autoDelete: true });
  await attempt('inequivalent', (channel) => channel.assertQueue(name, { durable: true, autoDelete: true }));
  await attempt('missingQueue', (channel) => channel.checkQueue(`${name}-absent`));
  await attempt('missingExchange', (channel) => channel.checkExchange(`${name}-absent`));
  await attempt('reservedName', (channel) => channel.assertExchange('amq.mine', 'direct'));
  await setup.deleteQueue(name);
  return result;
}

const SCENARIOS = { 'work-queue': workQueue, topics, confirms, headers, errors };

async function main() {
  const [scenario, url, name] = process.argv.slice(2);
  if (!SCENARIOS[scenario] || !url || !name) {
    throw new Error(`usage: node scenarios.js (${Object.keys(SCENARIOS).join('|')}) URL NAME`);
  }
  const connection = await amqp.connect(url);
  try {
    const result = await SCENARIOS[scenario](connection, name);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await connection.close();
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write(`scenario still running after ${TIMEOUT_MS} ms\n`);
  process.exit(2);
}, TIMEOUT_MS);
watchdog.unref();

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
