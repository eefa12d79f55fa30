// Types of the agentOS Jobs agent kit (index.mjs) for Node.js 20+.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AgentOSError, Delivery, LastSuccess, RetryOptions, Run, Usage } from './agentos-agent.js';

export * from './agentos-agent.js';

/** No HTTP answer: connection refused or reset, or the request timed out (status 0, retryable). */
export declare class ConnectionFailed extends AgentOSError {
  constructor(message: string);
}

/** 409 to a heartbeat or a report: the attempt is over (timed out, cancelled or reported). */
export declare class AttemptEnded extends AgentOSError {
  constructor(code: string, message: string);
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A job as the API returns it (contract sections 2, 6, 7, 10–13). */
export interface Job {
  id: string;
  name: string;
  description: string | null;
  agentId: string;
  schedule: string | null;
  interval: number | null;
  timezone: string;
  payload: Record<string, unknown>;
  status: 'active' | 'paused' | 'completed' | 'failed';
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastRunStatus: 'succeeded' | 'failed' | 'cancelled' | null;
  runCount: number;
  failureCount: number;
  createdAt: string;
  updatedAt: string;
  timeoutMs?: number;
  heartbeatTimeoutMs?: number | null;
  overlap?: 'skip' | 'queue' | 'allow';
  origin?: { via: 'api' | 'mcp' | 'console' | 'kit' | 'run'; runId: string | null; depth: number };
  state?: unknown;
  lastSuccessAt?: string | null;
  [field: string]: unknown;
}

/** The settable fields of a job (create, PUT by name, PATCH); others pass through as the API names them. */
export interface JobFields {
  name?: string;
  description?: string | null;
  agentId?: string;
  schedule?: string;
  interval?: number;
  timezone?: string;
  payload?: Record<string, unknown>;
  retryPolicy?: Record<string, unknown>;
  timeoutMs?: number;
  heartbeatTimeoutMs?: number | null;
  overlap?: 'skip' | 'queue' | 'allow';
  maxConsecutiveFailures?: number | null;
  startAt?: string | null;
  endAt?: string | null;
  maxRuns?: number | null;
  catchupWindowMs?: number | null;
  budget?: { maxCostUsdPerDay?: number; maxTokensPerDay?: number } | null;
  expectSuccessWithinMs?: number | null;
  status?: 'active' | 'paused';
  [field: string]: unknown;
}

export interface Reply<T = unknown> { status: number; headers: Headers; data: T }
export interface Page<T> { items: T[]; next: string | null }

/** The agentOS Jobs API (contract sections 2, 6–13); list methods yield every item, page after page. */
export declare class AgentOSClient {
  /** baseUrl default $AGENTOS_URL or http://localhost:3000/api; token default $AGENTOS_TOKEN. */
  constructor(options?: { baseUrl?: string; token?: string | null; timeoutMs?: number });
  readonly baseUrl: string;
  request<T = unknown>(method: string, path: string, options?: {
    body?: unknown; query?: Record<string, string | number | null | undefined>; idempotencyKey?: string;
  }): Promise<Reply<T>>;
  page<T = unknown>(path: string, query?: Record<string, string | number | null | undefined>): Promise<Page<T>>;
  nextPage<T = unknown>(page: Page<T>): Promise<Page<T> | null>;
  health(): Promise<unknown>;
  openapi(): Promise<Record<string, unknown>>;
  createJob(fields: JobFields, options?: { idempotencyKey?: string }): Promise<Job>;
  ensureJob(name: string, fields?: JobFields): Promise<Job>;
  getJobByName(name: string): Promise<Job>;
  listJobs(query?: { status?: string; agentId?: string; limit?: number }): AsyncIterable<Job>;
  getJob(jobId: string): Promise<Job>;
  updateJob(jobId: string, fields: JobFields & { state?: unknown }): Promise<Job>;
  pauseJob(jobId: string): Promise<Job>;
  resumeJob(jobId: string): Promise<Job>;
  deleteJob(jobId: string): Promise<void>;
  runJob(jobId: string, options?: { payload?: Record<string, unknown>; idempotencyKey?: string }): Promise<Run>;
  jobEvents(jobId: string, query?: { limit?: number }): AsyncIterable<Record<string, unknown>>;
  previewSchedule(fields: { schedule?: string; interval?: number; timezone?: string; count?: number }):
    Promise<{ next: string[]; runsPerDay?: number }>;
  listJobRuns(jobId: string, query?: { limit?: number }): AsyncIterable<Run>;
  listRuns(query?: { status?: string; agentId?: string; jobId?: string; trigger?: string; since?: string; limit?: number }):
    AsyncIterable<Run>;
  getRun(runId: string): Promise<Run>;
  cancelRun(runId: string): Promise<Run>;
  replayRun(runId: string, options?: { idempotencyKey?: string }): Promise<Run>;
  heartbeat(runId: string, options?: { progress?: unknown; retryUntilMs?: number | null }): Promise<Run>;
  complete(runId: string, status: 'succeeded' | 'failed' | 'cancelled', options?: {
    output?: unknown; error?: string; usage?: Usage; retryable?: boolean; state?: unknown; retryUntilMs?: number | null;
  }): Promise<Run>;
  listAgents(): Promise<Record<string, unknown>[]>;
  getAgent(agentId: string): Promise<Record<string, unknown>>;
}

export declare const DEFAULT_URL: string;

/** One delivery as its callback sees it. */
export declare class JobContext {
  constructor(delivery: Delivery);
  readonly delivery: Delivery;
  /** Aborts when the run is cancelled or its attempt ends while the kit heartbeats for it. */
  readonly signal: AbortSignal;
  readonly payload: Record<string, unknown>;
  readonly jobId: string;
  readonly jobName: string;
  readonly runId: string;
  readonly attempt: number;
  /** The job's state as its last succeeded run saved it (null before any). */
  readonly state: unknown;
  readonly lastSuccess: LastSuccess | null;
  progress: unknown;
  /** Progress sent with the next heartbeat, if the work is still running then. */
  reportProgress(progress: unknown): void;
}

/** Throw it from a callback to fail the run with this message; retryable: false skips retries. */
export declare class JobFailed extends Error {
  constructor(message: string, options?: { retryable?: boolean });
  readonly retryable: boolean;
}

/**
 * A job's callback: its return value is the run's output (an object may carry `state` and
 * `usage`); a throw fails the run with the error's text.
 */
export type JobCallback = (context: JobContext) => unknown;

/** createJob's argument: the job's fields, exactly one of schedule or interval, and its callback. */
export type CreateJobOptions = JobFields & { name: string; callback: JobCallback } & (
  { schedule: string; interval?: undefined } | { interval: number; schedule?: undefined });

export interface Answer { status: number; headers: Record<string, string>; body: string }

/** The reporting side of an attempt answered 202 (heartbeats, then complete). */
export declare class AcceptedRun {
  readonly context: JobContext;
  /** Whether the outcome was sent (or the attempt ended on the server). */
  readonly reported: boolean;
  /** What the API answered to the outcome, once sent. */
  readonly report: Run | null;
  /** Resolves once the outcome was sent or given up. */
  readonly settled: Promise<void>;
}

export interface JobManagerOptions {
  client?: AgentOSClient;
  /** The agent whose jobs these are (default $AGENTOS_AGENT_ID). */
  agentId?: string;
  /** Verifies deliveries (default $AGENT_SECRET); without one, allowUnsigned must be true. */
  secret?: string | Uint8Array;
  allowUnsigned?: boolean;
  /** How long a callback may take and still be answered at once (default 8000; under the agent's timeoutMs). */
  answerWithinMs?: number;
  /** Heartbeat period of an accepted attempt (default 10000, at most heartbeatTimeoutMs / 3). */
  heartbeatEveryMs?: number;
  /** How reports are retried (default: from 250 ms doubling up to 15 s, with jitter, until timeoutAt). */
  retry?: RetryOptions;
  /** How long createJob retries its declaration on connection errors and 5xx (default 30000). */
  declareWithinMs?: number;
  log?: Pick<Console, 'warn' | 'error'>;
}

/** Declares an agent's jobs and answers their deliveries (the seed's `job_manager` service). */
export declare class JobManager {
  constructor(options?: JobManagerOptions);
  readonly client: AgentOSClient;
  readonly agentId: string | null;
  /** The latest attempts answered 202 (at most 100), most recent last. */
  readonly accepted: AcceptedRun[];
  /** A Node http listener answering deliveries: http.createServer(jobs.listener). */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** Declares the job with PUT /api/jobs/by-name/{name} (idempotent) and routes its deliveries to callback. */
  createJob(options: CreateJobOptions): Promise<Job>;
  /** Routes deliveries of an existing job to callback. */
  register(callback: JobCallback, job: Pick<Job, 'id' | 'name'> & Partial<Job>): void;
  /** Answers one delivery (401, 400, 404, or the callback's 200/204/202/500/422). */
  handle(headers: Record<string, string | string[] | undefined>, body: string | Uint8Array): Promise<Answer>;
  /** An http.Server with the listener, listening on host:port. */
  listen(port?: number, host?: string): Promise<Server>;
}

export declare function backoffDelay(attempt: number, options?: { firstMs?: number; maxMs?: number }): number;
export declare function retrying<T>(send: () => Promise<T>, deadlineMs: number | null, options?: {
  backoff?: { firstMs?: number; maxMs?: number }; sleep?: (ms: number) => Promise<void>; now?: () => number;
}): Promise<T>;
