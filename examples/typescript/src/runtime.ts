// A tiny agent runtime for the example: the services a plugin asks for by name, a memory, and
// the HTTP server that agentOS Jobs delivers runs to (agents.<id>.url in agentos.config.json).
import type { Server } from "node:http";
import { JobManager } from "agentos-agent";

export interface MemoryManager {
  getLatestMemories(): Promise<string[]>;
}

export interface Services {
  job_manager: JobManager;
}

export interface IAgentRuntime {
  getService<K extends keyof Services>(name: K): Services[K];
  getMemoryManager(): MemoryManager;
}

export interface Plugin {
  initialize(runtime: IAgentRuntime): Promise<void>;
}

/** A runtime whose job_manager comes from the environment (AGENTOS_URL, AGENTOS_TOKEN, AGENTOS_AGENT_ID, AGENT_SECRET). */
export class AgentRuntime implements IAgentRuntime {
  private readonly services: Services;
  private readonly memories: string[] = [];

  constructor(jobManager: JobManager = new JobManager()) {
    this.services = { job_manager: jobManager };
  }

  getService<K extends keyof Services>(name: K): Services[K] {
    return this.services[name];
  }

  getMemoryManager(): MemoryManager {
    return { getLatestMemories: async () => this.memories.slice(-10) };
  }

  /** Remember something (the example's stand-in for real agent memory). */
  remember(memory: string): void {
    this.memories.push(memory);
  }

  /** Initialize each plugin (their jobs are declared), then serve deliveries on host:port. */
  async start(plugins: Plugin[], port: number, host = "127.0.0.1"): Promise<Server> {
    for (const plugin of plugins) await plugin.initialize(this);
    // Listening after the declarations: a delivery never finds a job without its callback.
    return this.services.job_manager.listen(port, host);
  }
}
