"""Defaults and bounds the floors share, in one place (the API's vocabulary is :mod:`.vocab`).

A number that the API, the engine and the store must agree on lives here once, so that no floor
imports another's module for a number, and no copy drifts. This module imports nothing.
"""
from __future__ import annotations

DEFAULT_TIMEOUT_MS = 900_000  # a job's timeoutMs when unset (the API shows it, the executor applies it)
DAY_MS = 86_400_000  # the longest timeout, heartbeat timeout, retry delay and minimum interval
COUNT_MAX = 10**9  # the most of maxRuns, a run's cost (USD) and an agent's daily budget
OUTPUT_MAX_BYTES = 32 * 1024  # a run's output: an answer kept whole up to this, a report refused above
STATE_MAX_BYTES = 16 * 1024  # a job's state (contract section 12), serialised: a larger one fails its run / 413
ANSWER_READ_BYTES = 1024 * 1024  # a 2xx answer is parsed up to this (its state lifted out, then its output capped)
TEXT_KEEP_CHARS = 1024  # an answer's text, a run's response, a dead letter's failure reason
ERROR_KEEP_CHARS = 2048  # a run's error
ATTEMPT_ERROR_KEEP_CHARS = 1000  # one attempt's error in a run's attempts (at most 20 attempts: ~22 KB)
NOTIFY_KEY = "notify"  # a jobs-queue message whose JSON starts with this key is a notification
USAGE_WINDOW = 10  # a job's projection averages the usage of its last this many runs that reported usage
GAP_SAMPLE = 50  # the quota minIntervalMs looks at the gaps between a job's next this many start times
CRON_DAY_CAP = 1_500  # a cron fires at most once a minute: 1,441 starts in 24 h; counting stops here
IDEMPOTENCY_TTL_S = 86_400  # an Idempotency-Key answers the same for a day (contract section 10)
