// One job (#/jobs/{id}): actions (pause/resume, run now, run now with a payload, delete), its
// next start times, its runs and its history (tabs), and every field.
import {
  ApiError, agentHref, api, jobPath, query, routeMissing, runHref,
} from './api.js';
import {
  badge, codeCell, confirmAction, fieldList, h, keyedTable, linkCell, say, setAttr, setText,
} from './dom.js';
import {
  fmtBlocked, fmtBudget, fmtChanges, fmtJson, fmtProjection, fmtUsageToday, fmtWhyNot, timeCell,
} from './format.js';
import { runColumns } from './runs.js';
import { fmtRelative, fmtTime, zoneName } from './time.js';
import {
  keepRefreshing, main, mount, notFound, report,
} from './view.js';

const JOB_FIELDS = [
  ['id', 'Id'], ['description', 'Description'], ['agentId', 'Agent'], ['schedule', 'Schedule'],
  ['interval', 'Interval (ms)'], ['timezone', 'Timezone'], ['status', 'Status'], ['pausedReason', 'Paused reason'],
  ['blocked', 'Blocked'], ['nextRunAt', 'Next run'], ['lastRunAt', 'Last run'], ['lastRunStatus', 'Last run status'],
  ['lastSuccessAt', 'Last success'], ['runCount', 'Runs'], ['failureCount', 'Failures'],
  ['consecutiveFailures', 'Consecutive failures'], ['skipped', 'Occurrences skipped'],
  ['maxConsecutiveFailures', 'Pause after failures'], ['timeoutMs', 'Timeout (ms)'],
  ['heartbeatTimeoutMs', 'Heartbeat timeout (ms)'], ['overlap', 'Overlap'], ['startAt', 'Starts at'],
  ['endAt', 'Ends at'], ['maxRuns', 'Max runs'], ['catchupWindowMs', 'Catch-up window (ms)'],
  ['expectSuccessWithinMs', 'Expect a success within (ms)'],
  ['budget', 'Budget'], ['usageToday', 'Used today'], ['projection', 'Projection (next 24 h)'],
  ['origin', 'Origin'], ['retryPolicy', 'Retry policy'], ['payload', 'Payload'], ['state', 'State'],
  ['createdAt', 'Created'], ['updatedAt', 'Updated'],
];
const TIME_FIELDS = new Set(['nextRunAt', 'lastRunAt', 'lastSuccessAt', 'createdAt', 'updatedAt', 'startAt', 'endAt']);

const EVENT_COLUMNS = [
  { label: 'When', cls: 'time', fill: (td, e) => timeCell(td, e.at) },
  { label: 'Action', fill: (td, e) => badge(td, e.action) },
  { label: 'Actor', cls: 'mono', fill: (td, e) => setText(td, e.actor ? `${e.actor.kind} ${e.actor.id || ''}`.trim() : '—') },
  { label: 'Changes', cls: 'wrap', fill: (td, e) => setText(td, fmtChanges(e.changes)) },
  { label: 'Reason', cls: 'wrap', fill: (td, e) => setText(td, e.reason || '') },
];
const eventKey = (e) => `${e.at}|${e.action}|${JSON.stringify(e.changes)}|${e.actor ? e.actor.id : ''}`;

/** A deleted job's page: not found, and its history while the API keeps it (30 days). */
async function showDeleted(id, error) {
  notFound('Job not found', error, '#/', 'All jobs');
  let answer;
  try {
    answer = await api('GET', `${jobPath(id)}/events${query({ limit: '100' })}`);
  } catch (failure) { return; } // no history route, or none kept: the 404 says it all
  if (!Array.isArray(answer.data) || !answer.data.length) return;
  const table = keyedTable('History, newest first', EVENT_COLUMNS, { id: 'history-table' });
  table.sync(answer.data, eventKey);
  main.append(h('h2', {}, 'Its history'),
    h('p', { class: 'hint' }, 'A deleted job\'s history stays readable for 30 days.'),
    h('div', { class: 'scroll' }, table.table));
}

/** A job's origin: "api (depth 0)", "console (depth 0)", or "run: <link to the run> (depth 1)". */
function originCell(dd, origin) {
  const key = JSON.stringify(origin);
  if (dd.dataset.value === key) return;
  dd.dataset.value = key;
  if (!origin || typeof origin !== 'object') { dd.replaceChildren('—'); return; }
  const parts = [String(origin.via)];
  if (origin.runId) parts.push(': ', h('a', { href: runHref(origin.runId), class: 'mono' }, origin.runId));
  parts.push(` (depth ${origin.depth})`);
  dd.replaceChildren(...parts);
}

function fillField(dd, key, value) {
  if (key === 'status') badge(dd, value);
  else if (key === 'agentId') linkCell(dd, value, agentHref(value));
  else if (key === 'blocked') setText(dd, value ? fmtBlocked(value) : 'no');
  else if (key === 'origin') originCell(dd, value);
  else if (key === 'projection') setText(dd, fmtProjection(value));
  else if (key === 'budget') setText(dd, value ? fmtBudget(value) : '—');
  else if (key === 'usageToday') setText(dd, fmtUsageToday(value));
  else if (TIME_FIELDS.has(key)) setText(dd, fmtTime(value));
  else if (value !== null && typeof value === 'object') codeCell(dd, value, fmtJson);
  else setText(dd, value === null ? '—' : value);
}

/** Tabs over panels: [{id, label, panel}]; the first is shown. */
function tabs(label, items) {
  const list = h('div', { class: 'tabs', role: 'tablist', 'aria-label': label });
  const select = (chosen) => items.forEach((item) => {
    const on = item === chosen;
    setAttr(item.tab, 'aria-selected', on ? 'true' : 'false');
    setAttr(item.tab, 'tabindex', on ? '0' : '-1');
    item.panel.hidden = !on;
    if (on && item.onShow) item.onShow();
  });
  items.forEach((item) => {
    item.tab = h('button', { type: 'button', role: 'tab', id: `${item.id}-tab`, 'aria-controls': `${item.id}-panel` },
      item.label);
    setAttr(item.panel, 'id', `${item.id}-panel`);
    setAttr(item.panel, 'role', 'tabpanel');
    setAttr(item.panel, 'aria-labelledby', `${item.id}-tab`);
    item.tab.addEventListener('click', () => select(item));
    item.tab.addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const shown = items.filter((x) => !x.tab.hidden);
      const next = shown[(shown.indexOf(item) + step + shown.length) % shown.length];
      select(next);
      next.tab.focus();
    });
    list.append(item.tab);
  });
  select(items[0]);
  return { list, select, selected: () => items.find((x) => x.tab.getAttribute('aria-selected') === 'true') };
}

/** The dialog of "Run now with a payload…" (made once per page load). */
function payloadDialog() {
  let dialog = document.getElementById('payload-dialog');
  if (dialog) return dialog;
  dialog = h('dialog', { id: 'payload-dialog', 'aria-labelledby': 'payload-title' },
    h('form', { id: 'payload-form', method: 'dialog' },
      h('h2', { id: 'payload-title' }, 'Run now with a payload'),
      h('label', { for: 'run-payload' }, 'Payload (JSON object) for this run only'),
      h('textarea', { id: 'run-payload', rows: 6, spellcheck: 'false', 'aria-describedby': 'run-payload-hint run-payload-error' }),
      h('p', { class: 'hint', id: 'run-payload-hint' }, 'The job keeps its own payload; only this run gets this one.'),
      h('p', { class: 'field-error', id: 'run-payload-error', role: 'alert', hidden: true }),
      h('div', { class: 'buttons' },
        h('button', { type: 'submit', value: 'run', id: 'run-payload-submit' }, 'Run now'),
        h('button', { type: 'button', class: 'button secondary', id: 'run-payload-cancel',
          onclick: () => dialog.close() }, 'Cancel'))));
  document.body.append(dialog);
  return dialog;
}

/** Ask for a payload and run the job with it; resolves once the run was queued (or not). */
function runWithPayload(job, done) {
  const dialog = payloadDialog();
  const form = dialog.querySelector('form');
  const input = dialog.querySelector('#run-payload');
  const error = dialog.querySelector('#run-payload-error');
  input.value = JSON.stringify(job.payload || {}, null, 2);
  error.hidden = true;
  input.removeAttribute('aria-invalid');
  const fail = (message) => {
    setText(error, message);
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  };
  const submit = async (event) => {
    event.preventDefault();
    let payload;
    try { payload = JSON.parse(input.value); } catch (e) { fail(`payload: is not valid JSON (${e.message})`); return; }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) { fail('payload: must be a JSON object'); return; }
    try {
      const run = (await api('POST', `${jobPath(job.id)}/run`, { payload })).data;
      dialog.close();
      say(`Run ${run.id} queued with its own payload.`);
      await done();
    } catch (failure) {
      if (failure instanceof ApiError) fail(failure.message); else { dialog.close(); report(failure); }
    }
  };
  form.onsubmit = submit;
  input.oninput = () => { error.hidden = true; input.removeAttribute('aria-invalid'); };
  dialog.showModal();
  input.focus();
}

export async function showJob(id) {
  const title = mount('Job');
  const fields = fieldList();
  const upcoming = h('ol', { class: 'upcoming', 'aria-live': 'off' });
  const upcomingNote = h('p', { class: 'hint' });
  const why = h('p', { class: 'why', id: 'job-why', hidden: true });
  const edit = h('a', { class: 'button', href: `#/jobs/${encodeURIComponent(id)}/edit` }, 'Edit');
  const toggle = h('button', { type: 'button', id: 'toggle-pause' }, 'Pause');
  const runNow = h('button', { type: 'button', id: 'run-now' }, 'Run now');
  const runPayload = h('button', { type: 'button', id: 'run-with-payload', class: 'secondary' }, 'Run now with a payload…');
  const remove = h('button', { type: 'button', id: 'delete-job', class: 'danger' }, 'Delete');
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Job actions' },
    edit, toggle, runNow, runPayload, remove);
  let job = null;

  const runs = keyedTable('Runs, newest first', runColumns(() => refresh()), { id: 'runs-table' });
  const noRuns = h('p', { class: 'empty', hidden: true }, 'No run yet.');
  const olderRuns = h('button', { type: 'button', hidden: true }, 'Older runs');
  const runsHint = h('p', { class: 'hint' });
  let runLimit = 25;

  const events = keyedTable('History, newest first', EVENT_COLUMNS, { id: 'history-table' });
  const noEvents = h('p', { class: 'empty', hidden: true }, 'No event yet.');
  const olderEvents = h('button', { type: 'button', hidden: true, id: 'older-events' }, 'Older events');
  let eventLimit = 25;
  let historyKnown = null; // null: not asked yet; false: this API has no history route

  const runsPanel = h('section', { class: 'panel' }, runsHint, h('div', { class: 'scroll' }, runs.table), noRuns, olderRuns);
  const historyPanel = h('section', { class: 'panel' },
    h('p', { class: 'hint' }, 'Every change to the job and every action on it, newest first.'),
    h('div', { class: 'scroll' }, events.table), noEvents, olderEvents);
  const tabItems = [
    { id: 'runs', label: 'Runs', panel: runsPanel },
    { id: 'history', label: 'History', panel: historyPanel, onShow: () => { loadHistory().catch(report); } },
  ];
  const tabSet = tabs('Runs and history', tabItems);
  const historyTab = tabItems[1].tab;
  historyTab.hidden = true;

  async function loadHistory() {
    if (historyKnown === false) return;
    let answer;
    try {
      answer = await api('GET', `${jobPath(id)}/events${query({ limit: String(eventLimit) })}`);
    } catch (error) {
      if (routeMissing(error)) { historyKnown = false; historyTab.hidden = true; return; }
      throw error;
    }
    historyKnown = true;
    historyTab.hidden = false;
    if (Array.isArray(answer.data)) {
      events.sync(answer.data, eventKey);
      noEvents.hidden = answer.data.length > 0;
    }
    olderEvents.hidden = !/rel="?next"?/.test(answer.link || '');
  }

  toggle.addEventListener('click', () => {
    const pausing = job.status === 'active';
    act(pausing ? 'Job paused.' : 'Job resumed.',
      () => api('PATCH', jobPath(id), { status: pausing ? 'paused' : 'active' }));
  });
  runNow.addEventListener('click', () => act('Run queued.', () => api('POST', `${jobPath(id)}/run`)));
  runPayload.addEventListener('click', () => runWithPayload(job, refresh));
  remove.addEventListener('click', async () => {
    if (!(await confirmAction(`Delete the job “${job.name}”? Nothing of it starts after this.`))) return;
    try {
      await api('DELETE', jobPath(id));
      say(`Job ${job.name} deleted.`);
      location.hash = '#/';
    } catch (error) { report(error); }
  });
  olderRuns.addEventListener('click', () => { runLimit = Math.min(runLimit * 2, 1000); refresh().catch(report); });
  olderEvents.addEventListener('click', () => { eventLimit = Math.min(eventLimit * 2, 1000); loadHistory().catch(report); });

  async function act(done, call) {
    try {
      await call();
      say(done);
      await refresh();
    } catch (error) { report(error); }
  }

  function fillFields() {
    for (const [key, label] of JOB_FIELDS) {
      if (!(key in job)) continue;
      fillField(fields.cell(key, label), key, job[key]);
    }
    const text = fmtWhyNot(job);
    setText(why, text);
    why.hidden = !text;
  }

  async function fillUpcoming() {
    const timing = job.schedule !== null ? { schedule: job.schedule } : { interval: job.interval };
    let times = [];
    try {
      times = (await api('POST', '/schedules/preview', { ...timing, timezone: job.timezone, count: 5 })).data.next;
    } catch (error) { times = []; }
    // An interval job's real next runs are anchored on its first run, not on "now".
    if (job.interval !== null && job.nextRunAt) {
      times = Array.from({ length: 5 }, (_, i) => new Date(Date.parse(job.nextRunAt) + i * job.interval)
        .toISOString());
    }
    setText(upcomingNote, job.status === 'active' ? '' : `The job is ${job.status}: these are the times it would have if active.`);
    while (upcoming.children.length > times.length) upcoming.lastElementChild.remove();
    times.forEach((iso, i) => {
      const li = upcoming.children[i] || upcoming.appendChild(h('li'));
      setText(li, `${fmtTime(iso)} (${fmtRelative(iso)})`);
    });
    if (!times.length) upcoming.replaceChildren(h('li', {}, 'none'));
  }

  async function refresh() {
    const [jobAnswer, runAnswer] = await Promise.all([
      api('GET', jobPath(id)), api('GET', `${jobPath(id)}/runs${query({ limit: String(runLimit) })}`)]);
    job = jobAnswer.data;
    setText(title, job.name);
    document.title = `${job.name} · agentOS Jobs`;
    setText(toggle, job.status === 'active' ? 'Pause' : 'Resume');
    toggle.disabled = !['active', 'paused'].includes(job.status);
    setText(runsHint, `Newest first; times in ${zoneName()}; refreshed every few seconds.`);
    fillFields();
    runs.sync(runAnswer.data, (r) => r.id);
    noRuns.hidden = runAnswer.data.length > 0;
    olderRuns.hidden = !/rel="?next"?/.test(runAnswer.link || '');
    if (historyKnown === null || tabSet.selected() === tabItems[1]) await loadHistory().catch(report);
    await fillUpcoming();
  }

  main.append(why, actions,
    h('section', { 'aria-labelledby': 'upcoming-title' }, h('h2', { id: 'upcoming-title' }, 'Next start times'),
      upcomingNote, upcoming),
    h('section', { 'aria-label': 'Runs and history', class: 'tabbed' }, tabSet.list, runsPanel, historyPanel),
    h('section', { 'aria-labelledby': 'fields-title' }, h('h2', { id: 'fields-title' }, 'Details'), fields.dl));
  try {
    await refresh();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) { await showDeleted(id, error); return; }
    throw error;
  }
  keepRefreshing(refresh);
}
