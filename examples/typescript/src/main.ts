// Start the example agent: `npm run build && PORT=8080 AGENT_SECRET=... AGENTOS_AGENT_ID=... npm start`.
import { CustomTaskPlugin } from "./custom-task-plugin.js";
import { AgentRuntime } from "./runtime.js";

const runtime = new AgentRuntime();
runtime.remember("a user asked for a weekly digest");
const port = Number(process.env.PORT ?? 8080);
const server = await runtime.start([new CustomTaskPlugin()], port);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
console.log(`agent listening on http://127.0.0.1:${port}/`);
