// node --test sdk/typescript/test/ : the TypeScript (plain ESM) kit, and a cross-check with the
// Python kit (sdk/python/agentos_agent.py, run by $PYTHON or python3): both accept the same signed
// delivery and both reject it once tampered with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  AgentOSError, Delivery, SignatureError, receive, sign, verifySignature,
} from '../agentos-agent.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PYTHON_KIT = path.resolve(HERE, '../../python');
const SECRET = 'whsec-test-secret';
const NOW = 1_900_000_000;
const BODY = JSON.stringify({
  jobId: 'job-0123456789abcdef', jobName: 'nightly report', runId: 'run-1-abc', agentId: '550e8400-e29b-41d4-a716-446655440000',
  scheduledAt: '2030-03-17T09:00:00.000Z', attempt: 2, trigger: 'schedule', payload: { action: 'REPORT', note: 'héllo ✓' },
  callbackUrl: 'http://127.0.0.1:9/api/runs/run-1-abc', callbackToken: 'cb-secret-token', timeoutAt: '2030-03-17T09:15:00.000Z',
});

function python(code, input) {
  const run = spawnSync(process.env.PYTHON || 'python3', ['-I', '-c', `import sys; sys.path.insert(0, ${JSON.stringify(PYTHON_KIT)})\n${code}`],
    { input, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

test('a signature verifies for its own body, secret and time only', () => {
  const header = sign(SECRET, NOW, BODY);
  assert.match(header, /^t=1900000000,v1=[0-9a-f]{64}$/);
  assert.equal(verifySignature(SECRET, header, BODY, { now: NOW }), true);
  assert.equal(verifySignature(SECRET, header, Buffer.from(BODY), { now: NOW + 300 }), true);
  assert.equal(verifySignature(SECRET, header, BODY.replace('"attempt":2', '"attempt":3'), { now: NOW }), false);
  assert.equal(verifySignature('another-secret', header, BODY, { now: NOW }), false);
  assert.equal(verifySignature(SECRET, header, BODY, { now: NOW + 301 }), false, 'replayed too late');
  assert.equal(verifySignature(SECRET, header, BODY, { now: NOW - 301 }), false, 'from the future');
});

test('malformed headers are rejected, never thrown on', () => {
  const good = sign(SECRET, NOW, BODY);
  const digest = good.split('v1=')[1];
  for (const header of [null, undefined, '', 'garbage', `v1=${digest}`, `t=${NOW}`, `t=abc,v1=${digest}`,
    `t=${NOW},v1=${digest.toUpperCase()}`, `t=${NOW},v1=${digest.slice(1)}`, `t=-${NOW},v1=${digest}`, `t=${NOW},v2=${digest}`]) {
    assert.equal(verifySignature(SECRET, header, BODY, { now: NOW }), false, String(header));
  }
  // during a secret rotation several v1 entries come; one matching is enough
  assert.equal(verifySignature(SECRET, `t=${NOW},v1=${'0'.repeat(64)},v1=${digest}`, BODY, { now: NOW }), true);
});

test('receive verifies then parses; the callback token stays out of logs', () => {
  const headers = { 'x-agentos-signature': sign(SECRET, NOW, BODY), 'content-type': 'application/json' };
  const delivery = receive(BODY, headers, SECRET, { now: NOW });
  assert.equal(delivery.runId, 'run-1-abc');
  assert.equal(delivery.attempt, 2);
  assert.deepEqual(delivery.payload, { action: 'REPORT', note: 'héllo ✓' });
  assert.equal(delivery.callbackUrl, 'http://127.0.0.1:9/api/runs/run-1-abc');
  assert.equal(delivery.callbackToken, 'cb-secret-token');
  assert.equal(JSON.stringify(delivery).includes('cb-secret-token'), false);
  assert.throws(() => receive(`${BODY} `, headers, SECRET, { now: NOW }), SignatureError);
  assert.throws(() => receive(BODY, {}, SECRET, { now: NOW }), SignatureError);
  assert.equal(receive(BODY, new Headers(headers), SECRET, { now: NOW }).jobId, 'job-0123456789abcdef');
  assert.equal(receive(BODY, {}, null).jobId, 'job-0123456789abcdef', 'an agent without a secret skips the check');
});

test('parse names a missing or mistyped field', () => {
  assert.throws(() => Delivery.parse('[]'), /JSON object/);
  assert.throws(() => Delivery.parse({ ...JSON.parse(BODY), jobId: undefined }), /jobId/);
  assert.throws(() => Delivery.parse({ ...JSON.parse(BODY), attempt: '2' }), /attempt/);
  assert.throws(() => Delivery.parse({ ...JSON.parse(BODY), payload: [] }), /payload/);
});

test('complete refuses an unknown outcome; a delivery without callbacks cannot report', async () => {
  const delivery = Delivery.parse(BODY);
  assert.throws(() => delivery.complete('done'), /status must be one of/);
  const bare = Delivery.parse({ ...JSON.parse(BODY), callbackUrl: undefined, callbackToken: undefined });
  await assert.rejects(bare.heartbeat({ step: 1 }), AgentOSError);
});

test('cross-check: the Python kit and this kit accept the same signed delivery and reject a tampered one', () => {
  const tampered = BODY.replace('REPORT', 'DELETE');
  // signed by Python, verified here
  const fromPython = python(`import agentos_agent as k; print(k.sign(${JSON.stringify(SECRET)}, ${NOW}, sys.stdin.buffer.read()))`, BODY);
  assert.equal(fromPython, sign(SECRET, NOW, BODY), 'both kits compute the same signature');
  assert.equal(verifySignature(SECRET, fromPython, BODY, { now: NOW }), true);
  assert.equal(verifySignature(SECRET, fromPython, tampered, { now: NOW }), false);
  // signed here, verified by Python (the same rules: window, malformed, rotation)
  const header = sign(SECRET, NOW, BODY);
  const verdicts = python(`import json, agentos_agent as k
cases = json.loads(sys.stdin.read())
print(json.dumps([k.verify_signature(${JSON.stringify(SECRET)}, h, b.encode(), now=n) for h, b, n in cases]))`,
  JSON.stringify([[header, BODY, NOW], [header, tampered, NOW], [header, BODY, NOW + 301], ['t=1,v1=', BODY, NOW]]));
  assert.deepEqual(JSON.parse(verdicts), [true, false, false, false]);
  const here = [[header, BODY, NOW], [header, tampered, NOW], [header, BODY, NOW + 301], ['t=1,v1=', BODY, NOW]]
    .map(([h, b, n]) => verifySignature(SECRET, h, b, { now: n }));
  assert.deepEqual(here, [true, false, false, false]);
});
