// agentOS Jobs agent kit for Node.js 20+ (plain ES modules, no dependencies, no build step;
// types in index.d.ts): jobs declared in code and answered by their callbacks, signed
// deliveries, reports retried until the attempt's deadline, and an API client.
export {
  SIGNATURE_HEADER, TOLERANCE_S, OUTCOMES, Delivery, SignatureError, receive, reportBody, sign, verifySignature,
} from './agentos-agent.mjs';
export { AgentOSError, AttemptEnded, ConnectionFailed } from './lib/errors.mjs';
export { AgentOSClient, DEFAULT_URL } from './lib/client.mjs';
export { JobContext, JobFailed } from './lib/callbacks.mjs';
export { AcceptedRun } from './lib/accepted.mjs';
export { JobManager } from './lib/jobs.mjs';
export { backoffDelay, retrying } from './lib/retry.mjs';
