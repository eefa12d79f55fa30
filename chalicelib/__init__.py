"""agentOS Jobs: a serverless scheduler for AI agents (Chalice + DynamoDB + SQS).

The path of a job, module by module (README, "Development", has the same map):

request   ``api.py`` routes (registered by ``app.py``), ``web.py`` parsing, ``auth.py`` and
          ``scopes.py`` tokens, ``jobs.py`` (:class:`JobService`) validating with ``schemas.py``,
          ``schedules.py``, ``bounds.py`` and ``limits.py``;
store     ``store.py`` (:class:`JobStore`) writes the job (``models.py`` items, ``dynamo.py``
          plumbing); an active job with an occurrence left is in the sparse ``due`` index;
tick      ``handlers.tick`` -> ``dispatch.py`` (:class:`Dispatcher`): query the due shards, plan,
          send, advance ``nextRunAt`` (a close first occurrence is dispatched at once too);
queue     ``sqs.py`` (:class:`OccurrenceQueue`): one SQS message per attempt, early by a second;
executor  ``handlers.execute`` -> ``executor.py`` (:class:`Executor`): claim with ``runs.py``
          (:class:`RunStore`), hold until the instant, read the job again;
delivery  ``delivery.py`` posts to the agent (or ``actions.py`` runs in process); a 202 reports
          later on the ``/api/runs/...`` routes (``reports.py``, :class:`RunService`) with a
          ``callbacks.py`` token;
run       ``outcomes.py`` decides retry or end (``failures.py`` and the DLQ for the last failure),
          ``progress.py`` (:class:`RunProgress`) writes the run, the job's counters and its slot.

``views.py`` shapes jobs and runs for the API; ``runtime.py`` builds each service once, lazily.
"""
