// agentOS Jobs agent kit for Node.js 20+: signatures and deliveries (plain ES module, no
// dependencies, no build step). Types: agentos-agent.d.ts. The package's entry is index.mjs.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AgentOSError } from './lib/errors.mjs';
import { baseHeaders, send } from './lib/transport.mjs';
import { retrying } from './lib/retry.mjs';

export { AgentOSError };

export const SIGNATURE_HEADER = 'X-AgentOS-Signature';
export const TOLERANCE_S = 300;
const OUTCOMES = ['succeeded', 'failed', 'cancelled'];
export { OUTCOMES };

/** A delivery whose signature is missing, wrong or outside the replay window. */
export class SignatureError extends Error {
  constructor(message) { super(message); this.name = 'SignatureError'; }
}

const toBuffer = (value) => (Buffer.isBuffer(value) ? value
  : value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value), 'utf8'));

/** The header value agentOS Jobs sends: `t=<timestamp>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function sign(secret, timestamp, body) {
  const t = String(Math.trunc(timestamp));
  const mac = createHmac('sha256', toBuffer(secret));
  mac.update(Buffer.from(`${t}.`, 'ascii'));
  mac.update(toBuffer(body));
  return `t=${t},v1=${mac.digest('hex')}`;
}

function parseHeader(header) {
  let timestamp = null;
  const digests = [];
  for (const part of String(header || '').split(',')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1);
    if (key === 't' && /^[0-9]+$/.test(value)) timestamp = Number(value);
    else if (key === 'v1') digests.push(value);
  }
  return { timestamp, digests };
}

/**
 * True if `header` signs exactly `body` with `secret` and its time is within the window.
 * Never throws on a malformed header. Several v1 entries (a secret rotation) are allowed.
 */
export function verifySignature(secret, header, body, { now, toleranceS = TOLERANCE_S } = {}) {
  const { timestamp, digests } = parseHeader(header);
  if (timestamp === null || digests.length === 0) return false;
  const nowS = Math.trunc(now === undefined ? Date.now() / 1000 : now);
  if (Math.abs(nowS - timestamp) > toleranceS) return false;
  const expected = Buffer.from(sign(secret, timestamp, body).split('v1=')[1], 'ascii');
  let matched = false;
  for (const digest of digests) { // no early exit: timing does not tell which one matched
    const given = Buffer.from(digest, 'utf8');
    matched = (given.length === expected.length && timingSafeEqual(given, expected)) || matched;
  }
  return matched;
}

/** One attempt of one occurrence, as the agent receives it, with its callbacks. */
export class Delivery {
  constructor(data) {
    this.jobId = data.jobId;
    this.jobName = data.jobName ?? '';
    this.runId = data.runId;
    this.agentId = data.agentId ?? '';
    this.scheduledAt = data.scheduledAt ?? '';
    this.attempt = data.attempt;
    this.trigger = data.trigger ?? '';
    this.payload = data.payload;
    this.callbackUrl = data.callbackUrl ?? null;
    this.timeoutAt = data.timeoutAt ?? null;
    this.state = data.state ?? null; // the job's state, as its last succeeded run saved it (section 12)
    this.lastSuccess = data.lastSuccess ?? null; // {runId, scheduledAt, finishedAt, output} or null
    // A secret: not enumerable, so JSON.stringify and console.log leave it out.
    Object.defineProperty(this, 'callbackToken', { value: data.callbackToken ?? null, enumerable: false });
    Object.defineProperty(this, 'raw', { value: data, enumerable: false });
    // how reports are retried ({backoff: {firstMs, maxMs}}): tests make it quick
    Object.defineProperty(this, 'retryOptions', { value: {}, writable: true, enumerable: false });
  }

  /** A delivery from its JSON body (string, Buffer or parsed object); TypeError names a bad field. */
  static parse(body) {
    const data = typeof body === 'string' || body instanceof Uint8Array ? JSON.parse(toBuffer(body).toString('utf8')) : body;
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new TypeError('a delivery body is a JSON object');
    const kinds = { jobId: 'string', runId: 'string', attempt: 'number', payload: 'object' };
    for (const [key, kind] of Object.entries(kinds)) {
      const value = data[key];
      if (typeof value !== kind || value === null || Array.isArray(value) || (kind === 'number' && !Number.isInteger(value))) {
        throw new TypeError(`delivery field ${key} is missing or not a${kind === 'object' ? 'n' : ''} ${kind}`);
      }
    }
    return new Delivery(data);
  }

  /** The attempt's timeoutAt in epoch milliseconds, or null. */
  get deadlineMs() {
    const ms = this.timeoutAt ? Date.parse(this.timeoutAt) : NaN;
    return Number.isNaN(ms) ? null : ms;
  }

  /**
   * Tell the API the work goes on (and how far); resolves the run, with `cancelRequested`.
   * Retried on connection errors and 5xx until timeoutAt; rejects with AttemptEnded (409) once over.
   */
  heartbeat(progress = undefined, { timeoutMs = 10000 } = {}) {
    return this.#post('heartbeat', progress === undefined ? {} : { progress }, timeoutMs);
  }

  /**
   * Report the outcome: succeeded (with `state` to save for the next run), failed (retried unless
   * retryable is false) or cancelled. Retried like heartbeat; repeating the same report is harmless.
   */
  complete(status, { output, error, usage, retryable = true, state, timeoutMs = 10000 } = {}) {
    return this.#post('complete', reportBody(status, { output, error, usage, retryable, state }), timeoutMs);
  }

  async #post(action, body, timeoutMs) {
    if (!this.callbackUrl || !this.callbackToken) {
      throw new AgentOSError(0, 'NoCallback', 'this delivery has no callbackUrl/callbackToken');
    }
    const url = `${this.callbackUrl.replace(/\/+$/, '')}/${action}`;
    const headers = baseHeaders(this.callbackToken);
    const reply = await retrying(() => send('POST', url, { body, headers, timeoutMs }), this.deadlineMs, this.retryOptions);
    return reply.data ?? {};
  }
}

/** The JSON body of POST /api/runs/{id}/complete; TypeError for an unknown outcome. */
export function reportBody(status, { output, error, usage, retryable = true, state } = {}) {
  if (!OUTCOMES.includes(status)) throw new TypeError(`status must be one of ${OUTCOMES.join(', ')}, not ${status}`);
  const body = { status };
  if (output !== undefined && output !== null) body.output = output;
  if (error !== undefined && error !== null) body.error = error;
  if (usage !== undefined && usage !== null) body.usage = usage;
  if (status === 'failed') body.retryable = Boolean(retryable);
  if (status === 'succeeded' && state !== undefined && state !== null) body.state = state;
  return body;
}

function headerOf(headers, name) {
  if (headers && typeof headers.get === 'function') return headers.get(name); // fetch Headers
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers || {})) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : value;
  }
  return null;
}

/**
 * Verify a delivery's signature (when the agent has a secret), then parse it.
 * Throws SignatureError for a forged, altered or replayed request: answer it 401.
 */
export function receive(body, headers, secret, { now, toleranceS = TOLERANCE_S } = {}) {
  if (secret !== null && secret !== undefined
      && !verifySignature(secret, headerOf(headers, SIGNATURE_HEADER), body, { now, toleranceS })) {
    throw new SignatureError(`${SIGNATURE_HEADER} is missing, wrong or outside the ${toleranceS} s window`);
  }
  return Delivery.parse(body);
}
