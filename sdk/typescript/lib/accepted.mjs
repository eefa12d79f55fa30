// A delivery answered 202: heartbeats while its callback runs, then its outcome through complete
// (retried on connection errors and 5xx until timeoutAt). A run cancelled meanwhile
// (cancelRequested on a heartbeat) is reported cancelled at once and the context's signal aborts.
import { AgentOSError, AttemptEnded } from './errors.mjs';
import { failureText, isRetryable, lifted, outputOf } from './callbacks.mjs';

/** The reporting side of one accepted attempt. `settled` resolves once its outcome was sent (or dropped). */
export class AcceptedRun {
  constructor(context, work, heartbeatEveryMs, log = console) {
    this.context = context;
    this.work = work;
    this.heartbeatEveryMs = heartbeatEveryMs;
    this.log = log;
    this.reported = false;
    this.report = null; // what the API answered to the outcome
    this.settled = null;
  }

  /** Start heartbeating and wait for the callback in the background. */
  start() {
    this.timer = setInterval(() => { this.#beat(); }, this.heartbeatEveryMs);
    this.settled = this.work.then(
      (value) => this.#send('succeeded', { output: outputOf(value), usage: lifted(value, 'usage'), state: lifted(value, 'state') }),
      (error) => this.#send('failed', { error: failureText(error), retryable: isRetryable(error) }),
    );
    return this;
  }

  async #beat() {
    if (this.reported || this.beating) return; // one heartbeat at a time: a slow one is being retried
    this.beating = true;
    try {
      const run = await this.context.delivery.heartbeat(this.context.progress);
      if (run.cancelRequested) {
        this.context.controller.abort(new Error('the run was cancelled'));
        await this.#send('cancelled', {});
      }
    } catch (error) {
      if (error instanceof AttemptEnded) { // timed out or cancelled on the server: nothing more to say
        this.reported = true;
        clearInterval(this.timer);
        this.context.controller.abort(error);
      } else this.log.warn(`heartbeat of run ${this.context.runId} failed: ${error.message}`);
    } finally {
      this.beating = false;
    }
  }

  async #send(status, fields) {
    if (this.reported) return; // once: the outcome and a cancel can race
    this.reported = true;
    clearInterval(this.timer);
    try {
      this.report = await this.context.delivery.complete(status, fields);
    } catch (error) {
      if (error instanceof AgentOSError) this.#lost(status, error);
      else await this.#unsendable(error);
    }
  }

  async #unsendable(error) {
    // an outcome that is not JSON (a cycle, a BigInt): the run fails and says why, rather than timing out
    try {
      this.report = await this.context.delivery.complete('failed',
        { error: `the outcome could not be sent as JSON: ${failureText(error)}`, retryable: false });
    } catch (again) {
      this.#lost('failed', again);
    }
  }

  #lost(status, error) {
    this.log.error(`the outcome ${status} of run ${this.context.runId} (attempt ${this.context.attempt}) was not recorded: ${error.message}`);
  }
}
