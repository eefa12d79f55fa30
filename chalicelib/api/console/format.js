// How API values read on the page (all as text: see dom.js).
import { setAttr, setText } from './dom.js';
import { fmtDuration, fmtShort, fmtTime } from './time.js';

export function fmtJson(value) {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function fmtUsage(usage) {
  if (!usage) return '—';
  const parts = [];
  if (usage.inputTokens !== undefined) parts.push(`in ${usage.inputTokens} tok`);
  if (usage.outputTokens !== undefined) parts.push(`out ${usage.outputTokens} tok`);
  if (usage.costUsd !== undefined) parts.push(`$${usage.costUsd}`);
  return parts.length ? parts.join(', ') : fmtJson(usage);
}

export function fmtTiming(job) {
  const when = job.schedule !== null && job.schedule !== undefined ? job.schedule
    : `every ${fmtDuration(job.interval)}`;
  return job.timezone && job.timezone !== 'UTC' ? `${when} (${job.timezone})` : when;
}

/** A table cell with a compact time, the full one in its title. */
export function timeCell(td, iso) {
  setText(td, fmtShort(iso));
  setAttr(td, 'title', iso ? fmtTime(iso) : null);
}

/** A daily budget: "$5/day, 100000 tok/day", or "none". */
export function fmtBudget(budget) {
  if (!budget || typeof budget !== 'object') return 'none';
  const parts = [];
  if (budget.maxCostUsdPerDay !== undefined && budget.maxCostUsdPerDay !== null) parts.push(`$${budget.maxCostUsdPerDay}/day`);
  if (budget.maxTokensPerDay !== undefined && budget.maxTokensPerDay !== null) parts.push(`${budget.maxTokensPerDay} tok/day`);
  return parts.length ? parts.join(', ') : 'none';
}

/** Today's usage: "1280 tok, $0.0042" (an agent's or a job's ``usageToday``). */
export function fmtUsageToday(usage) {
  if (!usage || typeof usage !== 'object') return '—';
  const parts = [];
  const tokens = usage.tokens !== undefined ? usage.tokens
    : (usage.inputTokens || 0) + (usage.outputTokens || 0);
  parts.push(`${tokens} tok`);
  if (usage.costUsd !== undefined && usage.costUsd !== null) parts.push(`$${usage.costUsd}`);
  return parts.join(', ');
}

const QUOTA_LABELS = { maxJobs: 'jobs', minIntervalMs: 'min interval ms', maxRunsPerDay: 'runs/day', maxDepth: 'depth' };

/** An agent's quota: "jobs ≤ 10, runs/day ≤ 500, depth ≤ 3". */
export function fmtQuota(quota) {
  if (!quota || typeof quota !== 'object') return '—';
  const parts = Object.entries(quota).filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${QUOTA_LABELS[k] || k} ≤ ${v}`);
  return parts.length ? parts.join(', ') : 'none';
}

/** A job's ``blocked``: "budget until 2026-12-07 00:00:00 UTC: the job's daily budget is spent". */
export function fmtBlocked(blocked) {
  if (!blocked || typeof blocked !== 'object') return '';
  const until = blocked.until ? ` until ${fmtTime(blocked.until)}` : '';
  return `Blocked (${blocked.reason})${until}${blocked.message ? `: ${blocked.message}` : ''}`;
}

/** Why a job does not run: its pausedReason, else its blocked reason, else nothing. */
export function fmtWhyNot(job) {
  return [job.pausedReason, fmtBlocked(job.blocked)].filter(Boolean).join(' · ');
}

/** A job's projection: "24 runs/day · 28800 tok/day · $0.1/day". */
export function fmtProjection(projection) {
  if (!projection || typeof projection !== 'object') return '—';
  const parts = [`${projection.runsPerDay} runs/day`];
  if (projection.tokensPerDay !== null && projection.tokensPerDay !== undefined) {
    parts.push(`${Math.round(projection.tokensPerDay)} tok/day`);
  }
  if (projection.costUsdPerDay !== null && projection.costUsdPerDay !== undefined) {
    parts.push(`$${Number(projection.costUsdPerDay.toPrecision(3))}/day`);
  }
  return parts.join(' · ');
}

/** The changes of a history event: "status: active → paused; schedule: … → …". */
export function fmtChanges(changes) {
  if (!changes || typeof changes !== 'object') return '';
  return Object.entries(changes).map(([field, pair]) => (Array.isArray(pair) && pair.length === 2
    ? `${field}: ${fmtJson(pair[0])} → ${fmtJson(pair[1])}` : `${field}: ${fmtJson(pair)}`)).join('; ');
}
