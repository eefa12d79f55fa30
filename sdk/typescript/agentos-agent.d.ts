// Types of agentos-agent.mjs (agentOS Jobs agent kit for Node.js 20+).

export declare const SIGNATURE_HEADER: 'X-AgentOS-Signature';
export declare const TOLERANCE_S: number;
export declare const OUTCOMES: readonly Outcome[];

export type Outcome = 'succeeded' | 'failed' | 'cancelled';
export type Bytes = string | Uint8Array;

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
}

/** A run as the API returns it (contract §2, §6). */
export interface Run {
  id: string;
  jobId: string;
  status: 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
  attempt: number;
  trigger?: 'schedule' | 'manual' | 'replay';
  scheduledAt?: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  error?: string | null;
  payload?: Record<string, unknown>;
  replayOf?: string | null;
  timeoutAt?: string | null;
  cancelRequested?: boolean;
  output?: unknown;
  usage?: Usage | null;
  progress?: unknown;
  [field: string]: unknown;
}

export interface DeliveryBody {
  jobId: string;
  jobName: string;
  runId: string;
  agentId: string;
  scheduledAt: string;
  attempt: number;
  trigger: 'schedule' | 'manual' | 'replay';
  payload: Record<string, unknown>;
  callbackUrl?: string;
  callbackToken?: string;
  timeoutAt?: string;
  /** The job's state, as its last succeeded run saved it (contract section 12). */
  state?: unknown;
  lastSuccess?: LastSuccess | null;
}

export interface LastSuccess {
  runId: string;
  scheduledAt: string;
  finishedAt: string;
  output: unknown;
}

/** The fields of a `complete` report besides its status. */
export interface ReportFields {
  output?: unknown;
  error?: string;
  usage?: Usage;
  /** false: a failure is not retried by the retry policy. */
  retryable?: boolean;
  /** Saved as the job's state with a succeeded outcome (at most 16 KiB as JSON). */
  state?: unknown;
}

/** How reports are retried: delays of firstMs * 2^n up to maxMs, with jitter. */
export interface RetryOptions {
  backoff?: { firstMs?: number; maxMs?: number };
}

export declare class SignatureError extends Error {}

/** The API refused a call: status (0: no answer), the API's Code and Message. */
export declare class AgentOSError extends Error {
  constructor(status: number, code: string, message: string);
  readonly status: number;
  readonly code: string;
  readonly apiMessage: string;
  /** True for a 5xx or no answer at all: worth another try. */
  readonly retryable: boolean;
}

export declare function sign(secret: Bytes, timestamp: number, body: Bytes): string;

export declare function verifySignature(
  secret: Bytes, header: string | null | undefined, body: Bytes,
  options?: { now?: number; toleranceS?: number }): boolean;

export declare class Delivery {
  readonly jobId: string;
  readonly jobName: string;
  readonly runId: string;
  readonly agentId: string;
  readonly scheduledAt: string;
  readonly attempt: number;
  readonly trigger: string;
  readonly payload: Record<string, unknown>;
  readonly callbackUrl: string | null;
  readonly callbackToken: string | null;
  readonly timeoutAt: string | null;
  readonly state: unknown;
  readonly lastSuccess: LastSuccess | null;
  readonly raw: DeliveryBody;
  /** timeoutAt in epoch milliseconds, or null. */
  readonly deadlineMs: number | null;
  retryOptions: RetryOptions;
  static parse(body: Bytes | DeliveryBody): Delivery;
  /** Retried on connection errors and 5xx until timeoutAt; AttemptEnded (409) once the attempt is over. */
  heartbeat(progress?: unknown, options?: { timeoutMs?: number }): Promise<Run>;
  /** Retried like heartbeat; the same report repeated changes nothing. */
  complete(status: Outcome, options?: ReportFields & { timeoutMs?: number }): Promise<Run>;
}

/** The JSON body of POST /api/runs/{id}/complete; TypeError for an unknown outcome. */
export declare function reportBody(status: Outcome, fields?: ReportFields): { status: Outcome } & ReportFields;

export declare function receive(
  body: Bytes, headers: Record<string, string | string[] | undefined> | { get(name: string): string | null },
  secret: Bytes | null | undefined, options?: { now?: number; toleranceS?: number }): Delivery;
