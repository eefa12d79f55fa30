// Runs: the columns every runs table shares, one run's page (#/runs/{id}: attempts, replay,
// cancel) and the runs view across jobs (#/runs?status=…: GET /api/runs, contract section 13).
import {
  ApiError, agentHref, api, jobHref, jobName, query, routeAnswers, routeMissing, runHref, runPath,
} from './api.js';
import {
  badge, codeCell, fieldList, h, keyedTable, linkCell, say, setAttr, setText,
} from './dom.js';
import { fmtJson, fmtUsage, timeCell } from './format.js';
import { fmtDuration, fmtShort, fmtTime, zoneName } from './time.js';
import {
  keepRefreshing, main, mount, notFound, pager, report,
} from './view.js';

export const FINAL_RUN = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);
const RUN_STATUSES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'skipped', 'cancelled'];
const TRIGGERS = ['schedule', 'manual', 'replay'];

/** A run's status as text: "running (cancel requested)", "skipped ×3 (last 09:12:00)". */
export function runStatus(run) {
  if (run.cancelRequested && !FINAL_RUN.has(run.status)) return `${run.status} (cancel requested)`;
  if (run.status === 'queued' && run.waitingFor) return `queued (waiting for a slot of agent ${run.waitingFor.agentId})`;
  if (run.status === 'skipped' && run.skippedCount > 1) {
    return `skipped ×${run.skippedCount}${run.lastSkippedAt ? ` (last ${fmtShort(run.lastSkippedAt)})` : ''}`;
  }
  return run.status;
}

/** Replay a run (POST /api/runs/{id}/replay); the new run. */
export async function replay(runId) {
  const answer = await api('POST', `${runPath(runId)}/replay`);
  say(`Replay queued: run ${answer.data.id}.`);
  return answer.data;
}

/** The Cancel and Replay buttons of a run's row (made once, then kept up to date). */
function runActions(td, run, refresh) {
  let cancel = td.querySelector('.cancel-run');
  let again = td.querySelector('.replay-run');
  if (!cancel) {
    cancel = h('button', { type: 'button', class: 'small cancel-run' }, 'Cancel');
    cancel.addEventListener('click', () => act(refresh, `Cancel requested for run ${cancel.dataset.run}.`,
      () => api('POST', `${runPath(cancel.dataset.run)}/cancel`)));
    again = h('button', { type: 'button', class: 'small secondary replay-run' }, 'Replay');
    again.addEventListener('click', () => act(refresh, null, () => replay(again.dataset.run)));
    td.append(cancel, ' ', again);
  }
  cancel.dataset.run = run.id;
  again.dataset.run = run.id;
  setAttr(cancel, 'aria-label', `Cancel run ${run.id}`);
  setAttr(again, 'aria-label', `Replay run ${run.id}`);
  cancel.hidden = FINAL_RUN.has(run.status) || Boolean(run.cancelRequested);
  again.hidden = run.status === 'skipped';
}

async function act(refresh, done, call) {
  try {
    await call();
    if (done) say(done);
    await refresh();
  } catch (error) { report(error); }
}

/** A cell naming a run's job: its id at once, its name once known. */
function jobCell(td, run) {
  if (td.dataset.job === run.jobId) return;
  td.dataset.job = run.jobId;
  linkCell(td, run.jobName || run.jobId, jobHref(run.jobId));
  if (run.jobName) return;
  jobName(run.jobId).then((name) => { if (td.dataset.job === run.jobId) setText(td.firstElementChild, name); });
}

/** The columns of a runs table; ``withJob`` adds the job (the view across jobs, which leaves
 *  output and progress to each run's page). */
export function runColumns(refresh, withJob) {
  return [
    { label: 'Run', cls: 'mono', fill: (td, r) => { linkCell(td, r.id, runHref(r.id)); setAttr(td, 'title', r.id); } },
    withJob ? { label: 'Job', fill: jobCell } : null,
    { label: 'Trigger', fill: (td, r) => setText(td, r.trigger) },
    { label: 'Status', fill: (td, r) => badge(td, runStatus(r)) },
    { label: 'Attempt', fill: (td, r) => setText(td, r.attempt) },
    { label: 'Scheduled', cls: 'time', fill: (td, r) => timeCell(td, r.scheduledAt) },
    { label: 'Started', cls: 'time', fill: (td, r) => timeCell(td, r.startedAt) },
    { label: 'Finished', cls: 'time', fill: (td, r) => timeCell(td, r.finishedAt) },
    { label: 'Duration', fill: (td, r) => setText(td, fmtDuration(r.durationMs)) },
    { label: 'Error', cls: 'wrap', fill: (td, r) => setText(td, r.error || '') },
    withJob ? null : { label: 'Output', cls: 'wrap json', fill: (td, r) => codeCell(td, r.output, fmtJson) },
    { label: 'Usage', fill: (td, r) => setText(td, fmtUsage(r.usage)) },
    withJob ? null : { label: 'Progress', cls: 'wrap json', fill: (td, r) => codeCell(td, r.progress, fmtJson) },
    { label: 'Actions', fill: (td, r) => runActions(td, r, refresh) },
  ].filter(Boolean);
}

// --- one run -------------------------------------------------------------------------------

const RUN_FIELDS = [
  ['id', 'Id'], ['jobId', 'Job'], ['trigger', 'Trigger'], ['replayOf', 'Replay of'], ['status', 'Status'],
  ['attempt', 'Attempts made'], ['skippedCount', 'Occurrences skipped'], ['scheduledAt', 'Scheduled'],
  ['lastSkippedAt', 'Last skipped'], ['startedAt', 'Started'], ['finishedAt', 'Finished'],
  ['durationMs', 'Duration'], ['error', 'Error'], ['output', 'Output'], ['usage', 'Usage'],
  ['progress', 'Progress'], ['heartbeatAt', 'Last heartbeat'], ['timeoutAt', 'Times out at'],
  ['payload', 'Payload delivered'],
];
const RUN_TIMES = new Set(['scheduledAt', 'lastSkippedAt', 'startedAt', 'finishedAt', 'heartbeatAt', 'timeoutAt']);

export async function showRun(id) {
  const title = mount(`Run ${id}`);
  const fields = fieldList();
  const cancel = h('button', { type: 'button', id: 'cancel-run' }, 'Cancel');
  const again = h('button', { type: 'button', id: 'replay-run' }, 'Replay');
  const jobLink = h('a', { class: 'button secondary', id: 'run-job-link' }, 'Job');
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Run actions' }, again, cancel, jobLink);
  const attempts = keyedTable('Attempts, oldest first', [
    { label: 'Attempt', fill: (td, a) => setText(td, a.attempt) },
    { label: 'Status', fill: (td, a) => badge(td, a.status) },
    { label: 'Started', cls: 'time', fill: (td, a) => timeCell(td, a.startedAt) },
    { label: 'Finished', cls: 'time', fill: (td, a) => timeCell(td, a.finishedAt) },
    { label: 'Duration', fill: (td, a) => setText(td, fmtDuration(a.durationMs)) },
    { label: 'Error', cls: 'wrap', fill: (td, a) => setText(td, a.error || '') },
  ], { id: 'attempts-table' });
  const attemptsSection = h('section', { 'aria-labelledby': 'attempts-title', id: 'attempts', hidden: true },
    h('h2', { id: 'attempts-title' }, 'Attempts'), h('div', { class: 'scroll' }, attempts.table));
  const zoneHint = h('p', { class: 'hint' });
  main.append(actions, zoneHint, attemptsSection,
    h('section', { 'aria-labelledby': 'run-fields-title' }, h('h2', { id: 'run-fields-title' }, 'Details'), fields.dl));
  let run = null;

  async function refresh() {
    run = (await api('GET', runPath(id))).data;
    setText(title, `Run ${run.id}`);
    setText(zoneHint, `Times in ${zoneName()}; refreshed every few seconds.`);
    setAttr(jobLink, 'href', jobHref(run.jobId));
    jobName(run.jobId).then((name) => setText(jobLink, `Job ${name}`));
    cancel.hidden = FINAL_RUN.has(run.status) || Boolean(run.cancelRequested);
    again.hidden = run.status === 'skipped';
    for (const [key, label] of RUN_FIELDS) {
      const present = key in run && !(['replayOf', 'skippedCount', 'lastSkippedAt'].includes(key) && !run[key]);
      if (!present) { fields.show(key, false); continue; }
      const cell = fields.cell(key, label);
      fields.show(key, true);
      const value = run[key];
      if (key === 'status') badge(cell, runStatus(run));
      else if (key === 'jobId') jobCell(cell, run);
      else if (key === 'replayOf') linkCell(cell, value, runHref(value));
      else if (RUN_TIMES.has(key)) setText(cell, fmtTime(value));
      else if (key === 'durationMs') setText(cell, fmtDuration(value));
      else if (key === 'usage') setText(cell, fmtUsage(value));
      else if (value !== null && typeof value === 'object') codeCell(cell, value, fmtJson);
      else setText(cell, value === null ? '—' : value);
    }
    // attempts (contract section 13): shown when the API gives them
    attemptsSection.hidden = !Array.isArray(run.attempts);
    if (Array.isArray(run.attempts)) attempts.sync(run.attempts, (a) => String(a.attempt));
  }

  cancel.addEventListener('click', () => act(refresh, 'Cancel requested.', () => api('POST', `${runPath(id)}/cancel`)));
  again.addEventListener('click', async () => {
    try {
      const made = await replay(id);
      location.hash = runHref(made.id);
    } catch (error) { report(error); }
  });
  try {
    await refresh();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) { notFound('Run not found', error, '#/', 'All jobs'); return; }
    throw error;
  }
  keepRefreshing(refresh);
}

// --- runs across jobs --------------------------------------------------------------------------

export async function showRuns(params) {
  const filters = Object.fromEntries(['status', 'agentId', 'jobId', 'trigger', 'since']
    .map((k) => [k, params.get(k) || '']));
  const pageSize = /^\d{1,4}$/.test(params.get('limit') || '') ? params.get('limit') : '50'; // #/runs?limit=…
  mount('Runs');
  if (!(await routeAnswers('/runs?limit=1'))) {
    main.append(h('p', { class: 'empty', id: 'runs-missing' },
      'This API has no runs view across jobs (GET /api/runs); open a job to see its runs.'));
    return;
  }
  const select = (name, choices) => {
    const el = h('select', { id: `runs-${name}`, name }, h('option', { value: '' }, 'any'),
      choices.map((c) => h('option', { value: c }, c)));
    el.value = filters[name];
    return el;
  };
  const text = (name, placeholder) => h('input', { id: `runs-${name}`, name, type: 'text', value: filters[name],
    placeholder, spellcheck: 'false', autocomplete: 'off' });
  const controls = { status: select('status', RUN_STATUSES), trigger: select('trigger', TRIGGERS),
    agentId: text('agentId', 'UUID'), jobId: text('jobId', 'job-…'), since: text('since', '2026-12-06T00:00:00Z') };
  const labels = { status: 'Status', trigger: 'Trigger', agentId: 'Agent id', jobId: 'Job id', since: 'Since (ISO)' };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs',
    onsubmit: (event) => {
      event.preventDefault();
      const chosen = Object.fromEntries(Object.entries(controls).map(([k, el]) => [k, el.value.trim()]));
      location.hash = `#/runs${query(chosen)}`;
    } },
  Object.entries(controls).map(([k, el]) => h('div', { class: 'field' }, h('label', { for: el.id }, labels[k]), el)),
  h('div', { class: 'field' }, h('button', { type: 'submit', id: 'runs-filter' }, 'Filter')));
  let pages = null;
  const grid = keyedTable('Runs across jobs, newest first', runColumns(() => pages.reload(), true), { id: 'runs-table' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No run matches.');
  const error = h('p', { class: 'field-error', id: 'runs-error', role: 'alert', hidden: true });
  const hint = h('p', { class: 'hint' });
  pages = pager('Pages of runs', async (cursor) => {
    let answer;
    try {
      answer = await api('GET', `/runs${query({ ...filters, limit: pageSize, cursor })}`);
    } catch (failure) {
      if (!(failure instanceof ApiError) || routeMissing(failure)) throw failure;
      setText(error, failure.message); // a bad filter: the API's own message
      error.hidden = false;
      return null;
    }
    error.hidden = true;
    setText(hint, `Newest first; times in ${zoneName()}; refreshed every few seconds.`);
    grid.sync(answer.data, (r) => r.id);
    empty.hidden = answer.data.length > 0;
    return answer.link;
  });
  main.append(form, error, hint, h('div', { class: 'scroll' }, grid.table), empty, pages.nav);
  if (filters.agentId) main.append(h('p', {}, h('a', { href: agentHref(filters.agentId) }, 'This agent')));
  await pages.reload();
  keepRefreshing(pages.reload);
}
