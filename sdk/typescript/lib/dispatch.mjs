// Run one delivery's callback and answer for it (contract sections 4, 6, 14). If the callback
// settles within the quick window (answerWithinMs, default 8 s: under an agent's default timeoutMs
// of 10 s, and never past the attempt's timeoutAt), the answer is 200 with its return value (204
// for none); if it throws, 500 with the error text (retried by the job's retry policy), or 422
// when the error says retryable: false. Otherwise 202, and AcceptedRun heartbeats and reports later.
import { AcceptedRun } from './accepted.mjs';
import { JobContext, failureText, isRetryable, outputOf } from './callbacks.mjs';

const DEADLINE_MARGIN_MS = 500; // answer this long before timeoutAt at the latest

/** How long to wait for the callback before answering 202. */
export function quickWindowMs(delivery, answerWithinMs, now = Date.now()) {
  const deadline = delivery.deadlineMs;
  if (deadline === null) return answerWithinMs;
  return Math.max(0, Math.min(answerWithinMs, deadline - now - DEADLINE_MARGIN_MS));
}

/** A plain-text answer (errors: the server keeps their first 200 characters on the run). */
export function textAnswer(status, message) {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: message };
}

function settleWithin(work, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve({ late: true }), ms); });
  const settled = work.then((value) => ({ value }), (error) => ({ error, failed: true }));
  return Promise.race([settled, late]).finally(() => clearTimeout(timer));
}

/** Start the callback; resolves {answer, accepted} (accepted: the AcceptedRun of a 202, else null). */
export async function dispatch(callback, delivery, { answerWithinMs, heartbeatEveryMs, log }) {
  const context = new JobContext(delivery);
  const work = Promise.resolve().then(() => callback(context));
  const outcome = await settleWithin(work, quickWindowMs(delivery, answerWithinMs));
  if (outcome.late) {
    const accepted = new AcceptedRun(context, work, heartbeatEveryMs, log).start();
    return { answer: { status: 202, headers: { 'Content-Type': 'application/json' }, body: '{"accepted":true}' }, accepted };
  }
  if (outcome.failed) return { answer: textAnswer(isRetryable(outcome.error) ? 500 : 422, failureText(outcome.error)), accepted: null };
  const output = outputOf(outcome.value);
  if (output === null) return { answer: { status: 204, headers: {}, body: '' }, accepted: null };
  let body;
  try {
    body = JSON.stringify(output);
  } catch (error) { // not JSON (a cycle, a BigInt): retrying would not help
    return { answer: textAnswer(422, `the output is not JSON: ${failureText(error)}`), accepted: null };
  }
  return { answer: { status: 200, headers: { 'Content-Type': 'application/json' }, body }, accepted: null };
}
