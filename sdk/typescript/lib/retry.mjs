// Reports retried with exponential backoff and jitter until a deadline. A heartbeat or a report
// that meets a restarting API (connection refused, 502/503) must still land: an outcome lost there
// costs the attempt. 4xx answers are final: a 409 means the attempt already ended.
import { AgentOSError } from './errors.mjs';

/** Delays of firstMs * 2^n, at most maxMs, each drawn in its upper half (equal jitter). */
export function backoffDelay(attempt, { firstMs = 250, maxMs = 15000 } = {}) {
  const ceiling = Math.min(maxMs, firstMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * `send()` tried again on a retryable AgentOSError until `deadlineMs` (epoch ms; null: no retry).
 * Always tries once; rejects with the last error when time runs out.
 */
export async function retrying(send, deadlineMs, { backoff = {}, sleep = pause, now = Date.now } = {}) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await send();
    } catch (error) {
      const left = deadlineMs == null ? 0 : deadlineMs - now();
      if (!(error instanceof AgentOSError) || !error.retryable || left <= 0) throw error;
      await sleep(Math.min(backoffDelay(attempt, backoff), left)); // the last try lands at the deadline
    }
  }
}
