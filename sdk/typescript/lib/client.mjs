// An API client for agentOS Jobs (contract sections 2, 6–13). Fields are the API's own names
// (agentId, timeoutMs, ...). A refused call rejects with AgentOSError (status, code = the API's
// Code, apiMessage = its Message); no answer at all with ConnectionFailed.
import { reportBody } from '../agentos-agent.mjs';
import { retrying } from './retry.mjs';
import { baseHeaders, send } from './transport.mjs';

export const DEFAULT_URL = 'http://localhost:3000/api';
const enc = encodeURIComponent;

/** The target of `<…>; rel="next"` in a Link header, or null. */
export function nextLink(value) {
  for (const part of String(value || '').split(',')) {
    const [target, ...params] = part.split(';');
    if (params.some((p) => /^\s*rel="?next"?\s*$/.test(p))) return target.trim().replace(/^<|>$/g, '');
  }
  return null;
}

/** The agentOS Jobs API with a bearer token (AGENTOS_TOKEN) at AGENTOS_URL. */
export class AgentOSClient {
  constructor({ baseUrl, token, timeoutMs = 10000 } = {}) {
    this.baseUrl = (baseUrl ?? process.env.AGENTOS_URL ?? DEFAULT_URL).replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    Object.defineProperty(this, 'token', { value: token ?? process.env.AGENTOS_TOKEN ?? null, enumerable: false });
  }

  /** One call below the base URL (path like `/jobs`); resolves {status, headers, data}. */
  request(method, path, { body, query, idempotencyKey } = {}) {
    const params = new URLSearchParams(Object.entries(query ?? {}).filter(([, v]) => v !== undefined && v !== null));
    const url = `${this.baseUrl}${path}${params.size ? `?${params}` : ''}`;
    return this.#send(method, url, body, idempotencyKey);
  }

  #send(method, url, body, idempotencyKey) {
    const headers = baseHeaders(this.token);
    if (idempotencyKey !== undefined) headers['Idempotency-Key'] = idempotencyKey;
    return send(method, url, { body, headers, timeoutMs: this.timeoutMs });
  }

  async #json(method, path, options) { return (await this.request(method, path, options)).data; }

  #page(reply) {
    const link = nextLink(reply.headers.get('link'));
    return { items: reply.data ?? [], next: link ? new URL(link, `${this.baseUrl}/`).href : null };
  }

  async* #pages(path, query) {
    let page = this.#page(await this.request('GET', path, { query }));
    for (;;) {
      yield* page.items;
      if (!page.next) return;
      page = this.#page(await this.#send('GET', page.next));
    }
  }

  /** One page of a list route: {items, next} (next: the Link header's URL, or null). */
  async page(path, query) { return this.#page(await this.request('GET', path, { query })); }

  /** The next page after `page`, or null. */
  async nextPage(page) { return page.next ? this.#page(await this.#send('GET', page.next)) : null; }

  /** GET /health. */
  health() { return this.#json('GET', '/health'); }
  /** The API's OpenAPI document. */
  openapi() { return this.#json('GET', '/openapi.json'); }

  /** POST /jobs (201); with idempotencyKey a retried create makes one job. */
  createJob(fields, { idempotencyKey } = {}) { return this.#json('POST', '/jobs', { body: fields, idempotencyKey }); }
  /** PUT /jobs/by-name/{name}: create the job or make it match `fields` (idempotent). */
  ensureJob(name, fields = {}) { return this.#json('PUT', `/jobs/by-name/${enc(name)}`, { body: { name, ...fields } }); }
  /** GET /jobs/by-name/{name}. */
  getJobByName(name) { return this.#json('GET', `/jobs/by-name/${enc(name)}`); }
  /** Every job matching the filters ({status, agentId, limit}), page after page. */
  listJobs(query = {}) { return this.#pages('/jobs', query); }
  /** GET /jobs/{id}. */
  getJob(jobId) { return this.#json('GET', `/jobs/${enc(jobId)}`); }
  /** PATCH /jobs/{id} with any subset of the mutable fields. */
  updateJob(jobId, fields) { return this.#json('PATCH', `/jobs/${enc(jobId)}`, { body: fields }); }
  /** Set the job's status to paused. */
  pauseJob(jobId) { return this.updateJob(jobId, { status: 'paused' }); }
  /** Set the job's status to active. */
  resumeJob(jobId) { return this.updateJob(jobId, { status: 'active' }); }
  /** DELETE /jobs/{id} (204). */
  async deleteJob(jobId) { await this.request('DELETE', `/jobs/${enc(jobId)}`); }
  /** POST /jobs/{id}/run (202): run now, with `payload` instead of the job's if given. */
  runJob(jobId, { payload, idempotencyKey } = {}) {
    return this.#json('POST', `/jobs/${enc(jobId)}/run`, { body: payload === undefined ? undefined : { payload }, idempotencyKey });
  }
  /** The job's history (GET /jobs/{id}/events), newest first, page after page. */
  jobEvents(jobId, query = {}) { return this.#pages(`/jobs/${enc(jobId)}/events`, query); }
  /** POST /schedules/preview: {next: [...], runsPerDay}. */
  previewSchedule(fields) { return this.#json('POST', '/schedules/preview', { body: fields }); }

  /** The job's runs (GET /jobs/{id}/runs), newest first, page after page. */
  listJobRuns(jobId, query = {}) { return this.#pages(`/jobs/${enc(jobId)}/runs`, query); }
  /** Runs across jobs (GET /runs: status, agentId, jobId, trigger, since, limit), page after page. */
  listRuns(query = {}) { return this.#pages('/runs', query); }
  /** GET /runs/{id}. */
  getRun(runId) { return this.#json('GET', `/runs/${enc(runId)}`); }
  /** POST /runs/{id}/cancel (202). */
  cancelRun(runId) { return this.#json('POST', `/runs/${enc(runId)}/cancel`); }
  /** POST /runs/{id}/replay (202): a new run delivered the original's payload. */
  replayRun(runId, { idempotencyKey } = {}) { return this.#json('POST', `/runs/${enc(runId)}/replay`, { idempotencyKey }); }
  /** POST /runs/{id}/heartbeat, retried on 5xx and connection errors until retryUntilMs (epoch ms). */
  heartbeat(runId, { progress, retryUntilMs = null } = {}) {
    const body = progress === undefined ? {} : { progress };
    return retrying(() => this.#json('POST', `/runs/${enc(runId)}/heartbeat`, { body }), retryUntilMs);
  }
  /** POST /runs/{id}/complete, retried on 5xx and connection errors until retryUntilMs (default: a minute). */
  complete(runId, status, { retryUntilMs = Date.now() + 60000, ...fields } = {}) {
    const body = reportBody(status, fields);
    return retrying(() => this.#json('POST', `/runs/${enc(runId)}/complete`, { body }), retryUntilMs);
  }

  /** GET /agents: every configured agent and every agent with jobs. */
  async listAgents() { return (await this.#json('GET', '/agents')) ?? []; }
  /** GET /agents/{id}. */
  getAgent(agentId) { return this.#json('GET', `/agents/${enc(agentId)}`); }
}
