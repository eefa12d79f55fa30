// node --test sdk/typescript/test/ : the job manager, its listener, reports and the API client,
// against a fake API on 127.0.0.1 (test-support/fake-api.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  AgentOSClient, AgentOSError, AttemptEnded, JobFailed, JobManager, sign,
} from '../index.mjs';
import { fakeApi } from '../test-support/fake-api.mjs';

const SECRET = 'manager-test-secret';
const AGENT = '550e8400-e29b-41d4-a716-446655440000';
const quiet = { warn() {}, error() {} };
const wait = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function setUp(options = {}) {
  const api = await fakeApi();
  const client = new AgentOSClient({ baseUrl: api.base, token: 'api-token' });
  const jobs = new JobManager({ client, agentId: AGENT, secret: SECRET, answerWithinMs: 200, heartbeatEveryMs: 40,
    retry: { backoff: { firstMs: 20, maxMs: 100 } }, log: quiet, ...options });
  return { api, client, jobs };
}

/** A signed delivery of `job`, as the server sends it; its reports go to `api`. */
function delivery(api, job, extra = {}) {
  const body = JSON.stringify({
    jobId: job.id, jobName: job.name, runId: 'run-1', agentId: AGENT, scheduledAt: new Date().toISOString(),
    attempt: 1, trigger: 'manual', payload: { n: 2 }, callbackUrl: `${api.base}/runs/run-1`, callbackToken: 'cb-token',
    timeoutAt: new Date(Date.now() + 60000).toISOString(), ...extra });
  return { headers: { 'x-agentos-signature': sign(SECRET, Math.trunc(Date.now() / 1000), body) }, body };
}

async function settle(jobs) {
  await jobs.accepted.at(-1).settled;
}

test('createJob declares the job with PUT by-name (URL-encoded, kit header, token) and is idempotent', async () => {
  const { api, jobs } = await setUp();
  try {
    const job = await jobs.createJob({ name: 'nightly report/eu', interval: 3600000, timeoutMs: 60000, callback: () => 1 });
    const again = await jobs.createJob({ name: 'nightly report/eu', interval: 3600000, timeoutMs: 60000, callback: () => 1 });
    assert.equal(again.id, job.id);
    const [put] = api.requests;
    assert.equal(put.method, 'PUT');
    assert.equal(put.url, '/api/jobs/by-name/nightly%20report%2Feu');
    assert.equal(put.headers['x-agentos-client'], 'kit');
    assert.equal(put.headers.authorization, 'Bearer api-token');
    assert.deepEqual(put.body, { name: 'nightly report/eu', interval: 3600000, timeoutMs: 60000, agentId: AGENT, payload: {} });
    await assert.rejects(jobs.createJob({ name: 'x', interval: 1000 }), /callback/);
  } finally { await api.close(); }
});

test('createJob retries its declaration on 5xx, not on 4xx', async () => {
  const { api, jobs } = await setUp();
  try {
    api.failDeclares.push(503, 502);
    const job = await jobs.createJob({ name: 'declared', interval: 60000, callback: () => null });
    assert.equal(job.id, 'job-1');
    assert.equal(api.requests.filter((r) => r.method === 'PUT').length, 3);
    api.failDeclares.push(409);
    await assert.rejects(jobs.createJob({ name: 'declared', interval: 60000, callback: () => null }), (e) => e.status === 409);
    assert.equal(api.requests.filter((r) => r.method === 'PUT').length, 4);
  } finally { await api.close(); }
});

test('a quick callback answers 200 with its return value (state at the top level); none answers 204', async () => {
  const { api, jobs } = await setUp();
  try {
    const job = await jobs.createJob({ name: 'quick', interval: 60000,
      callback: (ctx) => ({ doubled: ctx.payload.n * 2, seen: ctx.state, state: { cursor: 7 } }) });
    const { headers, body } = delivery(api, job, { state: { cursor: 6 } });
    const answer = await jobs.handle(headers, body);
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { doubled: 4, seen: { cursor: 6 }, state: { cursor: 7 } });
    const none = await jobs.createJob({ name: 'silent', interval: 60000, callback: async () => undefined });
    const quiet204 = await jobs.handle(...Object.values(delivery(api, none)));
    assert.equal(quiet204.status, 204);
    const scalar = await jobs.createJob({ name: 'scalar', interval: 60000, callback: () => 'done' });
    assert.deepEqual(JSON.parse((await jobs.handle(...Object.values(delivery(api, scalar)))).body), { value: 'done' });
  } finally { await api.close(); }
});

test('a quick exception answers 500 with its text; JobFailed(retryable: false) answers 422', async () => {
  const { api, jobs } = await setUp();
  try {
    const boom = await jobs.createJob({ name: 'boom', interval: 60000, callback: () => { throw new RangeError('out of range'); } });
    const answer = await jobs.handle(...Object.values(delivery(api, boom)));
    assert.equal(answer.status, 500);
    assert.equal(answer.body, 'RangeError: out of range');
    const final = await jobs.createJob({ name: 'final', interval: 60000,
      callback: async () => { throw new JobFailed('bad input', { retryable: false }); } });
    const refused = await jobs.handle(...Object.values(delivery(api, final)));
    assert.deepEqual([refused.status, refused.body], [422, 'JobFailed: bad input']);
  } finally { await api.close(); }
});

test('a slow callback is accepted (202), heartbeats with its progress, then completes with output, usage and state', async () => {
  const { api, jobs } = await setUp();
  try {
    const job = await jobs.createJob({ name: 'slow', interval: 60000, callback: async (ctx) => {
      ctx.reportProgress({ step: 1 });
      await wait(400);
      return { summary: 'ok', usage: { inputTokens: 5 }, state: { page: 2 } };
    } });
    const answer = await jobs.handle(...Object.values(delivery(api, job)));
    assert.equal(answer.status, 202);
    await settle(jobs);
    assert.ok(api.heartbeats.length >= 2, `heartbeats: ${api.heartbeats.length}`);
    assert.deepEqual(api.heartbeats[0], { progress: { step: 1 } });
    assert.deepEqual(api.completes, [{ status: 'succeeded', output: { summary: 'ok', usage: { inputTokens: 5 }, state: { page: 2 } },
      usage: { inputTokens: 5 }, state: { page: 2 } }]);
    const report = api.requests.find((r) => r.url === '/api/runs/run-1/complete');
    assert.equal(report.headers.authorization, 'Bearer cb-token');
    assert.equal(report.headers['x-agentos-client'], 'kit');
  } finally { await api.close(); }
});

test('a slow callback that throws completes failed with the error text', async () => {
  const { api, jobs } = await setUp();
  try {
    const job = await jobs.createJob({ name: 'slow-boom', interval: 60000,
      callback: async () => { await wait(300); throw new Error('model unavailable'); } });
    assert.equal((await jobs.handle(...Object.values(delivery(api, job)))).status, 202);
    await settle(jobs);
    assert.deepEqual(api.completes, [{ status: 'failed', error: 'Error: model unavailable', retryable: true }]);
  } finally { await api.close(); }
});

test('a complete that meets 503s is retried with backoff until it lands; a 409 is not retried', async () => {
  const { api, jobs } = await setUp({ heartbeatEveryMs: 60000 }); // every scripted failure meets the complete
  try {
    const job = await jobs.createJob({ name: 'retried', interval: 60000, callback: async () => { await wait(250); return { ok: 1 }; } });
    api.failReports.push(503, 502, 503, 503, 503);
    assert.equal((await jobs.handle(...Object.values(delivery(api, job)))).status, 202);
    await settle(jobs);
    assert.deepEqual(api.completes, [{ status: 'succeeded', output: { ok: 1 } }]);
    assert.equal(api.requests.filter((r) => r.url.endsWith('/complete')).length, 6, 'five failures, then it landed');

    const ended = await fakeApi();
    const lateJob = { id: 'job-x', name: 'late' };
    ended.failReports.push(409);
    const parsed = (await import('../agentos-agent.mjs')).Delivery.parse(JSON.parse(delivery(ended, lateJob).body));
    await assert.rejects(parsed.complete('succeeded'), AttemptEnded);
    assert.equal(ended.requests.length, 1, 'a 409 is final');
    ended.failReports.push(400);
    await assert.rejects(parsed.complete('succeeded'), (e) => e.status === 400 && !(e instanceof AttemptEnded));
    assert.equal(ended.requests.length, 2, 'a 400 is final');
    await ended.close();
  } finally { await api.close(); }
});

test('a report retried through an API that refuses connections, then comes back, lands', async () => {
  const probe = await fakeApi();
  const port = probe.port;
  await probe.close(); // nothing listens there now: connection refused
  const parsed = (await import('../agentos-agent.mjs')).Delivery.parse(JSON.parse(delivery(
    { base: `http://127.0.0.1:${port}/api` }, { id: 'job-1', name: 'n' }).body));
  parsed.retryOptions = { backoff: { firstMs: 50, maxMs: 200 } };
  const reported = parsed.complete('succeeded', { output: { after: 'restart' } });
  await wait(400);
  const api = await fakeApi({ port });
  try {
    api.failReports.push(503);
    const run = await reported;
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(api.completes, [{ status: 'succeeded', output: { after: 'restart' } }]);
  } finally { await api.close(); }
});

test('a cancel seen on a heartbeat aborts the context and reports cancelled', async () => {
  const { api, jobs } = await setUp();
  try {
    let aborted = false;
    const job = await jobs.createJob({ name: 'cancellable', interval: 60000, callback: (ctx) => new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => { aborted = true; resolve({ stopped: true }); });
    }) });
    api.cancel = true;
    assert.equal((await jobs.handle(...Object.values(delivery(api, job)))).status, 202);
    await settle(jobs);
    await wait(20);
    assert.equal(aborted, true);
    assert.deepEqual(api.completes, [{ status: 'cancelled' }]);
  } finally { await api.close(); }
});

test('the listener: 401 unsigned, 400 not a delivery, 404 unknown job, 405 not a POST; a secret is required', async () => {
  const { api, jobs } = await setUp();
  const server = http.createServer(jobs.listener);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  try {
    const job = await jobs.createJob({ name: 'served', interval: 60000, callback: (ctx) => ({ got: ctx.payload.n }) });
    const { headers, body } = delivery(api, job);
    const ok = await fetch(url, { method: 'POST', headers, body });
    assert.deepEqual([ok.status, await ok.json()], [200, { got: 2 }]);
    assert.equal((await fetch(url, { method: 'POST', body })).status, 401);
    const notDelivery = '{"hello":1}';
    const signed = { 'x-agentos-signature': sign(SECRET, Math.trunc(Date.now() / 1000), notDelivery) };
    assert.equal((await fetch(url, { method: 'POST', headers: signed, body: notDelivery })).status, 400);
    const other = delivery(api, { id: 'job-unknown', name: 'unknown' });
    const missing = await fetch(url, { method: 'POST', headers: other.headers, body: other.body });
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /no callback registered for job "unknown"/);
    assert.equal((await fetch(url)).status, 405);
    const env = process.env.AGENT_SECRET;
    delete process.env.AGENT_SECRET;
    assert.throws(() => new JobManager({ agentId: AGENT }), /no secret/);
    if (env !== undefined) process.env.AGENT_SECRET = env;
  } finally {
    server.close();
    await api.close();
  }
});

test('the client: pages through Link, sends Idempotency-Key and a run payload, errors carry status, Code and Message', async () => {
  const api = await fakeApi();
  try {
    const client = new AgentOSClient({ baseUrl: api.base, token: 't' });
    const ids = [];
    for await (const job of client.listJobs({ limit: 1 })) ids.push(job.id);
    assert.deepEqual(ids, ['job-1', 'job-2']);
    assert.equal(api.requests[1].url, '/api/jobs?limit=1&cursor=abc');
    const run = await client.runJob('job-1', { payload: { a: 1 }, idempotencyKey: 'k-1' });
    assert.deepEqual(run.payload, { a: 1 });
    assert.equal(api.requests.at(-1).headers['idempotency-key'], 'k-1');
    await client.replayRun('run-9', { idempotencyKey: 'k-2' });
    assert.equal(api.requests.at(-1).headers['idempotency-key'], 'k-2');
    const error = await client.getJob('job-nope').catch((e) => e);
    assert.ok(error instanceof AgentOSError);
    assert.deepEqual([error.status, error.code, error.apiMessage], [404, 'NotFoundError', 'no route GET /api/jobs/job-nope']);
    assert.equal(JSON.stringify(client).includes('"t"'), false, 'the token stays out of logs');
  } finally { await api.close(); }
});

test('a delivery carries the job\'s state and last success to the callback', async () => {
  const { api, jobs } = await setUp();
  try {
    const seen = [];
    const job = await jobs.createJob({ name: 'continuity', interval: 60000, callback: (ctx) => { seen.push([ctx.state, ctx.lastSuccess]); } });
    const last = { runId: 'run-0', scheduledAt: '2030-01-01T00:00:00Z', finishedAt: '2030-01-01T00:00:01Z', output: { n: 1 } };
    assert.equal((await jobs.handle(...Object.values(delivery(api, job, { state: { cursor: 3 }, lastSuccess: last })))).status, 204);
    assert.equal((await jobs.handle(...Object.values(delivery(api, job)))).status, 204);
    assert.deepEqual(seen, [[{ cursor: 3 }, last], [null, null]]);
  } finally { await api.close(); }
});

test('an output that is not JSON fails the run and says why', async () => {
  const { api, jobs } = await setUp();
  try {
    const cycle = {};
    cycle.self = cycle;
    const quick = await jobs.createJob({ name: 'cycle', interval: 60000, callback: () => cycle });
    const answer = await jobs.handle(...Object.values(delivery(api, quick)));
    assert.equal(answer.status, 422);
    assert.match(answer.body, /not JSON/);
    const slow = await jobs.createJob({ name: 'slow-cycle', interval: 60000, callback: async () => { await wait(300); return cycle; } });
    assert.equal((await jobs.handle(...Object.values(delivery(api, slow)))).status, 202);
    await settle(jobs);
    assert.equal(api.completes.length, 1);
    assert.deepEqual([api.completes[0].status, api.completes[0].retryable], ['failed', false]);
    assert.match(api.completes[0].error, /^the outcome could not be sent as JSON/);
  } finally { await api.close(); }
});
