// What a job's callback receives, and how its return value or exception becomes an outcome.
// The return value is the run's output; an object may carry a top-level `state` (saved for the
// next run, contract section 12) and `usage`. A value that is not an object or an array is kept
// as {value: <it>}, so the output reads the same whether the kit answered at once or reported later.

/** Throw it from a callback to fail the run with this message; `retryable: false` skips retries. */
export class JobFailed extends Error {
  constructor(message, { retryable = true } = {}) {
    super(message);
    this.name = 'JobFailed';
    this.retryable = retryable;
  }
}

/** One delivery as its callback sees it; `signal` aborts when the run is cancelled or its attempt ends. */
export class JobContext {
  constructor(delivery) {
    this.delivery = delivery;
    this.controller = new AbortController();
    this.progress = undefined;
  }

  get signal() { return this.controller.signal; }
  get payload() { return this.delivery.payload; }
  get jobId() { return this.delivery.jobId; }
  get jobName() { return this.delivery.jobName; }
  get runId() { return this.delivery.runId; }
  get attempt() { return this.delivery.attempt; }
  get state() { return this.delivery.state; }
  get lastSuccess() { return this.delivery.lastSuccess; }

  /** Progress (JSON, at most 4 KiB) sent with the next heartbeat, if the work is still running then. */
  reportProgress(progress) { this.progress = progress; }
}

/** The run's output for a callback's return value (undefined and null give null). */
export function outputOf(value) {
  if (value === undefined || value === null) return null;
  return typeof value === 'object' ? value : { value };
}

/** value[key] when the return value is a plain object that has it (state, usage), else undefined. */
export function lifted(value, key) {
  return value && typeof value === 'object' && !Array.isArray(value) ? value[key] : undefined;
}

/** "<Name>: <message>", the error a failed run shows. */
export function failureText(error) {
  if (!(error instanceof Error)) return `Error: ${String(error)}`;
  return error.message ? `${error.name}: ${error.message}` : error.name;
}

/** An error says `retryable: false` to fail its run without the retry policy. */
export function isRetryable(error) {
  return !(error && typeof error === 'object' && error.retryable === false);
}
