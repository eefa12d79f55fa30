// The jobs list (#/), with the API's own filters and paging.
import { agentHref, api, jobHref, query } from './api.js';
import { badge, h, keyedTable, linkCell, setText } from './dom.js';
import { fmtTiming, fmtWhyNot } from './format.js';
import { fmtRelative, fmtTime } from './time.js';
import { keepRefreshing, mount, pager } from './view.js';

const JOB_STATUSES = ['active', 'paused', 'completed', 'failed'];

/** The jobs table's columns (the agent page lists its jobs with them too). */
export function jobColumns() {
  return [
    { label: 'Name', fill: (td, j) => linkCell(td, j.name, jobHref(j.id)) },
    { label: 'Agent', cls: 'mono', fill: (td, j) => linkCell(td, j.agentId, agentHref(j.agentId)) },
    { label: 'Schedule', cls: 'mono', fill: (td, j) => setText(td, fmtTiming(j)) },
    { label: 'Status', fill: (td, j) => badge(td, j.status) },
    { label: 'Next run', fill: (td, j) => setText(td, j.nextRunAt ? `${fmtTime(j.nextRunAt)} (${fmtRelative(j.nextRunAt)})` : '—') },
    { label: 'Last run', fill: (td, j) => badge(td, j.lastRunStatus) },
    // pausedReason, and the job's blocked reason (contract section 13) beside it
    { label: 'Paused or blocked', cls: 'wrap', fill: (td, j) => setText(td, fmtWhyNot(j)) },
  ];
}

export async function showList(params) {
  const filters = { status: params.get('status') || '', agentId: params.get('agentId') || '' };
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
  const grid = keyedTable('Jobs', jobColumns(), { id: 'jobs-table' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No job matches.');
  const pages = pager('Pages', async (cursor) => {
    const answer = await api('GET', `/jobs${query({ ...filters, limit: '50', cursor })}`);
    grid.sync(answer.data, (j) => j.id);
    empty.hidden = answer.data.length > 0;
    return answer.link;
  });
  mount('Jobs', form, h('div', { class: 'scroll' }, grid.table), empty, pages.nav);
  await pages.reload();
  keepRefreshing(pages.reload);
}
