// Agents (#/agents, #/agents/{id}): GET /api/agents, contract section 13: limits, live slots
// and queue, usage today, quota, jobs. The API never gives an agent's URL path or secret; the
// console shows only what it gives (urlHost: host and port).
import {
  ApiError, agentHref, api, query, routeAnswers,
} from './api.js';
import {
  fieldList, h, keyedTable, linkCell, setText,
} from './dom.js';
import {
  fmtBudget, fmtQuota, fmtUsageToday,
} from './format.js';
import { jobColumns } from './jobs.js';
import {
  keepRefreshing, main, mount, notFound, pager,
} from './view.js';

const slots = (a) => (a.maxConcurrent === null || a.maxConcurrent === undefined
  ? `${a.running} running (no limit)` : `${a.running} of ${a.maxConcurrent} running`);

const AGENT_FIELDS = [
  ['id', 'Id', (a) => a.id], ['configured', 'Configured', (a) => (a.configured ? 'yes' : 'no (only jobs name it)')],
  ['urlHost', 'Delivered to', (a) => a.urlHost || 'no URL (in-process actions, or the local inbox)'],
  ['maxConcurrent', 'Slots', slots], ['queued', 'Waiting for a slot', (a) => a.queued],
  ['budget', 'Budget', (a) => fmtBudget(a.budget)], ['usageToday', 'Used today (UTC)', (a) => fmtUsageToday(a.usageToday)],
  ['quota', 'Quota', (a) => fmtQuota(a.quota)], ['jobs', 'Jobs', (a) => a.jobs],
];

export async function showAgents() {
  const grid = keyedTable('Agents', [
    { label: 'Agent', cls: 'mono', fill: (td, a) => linkCell(td, a.id, agentHref(a.id)) },
    { label: 'Configured', fill: (td, a) => setText(td, a.configured ? 'yes' : 'no') },
    { label: 'Host', cls: 'mono', fill: (td, a) => setText(td, a.urlHost || '—') },
    { label: 'Slots', fill: (td, a) => setText(td, slots(a)) },
    { label: 'Queued', fill: (td, a) => setText(td, a.queued) },
    { label: 'Budget', fill: (td, a) => setText(td, fmtBudget(a.budget)) },
    { label: 'Used today', fill: (td, a) => setText(td, fmtUsageToday(a.usageToday)) },
    { label: 'Quota', cls: 'wrap', fill: (td, a) => setText(td, fmtQuota(a.quota)) },
    { label: 'Jobs', fill: (td, a) => linkCell(td, String(a.jobs), `#/${query({ agentId: a.id })}`) },
  ], { id: 'agents-table' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No agent is configured and no job names one.');
  mount('Agents', h('p', { class: 'hint' },
    'Every configured agent and every agent that has jobs: limits, what runs now, usage today. '
    + 'Refreshed every few seconds.'), h('div', { class: 'scroll' }, grid.table), empty);
  const load = async () => {
    const answer = await api('GET', '/agents');
    grid.sync(answer.data, (a) => a.id);
    empty.hidden = answer.data.length > 0;
  };
  await load();
  keepRefreshing(load);
}

export async function showAgent(id) {
  const title = mount(`Agent ${id}`);
  const fields = fieldList();
  const jobs = keyedTable('Jobs of this agent', jobColumns(), { id: 'agent-jobs-table' });
  const empty = h('p', { class: 'empty', hidden: true }, 'This agent has no job.');
  const runsLink = h('p', { hidden: true }, h('a', { href: `#/runs${query({ agentId: id })}`, id: 'agent-runs' },
    'Runs of this agent'));
  const pages = pager('Pages of jobs', async (cursor) => {
    const answer = await api('GET', `/jobs${query({ agentId: id, limit: '50', cursor })}`);
    jobs.sync(answer.data, (j) => j.id);
    empty.hidden = answer.data.length > 0;
    return answer.link;
  });
  main.append(h('section', { 'aria-labelledby': 'agent-fields-title' },
    h('h2', { id: 'agent-fields-title' }, 'Limits and usage'), fields.dl),
  h('section', { 'aria-labelledby': 'agent-jobs-title' }, h('h2', { id: 'agent-jobs-title' }, 'Jobs'),
    runsLink, h('div', { class: 'scroll' }, jobs.table), empty, pages.nav));
  const load = async () => {
    const agent = (await api('GET', `/agents/${encodeURIComponent(id)}`)).data;
    setText(title, `Agent ${agent.id}`);
    for (const [key, label, show] of AGENT_FIELDS) setText(fields.cell(key, label), show(agent));
    await pages.reload();
  };
  try {
    await load();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) { notFound('Agent not found', error, '#/agents', 'All agents'); return; }
    throw error;
  }
  routeAnswers('/runs?limit=1').then((yes) => { runsLink.hidden = !yes; });
  keepRefreshing(load);
}
