// agentOS Jobs console: plain JavaScript, no build step, no dependency.
// Every piece of API data reaches the page through textContent or an attribute set by
// setAttribute, never as markup: a job named <img src=x onerror=…> stays text.
// The views refresh by themselves by updating the DOM in place (rows keyed by id), so a
// refresh neither flickers nor steals the keyboard focus.
'use strict';

(() => {
  const SCRIPT_URL = new URL(document.currentScript.src);
  // The API sits beside the console under the same prefix (API Gateway's stage, if any).
  const API = SCRIPT_URL.pathname.replace(/\/console\/app\.js$/, '') + '/api';
  const TOKEN_KEY = 'agentos.console.token';
  const REFRESH_MS = 3000;
  const PREVIEW_DELAY_MS = 350;
  const FINAL_RUN = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);
  const JOB_STATUSES = ['active', 'paused', 'completed', 'failed'];

  const main = document.getElementById('main');
  const notice = document.getElementById('notice');
  let routeId = 0;
  let timer = null;

  // --- DOM helpers ------------------------------------------------------------------

  /** An element with attributes (on* are listeners) and children (strings become text). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (key === 'text') el.textContent = String(value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** Set an element's text only when it changed (no needless layout, no flicker). */
  function setText(el, value) {
    const text = value === null || value === undefined ? '' : String(value);
    if (el.textContent !== text) el.textContent = text;
  }

  function setAttr(el, name, value) {
    if (value === null || value === undefined || value === false) el.removeAttribute(name);
    else if (el.getAttribute(name) !== String(value)) el.setAttribute(name, String(value));
  }

  let saidAt = 0;

  function say(message, isError) {
    saidAt = Date.now();
    setText(notice, message);
    notice.classList.toggle('error', Boolean(isError));
  }

  // --- formatting -----------------------------------------------------------------------

  function fmtTime(iso) {
    if (!iso) return '—';
    return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC');
  }

  /** A compact time for table cells: the time of day when it is today (UTC), else the date too. */
  function fmtShort(iso) {
    if (!iso) return '—';
    const full = fmtTime(iso);
    return (iso.slice(0, 10) === new Date().toISOString().slice(0, 10) ? full.slice(11) : full).replace(/ UTC$/, '');
  }

  function timeCell(td, iso) {
    setText(td, fmtShort(iso));
    setAttr(td, 'title', iso ? fmtTime(iso) : null);
  }

  function fmtRelative(iso) {
    if (!iso) return '';
    const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
    const size = Math.abs(seconds);
    const amount = size < 90 ? `${size} s` : size < 5400 ? `${Math.round(size / 60)} min`
      : size < 172800 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86400)} d`;
    return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  }

  function fmtTiming(job) {
    const when = job.schedule !== null && job.schedule !== undefined ? job.schedule
      : `every ${fmtDuration(job.interval)}`;
    return job.timezone && job.timezone !== 'UTC' ? `${when} (${job.timezone})` : when;
  }

  function fmtJson(value) {
    if (value === null || value === undefined) return '—';
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  function fmtUsage(usage) {
    if (!usage) return '—';
    const parts = [];
    if (usage.inputTokens !== undefined) parts.push(`in ${usage.inputTokens} tok`);
    if (usage.outputTokens !== undefined) parts.push(`out ${usage.outputTokens} tok`);
    if (usage.costUsd !== undefined) parts.push(`$${usage.costUsd}`);
    return parts.length ? parts.join(', ') : fmtJson(usage);
  }

  // --- the API ------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      const message = body && typeof body === 'object' && body.Message ? body.Message : `HTTP ${status}`;
      super(message);
      this.status = status;
      this.code = body && body.Code;
    }
  }

  let tokenPrompt = null;

  /** Ask for a token once, however many requests were refused meanwhile. */
  function askToken(reason) {
    if (tokenPrompt) return tokenPrompt;
    const dialog = document.getElementById('token-dialog');
    const form = document.getElementById('token-form');
    const input = document.getElementById('token-input');
    setText(document.getElementById('token-reason'), reason || 'The API asks for a bearer token.');
    input.value = '';
    tokenPrompt = new Promise((resolve) => {
      const done = (event) => {
        event.preventDefault();
        if (!input.value.trim()) return;
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        form.removeEventListener('submit', done);
        dialog.close();
        tokenPrompt = null;
        showForget();
        resolve();
      };
      form.addEventListener('submit', done);
      // Escape closes a modal dialog: the request is then asked again, so the dialog returns.
      dialog.addEventListener('cancel', (event) => event.preventDefault(), { once: true });
    });
    dialog.showModal();
    input.focus();
    return tokenPrompt;
  }

  function showForget() {
    document.getElementById('forget-token').hidden = !sessionStorage.getItem(TOKEN_KEY);
  }

  /** One API call; asks for a token on 401 and tries again. Resolves {data, link, status}.
   *  X-AgentOS-Client names the console: jobs it creates have origin.via "console". */
  async function api(method, path, body) {
    const headers = { Accept: 'application/json', 'X-AgentOS-Client': 'console' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(API + path, {
      method, headers, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { Message: text.slice(0, 200) }; }
    if (response.status === 401) {
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      await askToken(token ? 'That token was refused; enter another one.' : 'The API asks for a bearer token.');
      return api(method, path, body);
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return { data, link: response.headers.get('Link'), status: response.status };
  }

  /** The cursor of a `Link: <…?cursor=…>; rel="next"` header, or null. */
  function nextCursor(link) {
    const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(link || '');
    return match ? new URL(match[1], location.href).searchParams.get('cursor') : null;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  // --- routing and refresh ----------------------------------------------------------------

  function stopRefresh() {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  /** Run ``refresh`` every REFRESH_MS while this route is shown (and the tab visible). */
  function keepRefreshing(refresh) {
    const mine = routeId;
    const tick = async () => {
      if (mine !== routeId) return;
      if (!document.hidden) {
        try { await refresh(); } catch (error) { report(error); }
      }
      if (mine === routeId) timer = setTimeout(tick, REFRESH_MS);
    };
    timer = setTimeout(tick, REFRESH_MS);
  }

  function report(error) {
    say(error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : `Cannot reach the API: ${error.message}`,
      true);
  }

  function parseRoute() {
    const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
    const [path, search] = hash.split('?');
    const params = new URLSearchParams(search || '');
    let match;
    if (path === '/new') return { view: showForm, args: [null] };
    if ((match = /^\/jobs\/([^/]+)\/edit$/.exec(path))) return { view: showEdit, args: [decodeURIComponent(match[1])] };
    if ((match = /^\/jobs\/([^/]+)$/.exec(path))) return { view: showJob, args: [decodeURIComponent(match[1])] };
    return { view: showList, args: [params] };
  }

  function route() {
    routeId += 1;
    stopRefresh();
    const { view, args } = parseRoute();
    main.replaceChildren();
    view(...args).catch(report);
  }

  function mount(title, ...children) {
    const heading = h('h1', { tabindex: '-1' }, title);
    main.replaceChildren(heading, ...children);
    document.title = `${title} · agentOS Jobs`;
    heading.focus({ preventScroll: true });
    return heading;
  }

  // --- keyed tables ------------------------------------------------------------------------

  /** A table whose rows are kept per key and updated in place. */
  function keyedTable(caption, columns) {
    const tbody = h('tbody');
    const table = h('table', { class: 'grid' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      tbody);
    const sync = (items, keyOf) => {
      const old = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
      let previous = null;
      for (const item of items) {
        const key = keyOf(item);
        let tr = old.get(key);
        if (!tr) {
          tr = h('tr', { 'data-key': key }, columns.map((c) => h('td', { 'data-label': c.label, class: c.cls })));
        }
        old.delete(key);
        columns.forEach((c, i) => c.fill(tr.children[i], item));
        const wanted = previous ? previous.nextElementSibling : tbody.firstElementChild;
        if (wanted !== tr) tbody.insertBefore(tr, wanted);
        previous = tr;
      }
      old.forEach((tr) => tr.remove());
    };
    return { table, tbody, sync };
  }

  /** A cell holding one link (created once, then only its text and href change). */
  function linkCell(td, text, href) {
    let a = td.firstElementChild;
    if (!a) { a = h('a'); td.append(a); }
    setAttr(a, 'href', href);
    setText(a, text);
  }

  function badge(td, status) {
    let span = td.firstElementChild;
    if (!span) { span = h('span'); td.append(span); }
    setAttr(span, 'class', `badge ${status || 'none'}`);
    setText(span, status || '—');
  }

  function codeCell(td, value) {
    let code = td.firstElementChild;
    if (!code) { code = h('code'); td.append(code); }
    setText(code, fmtJson(value));
  }

  // --- jobs list -------------------------------------------------------------------------------

  async function showList(params) {
    const filters = { status: params.get('status') || '', agentId: params.get('agentId') || '' };
    const pages = [null]; // cursors of the pages seen, for "previous page"
    const status = h('select', { id: 'filter-status', name: 'status' },
      h('option', { value: '' }, 'any'), JOB_STATUSES.map((s) => h('option', { value: s }, s)));
    status.value = filters.status;
    const agent = h('input', { id: 'filter-agent', name: 'agentId', type: 'text', value: filters.agentId,
      placeholder: 'UUID', spellcheck: 'false', autocomplete: 'off' });
    const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs',
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = `#/${query({ status: status.value, agentId: agent.value.trim() })}`;
      } },
    h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), status),
    h('div', { class: 'field' }, h('label', { for: 'filter-agent' }, 'Agent id'), agent),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')));
    const grid = keyedTable('Jobs', [
      { label: 'Name', fill: (td, j) => linkCell(td, j.name, `#/jobs/${encodeURIComponent(j.id)}`) },
      { label: 'Agent', cls: 'mono', fill: (td, j) => setText(td, j.agentId) },
      { label: 'Schedule', cls: 'mono', fill: (td, j) => setText(td, fmtTiming(j)) },
      { label: 'Status', fill: (td, j) => badge(td, j.status) },
      { label: 'Next run', fill: (td, j) => setText(td, j.nextRunAt ? `${fmtTime(j.nextRunAt)} (${fmtRelative(j.nextRunAt)})` : '—') },
      { label: 'Last run', fill: (td, j) => badge(td, j.lastRunStatus) },
      { label: 'Paused reason', fill: (td, j) => setText(td, j.pausedReason || '') },
    ]);
    const empty = h('p', { class: 'empty', hidden: true }, 'No job matches.');
    const previous = h('button', { type: 'button', disabled: true }, 'Previous page');
    const next = h('button', { type: 'button', disabled: true }, 'Next page');
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, next);
    let following = null;

    const load = async () => {
      const cursor = pages[pages.length - 1];
      const answer = await api('GET', `/jobs${query({ ...filters, limit: '50', cursor })}`);
      grid.sync(answer.data, (j) => j.id);
      empty.hidden = answer.data.length > 0;
      following = nextCursor(answer.link);
      next.disabled = !following;
      previous.disabled = pages.length < 2;
    };
    next.addEventListener('click', () => { if (following) { pages.push(following); load().catch(report); } });
    previous.addEventListener('click', () => { if (pages.length > 1) { pages.pop(); load().catch(report); } });
    mount('Jobs', form, h('div', { class: 'scroll' }, grid.table), empty, pager);
    await load();
    keepRefreshing(load);
  }

  // --- one job ---------------------------------------------------------------------------------

  const JOB_FIELDS = [
    ['id', 'Id'], ['description', 'Description'], ['agentId', 'Agent'], ['schedule', 'Schedule'],
    ['interval', 'Interval (ms)'], ['timezone', 'Timezone'], ['status', 'Status'], ['pausedReason', 'Paused reason'],
    ['nextRunAt', 'Next run'], ['lastRunAt', 'Last run'], ['lastRunStatus', 'Last run status'],
    ['runCount', 'Runs'], ['failureCount', 'Failures'], ['consecutiveFailures', 'Consecutive failures'],
    ['maxConsecutiveFailures', 'Pause after failures'], ['timeoutMs', 'Timeout (ms)'],
    ['heartbeatTimeoutMs', 'Heartbeat timeout (ms)'], ['overlap', 'Overlap'], ['startAt', 'Starts at'],
    ['endAt', 'Ends at'], ['maxRuns', 'Max runs'], ['catchupWindowMs', 'Catch-up window (ms)'],
    ['budget', 'Budget'], ['usageToday', 'Used today'], ['retryPolicy', 'Retry policy'], ['payload', 'Payload'],
    ['createdAt', 'Created'], ['updatedAt', 'Updated'],
  ];
  const TIME_FIELDS = new Set(['nextRunAt', 'lastRunAt', 'createdAt', 'updatedAt', 'startAt', 'endAt']);

  function jobPath(id) { return `/jobs/${encodeURIComponent(id)}`; }

  async function showJob(id) {
    const title = mount('Job');
    const fields = h('dl', { class: 'fields' });
    const cells = new Map();
    const upcoming = h('ol', { class: 'upcoming', 'aria-live': 'off' });
    const upcomingNote = h('p', { class: 'hint' });
    const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Job actions' });
    const edit = h('a', { class: 'button', href: `#/jobs/${encodeURIComponent(id)}/edit` }, 'Edit');
    const toggle = h('button', { type: 'button', id: 'toggle-pause' }, 'Pause');
    const runNow = h('button', { type: 'button', id: 'run-now' }, 'Run now');
    const remove = h('button', { type: 'button', id: 'delete-job', class: 'danger' }, 'Delete');
    actions.append(edit, toggle, runNow, remove);
    let job = null;

    const runs = keyedTable('Runs, newest first', [
      { label: 'Run', cls: 'mono', fill: (td, r) => { setText(td, r.id); setAttr(td, 'title', r.id); } },
      { label: 'Trigger', fill: (td, r) => setText(td, r.trigger) },
      { label: 'Status', fill: (td, r) => badge(td, r.cancelRequested && !FINAL_RUN.has(r.status) ? `${r.status} (cancel requested)` : r.status) },
      { label: 'Attempt', fill: (td, r) => setText(td, r.attempt) },
      { label: 'Scheduled', cls: 'time', fill: (td, r) => timeCell(td, r.scheduledAt) },
      { label: 'Started', cls: 'time', fill: (td, r) => timeCell(td, r.startedAt) },
      { label: 'Finished', cls: 'time', fill: (td, r) => timeCell(td, r.finishedAt) },
      { label: 'Duration', fill: (td, r) => setText(td, fmtDuration(r.durationMs)) },
      { label: 'Error', cls: 'wrap', fill: (td, r) => setText(td, r.error || '') },
      { label: 'Output', cls: 'wrap json', fill: (td, r) => codeCell(td, r.output) },
      { label: 'Usage', fill: (td, r) => setText(td, fmtUsage(r.usage)) },
      { label: 'Progress', cls: 'wrap json', fill: (td, r) => codeCell(td, r.progress) },
      { label: 'Actions', fill: (td, r) => cancelButton(td, r) },
    ]);
    const noRuns = h('p', { class: 'empty', hidden: true }, 'No run yet.');
    const olderRuns = h('button', { type: 'button', hidden: true }, 'Older runs');
    let runLimit = 25;

    function cancelButton(td, run) {
      let button = td.firstElementChild;
      if (!button) {
        button = h('button', { type: 'button', class: 'small cancel-run' }, 'Cancel');
        button.addEventListener('click', () => act(`Cancel requested for run ${button.dataset.run}.`,
          () => api('POST', `/runs/${encodeURIComponent(button.dataset.run)}/cancel`)));
        td.append(button);
      }
      button.dataset.run = run.id;
      setAttr(button, 'aria-label', `Cancel run ${run.id}`);
      button.hidden = FINAL_RUN.has(run.status) || Boolean(run.cancelRequested);
    }

    async function act(done, call) {
      try {
        await call();
        say(done);
        await refresh();
      } catch (error) { report(error); }
    }

    toggle.addEventListener('click', () => {
      const pausing = job.status === 'active';
      act(pausing ? 'Job paused.' : 'Job resumed.',
        () => api('PATCH', jobPath(id), { status: pausing ? 'paused' : 'active' }));
    });
    runNow.addEventListener('click', () => act('Run queued.', () => api('POST', `${jobPath(id)}/run`)));
    remove.addEventListener('click', async () => {
      if (!(await confirmAction(`Delete the job “${job.name}”? Nothing of it starts after this.`))) return;
      try {
        await api('DELETE', jobPath(id));
        say(`Job ${job.name} deleted.`);
        location.hash = '#/';
      } catch (error) { report(error); }
    });
    olderRuns.addEventListener('click', () => { runLimit = Math.min(runLimit * 2, 1000); refresh().catch(report); });

    function fillFields() {
      for (const [key, label] of JOB_FIELDS) {
        if (!(key in job)) continue;
        let cell = cells.get(key);
        if (!cell) {
          cell = h('dd', { 'data-field': key });
          fields.append(h('dt', {}, label), cell);
          cells.set(key, cell);
        }
        const value = job[key];
        if (key === 'status') badge(cell, value);
        else if (TIME_FIELDS.has(key)) setText(cell, fmtTime(value));
        else if (value !== null && typeof value === 'object') codeCell(cell, value);
        else setText(cell, value === null ? '—' : value);
      }
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
      fillFields();
      runs.sync(runAnswer.data, (r) => r.id);
      noRuns.hidden = runAnswer.data.length > 0;
      olderRuns.hidden = !nextCursor(runAnswer.link);
      await fillUpcoming();
    }

    main.append(actions,
      h('section', { 'aria-labelledby': 'upcoming-title' }, h('h2', { id: 'upcoming-title' }, 'Next start times'),
        upcomingNote, upcoming),
      h('section', { 'aria-labelledby': 'runs-title' }, h('h2', { id: 'runs-title' }, 'Runs'),
        h('p', { class: 'hint' }, 'Newest first; times in UTC; refreshed every few seconds.'),
        h('div', { class: 'scroll' }, runs.table), noRuns, olderRuns),
      h('section', { 'aria-labelledby': 'fields-title' }, h('h2', { id: 'fields-title' }, 'Details'), fields));
    try {
      await refresh();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        main.replaceChildren(h('h1', {}, 'Job not found'), h('p', {}, error.message), h('a', { href: '#/' }, 'All jobs'));
        return;
      }
      throw error;
    }
    keepRefreshing(refresh);
  }

  function confirmAction(text) {
    const dialog = document.getElementById('confirm-dialog');
    setText(document.getElementById('confirm-text'), text);
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    });
  }

  // --- create and edit ---------------------------------------------------------------------

  // kind: text | textarea | int | json | select. Advanced fields are sent only when filled.
  const FORM_FIELDS = [
    { name: 'name', label: 'Name', kind: 'text', required: true, hint: '1–128 printable ASCII characters, unique.' },
    { name: 'description', label: 'Description', kind: 'textarea', nullable: true },
    { name: 'agentId', label: 'Agent id', kind: 'text', required: true, hint: 'The UUID of the agent that runs the job.' },
    { name: 'schedule', label: 'Schedule', kind: 'text', timing: 'schedule',
      hint: 'Cron (5 fields, or @daily…) in the timezone, or an ISO-8601 date-time for one run.' },
    { name: 'interval', label: 'Interval (ms)', kind: 'int', timing: 'interval', hint: 'Milliseconds between runs.' },
    { name: 'timezone', label: 'Timezone', kind: 'text', initial: 'UTC', hint: 'IANA name, e.g. Europe/Paris.' },
    { name: 'payload', label: 'Payload (JSON object)', kind: 'json', required: true, initial: '{}' },
    { name: 'retryPolicy', label: 'Retry policy (JSON)', kind: 'json', advanced: true, nullable: true,
      hint: 'e.g. {"maxAttempts": 3, "initialDelayMs": 1000}' },
    { name: 'timeoutMs', label: 'Timeout (ms)', kind: 'int', advanced: true },
    { name: 'heartbeatTimeoutMs', label: 'Heartbeat timeout (ms)', kind: 'int', advanced: true, nullable: true },
    { name: 'overlap', label: 'Overlap', kind: 'select', advanced: true, choices: ['', 'skip', 'queue', 'allow'] },
    { name: 'maxConsecutiveFailures', label: 'Pause after this many failures in a row', kind: 'int', advanced: true, nullable: true },
    { name: 'startAt', label: 'Start at (ISO date-time)', kind: 'text', advanced: true, nullable: true },
    { name: 'endAt', label: 'End at (ISO date-time)', kind: 'text', advanced: true, nullable: true },
    { name: 'maxRuns', label: 'Max runs', kind: 'int', advanced: true, nullable: true },
    { name: 'catchupWindowMs', label: 'Catch-up window (ms)', kind: 'int', advanced: true, nullable: true },
    { name: 'budget', label: 'Budget (JSON)', kind: 'json', advanced: true, nullable: true,
      hint: 'e.g. {"maxCostUsdPerDay": 5, "maxTokensPerDay": 100000}' },
  ];

  function control(field) {
    const id = `f-${field.name}`;
    const describedBy = [field.hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
    const attrs = { id, name: field.name, 'aria-describedby': describedBy, required: field.required };
    let input;
    if (field.kind === 'textarea' || field.kind === 'json') {
      input = h('textarea', { ...attrs, rows: field.kind === 'json' ? 4 : 2, spellcheck: 'false' });
    } else if (field.kind === 'select') {
      input = h('select', attrs, field.choices.map((c) => h('option', { value: c }, c || '(default)')));
    } else {
      input = h('input', { ...attrs, type: 'text', inputmode: field.kind === 'int' ? 'numeric' : null,
        spellcheck: 'false', autocomplete: 'off' });
    }
    const error = h('p', { id: `${id}-error`, class: 'field-error', hidden: true });
    const wrapper = h('div', { class: 'field', 'data-field': field.name },
      h('label', { for: id }, field.label), input,
      field.hint ? h('p', { id: `${id}-hint`, class: 'hint' }, field.hint) : null, error);
    return { field, input, error, wrapper };
  }

  function valueOf(job, field) {
    const value = job ? job[field.name] : undefined;
    if (value === undefined || value === null) return field.initial || '';
    return field.kind === 'json' ? JSON.stringify(value, null, 2) : String(value);
  }

  /** The form's value of a field for the API; bad JSON throws (reported beside the field). */
  function read(ctl) {
    const raw = ctl.input.value.trim();
    const { field } = ctl;
    if (raw === '') return field.nullable ? null : undefined;
    if (field.kind === 'int') return /^-?\d+$/.test(raw) ? Number(raw) : raw; // the API names a non-integer
    if (field.kind === 'json') {
      try { return JSON.parse(raw); } catch (error) { throw Object.assign(new Error(`${field.name}: is not valid JSON (${error.message})`), { field: field.name }); }
    }
    return raw;
  }

  async function showEdit(id) {
    const answer = await api('GET', jobPath(id));
    await showForm(answer.data);
  }

  async function showForm(job) {
    const editing = Boolean(job);
    mount(editing ? `Edit ${job.name}` : 'New job');
    const controls = new Map(FORM_FIELDS.map((f) => [f.name, control(f)]));
    controls.forEach((ctl) => { ctl.input.value = valueOf(job, ctl.field); });
    const kind = editing && job.interval !== null ? 'interval' : 'schedule';
    const radios = ['schedule', 'interval'].map((value) => h('label', { class: 'inline' },
      h('input', { type: 'radio', name: 'timing', value, id: `timing-${value}`, checked: value === kind }),
      value === 'schedule' ? ' Cron or date' : ' Interval'));
    const timing = h('fieldset', { class: 'timing' }, h('legend', {}, 'Timing'), radios);
    const summary = h('div', { id: 'form-error', class: 'form-error', role: 'alert', hidden: true });
    const preview = h('ol', { id: 'preview-list', class: 'upcoming' });
    const previewError = h('p', { id: 'preview-error', class: 'field-error', hidden: true });
    const previewBox = h('section', { class: 'preview', 'aria-labelledby': 'preview-title', 'aria-live': 'polite' },
      h('h2', { id: 'preview-title' }, 'Next start times'), previewError, preview);
    const submit = h('button', { type: 'submit', id: 'save-job' }, editing ? 'Save changes' : 'Create job');
    const advanced = h('details', { class: 'advanced', open: editing && FORM_FIELDS.some((f) => f.advanced && job[f.name] !== undefined && job[f.name] !== null) },
      h('summary', {}, 'Long runs and guard rails'),
      FORM_FIELDS.filter((f) => f.advanced).map((f) => controls.get(f.name).wrapper));
    const base = FORM_FIELDS.filter((f) => !f.advanced && !f.timing).map((f) => controls.get(f.name).wrapper);
    const form = h('form', { id: 'job-form', novalidate: true, class: 'job-form' },
      summary, base.slice(0, 3), timing, controls.get('schedule').wrapper, controls.get('interval').wrapper,
      base.slice(3), previewBox, advanced,
      h('div', { class: 'buttons' }, submit,
        h('a', { class: 'button secondary', href: editing ? `#/jobs/${encodeURIComponent(job.id)}` : '#/' }, 'Cancel')));
    main.append(form);

    const chosen = () => form.querySelector('input[name="timing"]:checked').value;
    const showTiming = () => {
      controls.get('schedule').wrapper.hidden = chosen() !== 'schedule';
      controls.get('interval').wrapper.hidden = chosen() !== 'interval';
    };
    showTiming();

    const clearErrors = () => {
      summary.hidden = true;
      controls.forEach((ctl) => { ctl.error.hidden = true; setText(ctl.error, ''); ctl.input.removeAttribute('aria-invalid'); });
    };
    const showError = (message, fieldName) => {
      const name = fieldName || String(message).split(':')[0].split('.')[0].trim();
      const ctl = controls.get(name);
      summary.replaceChildren(h('p', {}, ctl ? `The API refused the job: ${ctl.field.label}.` : 'The API refused the job.'),
        h('p', { class: 'message' }, message));
      summary.hidden = false;
      if (!ctl) { summary.setAttribute('tabindex', '-1'); summary.focus(); return; }
      if (ctl.wrapper.closest('details')) ctl.wrapper.closest('details').open = true;
      setText(ctl.error, message);
      ctl.error.hidden = false;
      ctl.input.setAttribute('aria-invalid', 'true');
      ctl.input.focus();
    };

    let previewTimer = null;
    let previewSeq = 0;
    const updatePreview = () => {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(async () => {
        const seq = ++previewSeq;
        const body = { timezone: controls.get('timezone').input.value.trim() || 'UTC', count: 5 };
        try {
          const value = read(controls.get(chosen()));
          if (value === undefined || value === null) { preview.replaceChildren(); previewError.hidden = true; return; }
          body[chosen()] = value;
          const times = (await api('POST', '/schedules/preview', body)).data.next;
          if (seq !== previewSeq) return;
          previewError.hidden = true;
          preview.replaceChildren(...(times.length ? times : ['none']).map((t) => h('li', {}, t === 'none' ? t : `${fmtTime(t)} (${fmtRelative(t)})`)));
        } catch (error) {
          if (seq !== previewSeq) return;
          setText(previewError, error.message);
          previewError.hidden = false;
          preview.replaceChildren();
        }
      }, PREVIEW_DELAY_MS);
    };
    ['schedule', 'interval', 'timezone'].forEach((n) => controls.get(n).input.addEventListener('input', updatePreview));
    radios.forEach((label) => label.firstElementChild.addEventListener('change', () => { showTiming(); updatePreview(); }));
    updatePreview();

    const bodyOf = () => {
      const body = {};
      for (const ctl of controls.values()) {
        const { field } = ctl;
        if (field.timing && field.timing !== chosen()) continue;
        const value = read(ctl);
        if (editing) {
          const before = job[field.name] === undefined ? undefined : job[field.name];
          const changed = JSON.stringify(value === undefined ? null : value) !== JSON.stringify(before === undefined ? null : before);
          if (changed && !(before === undefined && (value === null || value === undefined))) body[field.name] = value === undefined ? null : value;
        } else if (value !== undefined && value !== null) {
          body[field.name] = value;
        }
      }
      if (!editing && body[chosen()] === undefined) body[chosen()] = null; // the API names the missing field
      return body;
    };

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      let body;
      try { body = bodyOf(); } catch (error) { showError(error.message, error.field); return; }
      submit.disabled = true;
      try {
        const saved = editing
          ? (Object.keys(body).length ? (await api('PATCH', jobPath(job.id), body)).data : job)
          : (await api('POST', '/jobs', body)).data;
        say(editing ? `Job ${saved.name} saved.` : `Job ${saved.name} created.`);
        location.hash = `#/jobs/${encodeURIComponent(saved.id)}`;
      } catch (error) {
        if (error instanceof ApiError) showError(error.message);
        else report(error);
      } finally {
        submit.disabled = false;
      }
    });
  }

  // --- start ---------------------------------------------------------------------------------

  document.getElementById('forget-token').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showForget();
    say('Token forgotten for this tab.');
  });
  window.addEventListener('hashchange', () => {
    if (Date.now() - saidAt > 1000) say(''); // keep what the action that moved here just said
    route();
  });
  showForget();
  route();
})();
