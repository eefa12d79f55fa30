// End to end against a running agentOS Jobs (the local stack): skipped unless AGENTOS_E2E_URL is set.
// tests/test_agent_kits.py starts the stack with an agent routed to AGENTOS_E2E_AGENT_PORT and runs this.
//   AGENTOS_E2E_URL=http://localhost:3000/api AGENTOS_E2E_TOKEN=… AGENTOS_E2E_AGENT_ID=<uuid>
//   AGENTOS_E2E_AGENT_PORT=<port> AGENTOS_E2E_SECRET=<agent secret> node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { receive, SignatureError } from '../agentos-agent.mjs';

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
