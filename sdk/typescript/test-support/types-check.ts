// Compiled (never run) by tests/test_kits_install.py: the kit's declared types cover what a user
// writes with it, and reject what they must reject (the @ts-expect-error lines).
import http from "node:http";
import {
  AgentOSClient, AgentOSError, AttemptEnded, Delivery, JobContext, JobFailed, JobManager, receive, type Job, type Run,
} from "agentos-agent";

export async function uses(): Promise<void> {
  const client = new AgentOSClient({ baseUrl: "http://127.0.0.1:3000/api", token: "t" });
  const jobManager = new JobManager({ client, agentId: "a", secret: "s", answerWithinMs: 5000, retry: { backoff: { firstMs: 100 } } });
  http.createServer(jobManager.listener);
  const job: Job = await jobManager.createJob({
    name: "n", schedule: "0 * * * *", timeoutMs: 60000, payload: { a: 1 },
    callback: async (ctx: JobContext) => {
      ctx.reportProgress({ step: 1 });
      if (ctx.signal.aborted) throw new JobFailed("stopped", { retryable: false });
      return { state: ctx.state, last: ctx.lastSuccess?.output ?? null };
    },
  });
  await jobManager.createJob({ name: "seed", interval: 3600000, callback: async () => { /* nothing */ } });
  // @ts-expect-error: a job has a schedule or an interval, not both
  await jobManager.createJob({ name: "both", schedule: "@daily", interval: 1000, callback: () => 1 });
  // @ts-expect-error: createJob needs a callback
  await jobManager.createJob({ name: "none", interval: 1000 });
  const run: Run = await client.runJob(job.id, { payload: { b: 2 }, idempotencyKey: "k" });
  await client.replayRun(run.id, { idempotencyKey: "k2" });
  for await (const each of client.listRuns({ status: "failed", jobId: job.id })) console.log(each.error);
  for await (const each of client.listJobs({ agentId: "a" })) console.log(each.nextRunAt);
  await client.complete(run.id, "succeeded", { output: { ok: true }, state: { n: 1 } });
  // @ts-expect-error: not an outcome
  await client.complete(run.id, "done");
  const delivery: Delivery = receive("{}", { "x-agentos-signature": "t=1,v1=00" }, "secret");
  await delivery.complete("failed", { error: "x", retryable: false });
  try { await delivery.heartbeat({ p: 1 }); } catch (error) {
    if (error instanceof AttemptEnded) console.log(error.status, error.code, error.apiMessage);
    else if (error instanceof AgentOSError && error.retryable) console.log("later");
  }
}
