// End to end against a running agentOS Jobs (the local stack): skipped unless AGENTOS_E2E_URL is set.
// tests/test_agent_kits.py starts the stack with an agent routed to AGENTOS_E2E_AGENT_PORT and runs this.
//   AGENTOS_E2E_URL=http://localhost:3000/api AGENTOS_E2E_TOKEN=… AGENTOS_E2E_AGENT_ID=<uuid>
//   AGENTOS_E2E_AGENT_PORT=<port> AGENTOS_E2E_SECRET=<agent secret> node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { receive, SignatureError } from '../agentos-agent.mjs';
import { AgentOSClient, JobManager } from '../index.mjs';

const env = process.env;
const skip = env.AGENTOS_E2E_URL ? false : 'AGENTOS_E2E_URL is not set (tests/test_agent_kits.py sets it)';

async function api(method, path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (env.AGENTOS_E2E_TOKEN) headers.Authorization = `Bearer ${env.AGENTOS_E2E_TOKEN}`;
  const response = await fetch(`${env.AGENTOS_E2E_URL}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, data: text ? JSON.parse(text) : null };
}

/** An agent on the configured port: verifies each delivery, answers 202, hands it to the test. */
function startAgent() {
  const deliveries = [];
  let wake = () => {};
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      try {
        const delivery = receive(Buffer.concat(chunks), request.headers, env.AGENTOS_E2E_SECRET);
        response.writeHead(202, { 'Content-Type': 'application/json' }).end('{"accepted":true}');
        deliveries.push(delivery);
        wake();
      } catch (error) {
        response.writeHead(error instanceof SignatureError ? 401 : 400).end(String(error.message));
      }
    });
  });
  const next = (timeoutMs) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no delivery arrived')), timeoutMs);
    const check = () => { if (deliveries.length) { clearTimeout(timer); resolve(deliveries.shift()); } else wake = check; };
    check();
  });
  return new Promise((resolve) => server.listen(Number(env.AGENTOS_E2E_AGENT_PORT), '127.0.0.1',
    () => resolve({ server, next })));
}

test('a delivery accepted with 202, then heartbeat and complete through the kit', { skip }, async () => {
  const agent = await startAgent();
  try {
    const created = await api('POST', '/jobs', { name: `ts-kit-${Date.now()}`, agentId: env.AGENTOS_E2E_AGENT_ID,
      schedule: '0 0 1 1 *', payload: { from: 'node' } });
    assert.equal(created.status, 201, JSON.stringify(created.data));
    const queued = await api('POST', `/jobs/${created.data.id}/run`);
    assert.equal(queued.status, 202, JSON.stringify(queued.data));
    const delivery = await agent.next(15000);
    assert.equal(delivery.runId, queued.data.id);
    assert.deepEqual(delivery.payload, { from: 'node' });
    assert.ok(delivery.callbackUrl.endsWith(`/api/runs/${delivery.runId}`), delivery.callbackUrl);

    const beat = await delivery.heartbeat({ step: 1, of: 2 });
    assert.equal(beat.status, 'running');
    assert.equal(beat.cancelRequested, false);
    assert.deepEqual(beat.progress, { step: 1, of: 2 });
    const usage = { inputTokens: 1500, outputTokens: 200, costUsd: 0.0125 };
    const done = await delivery.complete('succeeded', { output: { summary: 'ok from node' }, usage });
    assert.equal(done.status, 'succeeded');
    const again = await delivery.complete('succeeded', { output: { summary: 'ok from node' }, usage });
    assert.equal(again.status, 'succeeded', 'the same report repeated changes nothing');

    const run = await api('GET', `/runs/${delivery.runId}`);
    assert.equal(run.status, 200);
    assert.equal(run.data.status, 'succeeded');
    assert.deepEqual(run.data.output, { summary: 'ok from node' });
    assert.deepEqual(run.data.usage, usage);
    await api('DELETE', `/jobs/${created.data.id}`);
  } finally {
    agent.server.close();
  }
});

async function ended(client, runId, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await client.getRun(runId);
    if (['succeeded', 'failed', 'cancelled'].includes(run.status)) return run;
    assert.ok(Date.now() < deadline, `run ${runId} still ${run.status}`);
    await new Promise((resolve) => { setTimeout(resolve, 250); });
  }
}

test('the job manager against the stack: quick, slow (202, heartbeats, complete) and failing callbacks', { skip }, async () => {
  const client = new AgentOSClient({ baseUrl: env.AGENTOS_E2E_URL, token: env.AGENTOS_E2E_TOKEN });
  const jobs = new JobManager({ client, agentId: env.AGENTOS_E2E_AGENT_ID, secret: env.AGENTOS_E2E_SECRET,
    answerWithinMs: 2000, heartbeatEveryMs: 1000 }); // the stack's agent timeoutMs is 5000 here
  const server = await jobs.listen(Number(env.AGENTOS_E2E_AGENT_PORT));
  try {
    const stamp = Date.now();
    const declare = (name, callback, extra = {}) => jobs.createJob({ name: `${name}-${stamp}`, schedule: '0 0 1 1 *', callback, ...extra });
    const quick = await declare('ts-quick', (ctx) => ({ doubled: ctx.payload.n * 2 }));
    assert.equal(quick.origin.via, 'kit');
    const again = await declare('ts-quick', (ctx) => ({ doubled: ctx.payload.n * 2 }));
    assert.deepEqual([again.id, again.updatedAt, again.nextRunAt], [quick.id, quick.updatedAt, quick.nextRunAt]);
    const slow = await declare('ts-slow', async (ctx) => {
      ctx.reportProgress({ step: 1 });
      await new Promise((resolve) => { setTimeout(resolve, 4000); });
      return { summary: 'slow from node' };
    }, { heartbeatTimeoutMs: 3000 });
    const boom = await declare('ts-boom', () => { throw new TypeError('no such feed'); });

    const runs = await Promise.all([quick, slow, boom].map((job) => client.runJob(job.id, { payload: { n: 21 } })));
    const [q, s, b] = await Promise.all(runs.map((run) => ended(client, run.id)));
    assert.deepEqual([q.status, q.output, q.heartbeatAt], ['succeeded', { doubled: 42 }, null]);
    assert.deepEqual([s.status, s.output, s.progress, s.attempt], ['succeeded', { summary: 'slow from node' }, { step: 1 }, 1]);
    assert.ok(s.heartbeatAt, 'the slow run heartbeated');
    assert.equal(b.status, 'failed');
    assert.match(b.error, /TypeError: no such feed/);
    for (const job of [quick, slow, boom]) await client.deleteJob(job.id);
  } finally {
    server.close();
  }
});
