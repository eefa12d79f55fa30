// The job manager: jobs declared in code, and the Node http listener that runs their callbacks.
//   const jobs = new JobManager({ agentId });            // AGENTOS_URL, AGENTOS_TOKEN, AGENT_SECRET
//   await jobs.createJob({ name: 'digest', interval: 3600000, callback: async (ctx) => ({ sent: 3 }) });
//   http.createServer(jobs.listener).listen(8080);         // the URL agents.<id>.url points at
// createJob declares the job with PUT /api/jobs/by-name/{name} (idempotent: calling it at every
// start changes nothing, so no occurrence shifts) and routes the job's deliveries to its callback.
import http from 'node:http';
import { receive, SignatureError } from '../agentos-agent.mjs';
import { AgentOSClient } from './client.mjs';
import { dispatch, textAnswer } from './dispatch.mjs';
import { retrying } from './retry.mjs';

const KEEP_ACCEPTED = 100; // a long-lived agent must not grow with every run
const MAX_BODY_BYTES = 1024 * 1024; // a delivery is at most the API's payload limit plus a few fields

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) { reject(Object.assign(new Error('delivery too large'), { status: 413 })); req.destroy(); }
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Declares an agent's jobs and answers their deliveries (the seed's `job_manager` service). */
export class JobManager {
  constructor({ client, agentId, secret, allowUnsigned = false, answerWithinMs = 8000, heartbeatEveryMs = 10000,
    retry = {}, declareWithinMs = 30000, log = console } = {}) {
    this.client = client ?? new AgentOSClient();
    this.agentId = agentId ?? process.env.AGENTOS_AGENT_ID ?? null;
    const key = secret ?? process.env.AGENT_SECRET ?? null;
    if (key === null && !allowUnsigned) {
      throw new TypeError('no secret to verify deliveries: pass secret, set AGENT_SECRET, or allowUnsigned: true');
    }
    Object.defineProperty(this, 'secret', { value: key, enumerable: false });
    Object.assign(this, { answerWithinMs, heartbeatEveryMs, retry, declareWithinMs, log });
    this.accepted = []; // the latest AcceptedRuns (answered 202), most recent last; bounded (KEEP_ACCEPTED)
    this.byId = new Map();
    this.byName = new Map();
    this.listener = (req, res) => { this.#serve(req, res); }; // bound: pass it to http.createServer
  }

  /**
   * Declare the job (created, or made to match these fields) and route its deliveries to
   * `callback`; other create fields (timeoutMs, retryPolicy, ...) pass through. Resolves the job.
   */
  async createJob({ name, callback, payload, ...fields }) {
    if (typeof callback !== 'function') throw new TypeError('createJob needs a callback function');
    const agentId = fields.agentId ?? this.agentId;
    if (!agentId) throw new TypeError('no agentId: pass agentId to JobManager (or AGENTOS_AGENT_ID), or to createJob');
    // PUT by name is idempotent: trying it again after a lost answer cannot make a second job
    const job = await retrying(() => this.client.ensureJob(name, { ...fields, agentId, payload: payload ?? {} }),
      Date.now() + this.declareWithinMs, this.retry);
    this.register(callback, job);
    return job;
  }

  /** Route deliveries of `job` (as the API returns it: id, name) to `callback`. */
  register(callback, job) {
    if (job.id) this.byId.set(job.id, { callback, job });
    if (job.name) this.byName.set(job.name, { callback, job });
  }

  #heartbeatEvery(job) {
    // three beats per heartbeatTimeoutMs: one lost beat does not time the attempt out
    const limit = job.heartbeatTimeoutMs;
    return Number.isInteger(limit) ? Math.min(this.heartbeatEveryMs, limit / 3) : this.heartbeatEveryMs;
  }

  /**
   * Answer one delivery: 401 bad signature, 400 not a delivery, 404 no callback for its job,
   * else the callback's answer. Resolves {status, headers, body}.
   */
  async handle(headers, body) {
    let delivery;
    try {
      delivery = receive(body, headers, this.secret);
    } catch (error) {
      return textAnswer(error instanceof SignatureError ? 401 : 400, error instanceof SignatureError ? error.message : `not a delivery: ${error.message}`);
    }
    const entry = this.byId.get(delivery.jobId) ?? this.byName.get(delivery.jobName);
    delivery.retryOptions = this.retry;
    if (!entry) return textAnswer(404, `no callback registered for job ${JSON.stringify(delivery.jobName)} (${delivery.jobId})`);
    const { answer, accepted } = await dispatch(entry.callback, delivery,
      { answerWithinMs: this.answerWithinMs, heartbeatEveryMs: this.#heartbeatEvery(entry.job), log: this.log });
    if (accepted) this.accepted.splice(0, this.accepted.push(accepted) - KEEP_ACCEPTED);
    return answer;
  }

  async #serve(req, res) {
    let answer;
    try {
      answer = req.method === 'POST' ? await this.handle(req.headers, await readBody(req)) : textAnswer(405, 'deliveries are POSTs');
    } catch (error) {
      answer = textAnswer(error.status ?? 500, error.message);
    }
    const body = Buffer.from(answer.body ?? '', 'utf8');
    res.writeHead(answer.status, { ...answer.headers, 'Content-Length': body.length }).end(body);
  }

  /** An http.Server answering deliveries, listening on host:port; resolves once it listens. */
  listen(port = 8080, host = '127.0.0.1') {
    const server = http.createServer(this.listener);
    return new Promise((resolve, reject) => { server.once('error', reject).listen(port, host, () => resolve(server)); });
  }
}
