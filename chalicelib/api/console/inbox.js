// The local stack's inbox (#/inbox): what `make run`'s inbox agent received (GET /api/inbox,
// newest first), i.e. the deliveries of jobs whose agent has no URL and no in-process action.
// The route exists only under `make run`; elsewhere the page says so and the header hides its link.
import {
  api, jobHref, routeAnswers, runHref,
} from './api.js';
import {
  codeCell, h, keyedTable, linkCell, setText,
} from './dom.js';
import { fmtJson, timeCell } from './format.js';
import { zoneName } from './time.js';
import { keepRefreshing, main, mount } from './view.js';

export async function showInbox() {
  mount('Inbox');
  if (!(await routeAnswers('/inbox'))) {
    main.append(h('p', { class: 'empty', id: 'inbox-missing' },
      'This API has no local inbox: it exists only in the local stack (make run).'));
    return;
  }
  const grid = keyedTable('Deliveries received, newest first', [
    { label: 'Job', fill: (td, d) => linkCell(td, d.jobName || d.jobId, jobHref(d.jobId)) },
    { label: 'Run', cls: 'mono', fill: (td, d) => linkCell(td, d.runId, runHref(d.runId)) },
    { label: 'Agent', cls: 'mono', fill: (td, d) => setText(td, d.agentId) },
    { label: 'Scheduled', cls: 'time', fill: (td, d) => timeCell(td, d.scheduledAt) },
    { label: 'Attempt', fill: (td, d) => setText(td, d.attempt) },
    { label: 'Trigger', fill: (td, d) => setText(td, d.trigger) },
    { label: 'Payload', cls: 'wrap json', fill: (td, d) => codeCell(td, d.payload, fmtJson) },
  ], { id: 'inbox-table' });
  const hint = h('p', { class: 'hint' });
  const empty = h('p', { class: 'empty', hidden: true },
    'Nothing received yet. A job whose agent id has no URL in agentos.config.json is delivered here.');
  main.append(hint, h('div', { class: 'scroll' }, grid.table), empty);
  const load = async () => {
    const answer = await api('GET', '/inbox');
    const items = Array.isArray(answer.data) ? answer.data : [];
    setText(hint, `Deliveries that make run's local inbox agent received, newest first; times in ${zoneName()}. `
      + 'Point an agent id at a real agent with agents.<id>.url in agentos.config.json.');
    grid.sync(items, (d) => `${d.runId}|${d.attempt}`);
    empty.hidden = items.length > 0;
  };
  await load();
  keepRefreshing(load);
}
