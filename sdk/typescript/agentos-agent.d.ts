// Types of agentos-agent.mjs (agentOS Jobs agent kit for Node.js 20+).

export declare const SIGNATURE_HEADER: 'X-AgentOS-Signature';
export declare const TOLERANCE_S: number;

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
  trigger: 'schedule' | 'manual';
  payload: Record<string, unknown>;
  callbackUrl?: string;
  callbackToken?: string;
  timeoutAt?: string;
}

export declare class SignatureError extends Error {}

export declare class AgentOSError extends Error {
  status: number;
  code: string;
  apiMessage: string;
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
  readonly raw: DeliveryBody;
  static parse(body: Bytes | DeliveryBody): Delivery;
  heartbeat(progress?: unknown, options?: { timeoutMs?: number }): Promise<Run>;
  complete(status: Outcome, options?: {
    output?: unknown; error?: string; usage?: Usage; retryable?: boolean; timeoutMs?: number;
  }): Promise<Run>;
}

export declare function receive(
  body: Bytes, headers: Record<string, string | string[] | undefined> | { get(name: string): string | null },
  secret: Bytes | null | undefined, options?: { now?: number; toleranceS?: number }): Delivery;
