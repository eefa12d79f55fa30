// The kit's errors for API calls (see index.d.ts for their types).

/** The agentOS Jobs API refused a call: `status` (0: no HTTP answer), the API's Code and Message. */
export class AgentOSError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.name = 'AgentOSError';
    this.status = status;
    this.code = code;
    this.apiMessage = message;
  }

  /** True for a failure worth another try: a 5xx (connection failures override this). */
  get retryable() { return this.status >= 500; }
}

/** No HTTP answer: connection refused or reset, or the request timed out. */
export class ConnectionFailed extends AgentOSError {
  constructor(message) { super(0, 'ConnectionError', message); this.name = 'ConnectionFailed'; }

  /** Always worth another try: the API may be restarting. */
  get retryable() { return true; }
}

/** 409 to a heartbeat or a report: the attempt is over (timed out, cancelled or reported). */
export class AttemptEnded extends AgentOSError {
  constructor(code, message) { super(409, code, message); this.name = 'AttemptEnded'; }
}
