// The seed's plugin (docs/spec, "Advanced Integration"), on the agentOS Jobs kit: the job is
// declared at every start (PUT /api/jobs/by-name, so a restart never moves its next run) and the
// callback runs whenever agentOS Jobs delivers one of its runs.
import type { IAgentRuntime } from "./runtime.js";

export class CustomTaskPlugin {
  async initialize(runtime: IAgentRuntime) {
    const jobManager = runtime.getService("job_manager");

    // Programmatic job creation
    const myJob = await jobManager.createJob({
      name: "AutonomousReflexion",
      interval: 3600000, // 1 hour
      callback: async () => {
        const memory = await runtime.getMemoryManager().getLatestMemories();
        console.log("agentOS is reflecting on recent interactions...");
        // Logic for internal agent processing: what it returns is the run's output
        return { reflectedOn: memory.length, latest: memory.at(-1) ?? null };
      }
    });

    console.log(`Job started with ID: ${myJob.id}`);
  }
}
