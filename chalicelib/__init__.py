"""agentOS Jobs: a serverless scheduler for AI agents (Chalice + DynamoDB + SQS).

Three floors over a small base; an import only points down (``make lint`` runs import-linter's
contract, pyproject.toml ``[tool.importlinter]``). README, "Development", has the same map.

top       ``runtime`` (the composition root: every service built once, lazily), ``handlers`` (the
          Lambda entry points: the tick, the executor) and the ``api`` package;
api/      ``routes`` (the blueprint ``app.py`` registers), ``web`` (body and query parsing),
          ``auth`` (tokens), ``scopes`` (a token's agents), ``schemas`` (request models), ``answers`` (answer models),
          ``bodies`` (a new job read without pydantic), ``openapi``, ``views`` (jobs and runs as
          the API shows them), ``preview`` (schedule preview), ``manager`` (the Python job
          manager), ``webconsole`` and ``console/`` (the browser console), ``jobs``
          (:class:`JobService`), ``declare`` (a job declared with PUT by name: what differs),
          ``on_demand`` (run now and replay), ``idempotency`` (the ``Idempotency-Key`` of the
          retry-safe routes), ``runs`` (:class:`RunService`: reads, reports, cancels, replays),
          ``mcp`` (the MCP server, ``POST /api/mcp``) and ``mcp_tools`` (its tools), ``admission``
          (origins, lineage, quotas), ``agents`` (``GET /api/agents``), ``events`` and ``actors``
          (a job's history, who acted), ``run_list`` (``GET /api/runs``);
engine/   ``dispatch`` (the tick), ``executor`` (an attempt from message to outcome), ``batch``
          (the executor's batched claim and read, the default path), ``delivery`` (signed HTTP
          to the agent), ``agent_secrets``, ``callbacks`` (tokens for later reports), ``actions``
          and ``plugins/`` (in-process work), ``outcomes`` (retry or end), ``progress`` (the run's
          writes), ``failures`` (the failure log), ``waiting`` (runs waiting for an agent's slot),
          ``agent_limits`` (an agent's slots and daily budget), ``bounds`` (startAt, endAt,
          maxRuns, catch-up), ``reconcile`` (the tick's repair of runs past their time),
          ``endings`` (what an attempt's end records), ``answers``, ``deadlines``, ``timeouts`` (an
          accepted attempt's deadline check), ``liveness``,
          ``continuity`` (state and lastSuccess), ``skips`` and ``drops`` (skip streaks, dropped
          occurrences), ``parking`` (a budget-blocked job's park), ``job_history`` (system events),
          ``projection`` (starts in 24 h), ``notifications``, ``lateness`` (``job.late``),
          ``provisioning`` (ready for a burst);
store/    ``aws`` (clients, ``endpoints.json``), ``parameters`` (SSM), ``dynamo`` (DynamoDB
          plumbing), ``models`` (the items), ``jobs`` (:class:`JobStore`, the due index),
          ``runs`` (:class:`RunStore`: claims, the overlap slot), ``occurrences`` (an occurrence
          and what its claim found), ``run_payloads`` (what a run on demand is delivered),
          ``idempotency`` (the keys' records), ``listing`` (the job list's
          pages), ``sqs`` (:class:`OccurrenceQueue`), ``budgets`` (a job's daily budget),
          ``quotas``, ``recent_usage``, ``agents``, ``late``, ``events``, ``blocks``, ``streaks``, ``parks``,
          ``run_attempts``, ``run_index``, ``due_counts``, ``lambda_api``, ``shard_span`` (README: one line each);
base      ``config`` (read without pydantic when plainly valid) and ``config_schema`` (its
          pydantic models), ``checks`` (the quick readings' checks), ``errors``, ``clock``,
          ``telemetry`` (logs, metrics, the secret scrubber), ``coldstart`` (the first
          invocation's GC), ``schedules`` (cron, interval, once; DST), ``cron_syntax`` (a cron
          expression checked), ``vocab`` (the API's enums and bounds), ``defaults`` (defaults and
          bounds the floors share), ``settings`` (every environment variable).

The path of a job: ``api.routes`` -> ``api.jobs`` -> ``store.jobs`` (the ``due`` index) ->
``handlers.tick`` -> ``engine.dispatch`` -> ``store.sqs`` -> ``handlers.execute`` ->
``engine.batch``/``engine.executor`` (claim with ``store.runs``, hold, read, gate) ->
``engine.delivery`` or ``engine.actions`` -> ``engine.outcomes`` -> ``engine.progress``.
"""
