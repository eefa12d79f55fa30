// agentOS Jobs console: plain JavaScript ES modules, no build step, no dependency.
// This module starts the page: it finds the API, routes the URL's #fragment to a view, and keeps
// the header (its links, the time toggle, the token button) up to date.
// Every piece of API data reaches the page through textContent or an attribute set by
// setAttribute, never as markup (dom.js): a job named <img src=x onerror=…> stays text.
// The views refresh by themselves by updating the DOM in place (rows keyed by id), so a
// refresh neither flickers nor steals the keyboard focus.
import { forgetToken, routeAnswers, setApiBase, showForget } from './api.js';
import { clearStaleNotice, say, setAttr, setText } from './dom.js';
import { showAgent, showAgents } from './agents.js';
import { showEdit, showForm } from './form.js';
import { showInbox } from './inbox.js';
import { showJob } from './job.js';
import { showList } from './jobs.js';
import { showRun, showRuns } from './runs.js';
import { onTimeMode, setTimeMode, timeMode } from './time.js';
import {
  keepFocusOnce, main, newRoute, report,
} from './view.js';

// The API sits beside the console under the same prefix (API Gateway's stage, if any).
const SCRIPT_URL = new URL(import.meta.url);
setApiBase(SCRIPT_URL.pathname.replace(/\/console\/app\.js$/, '') + '/api');

function parseRoute() {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path, search] = hash.split('?');
  const params = new URLSearchParams(search || '');
  const id = (match) => decodeURIComponent(match[1]);
  let match;
  // a form is not drawn again when the time toggle changes (what was typed would be lost)
  if (path === '/new') return { view: showForm, args: [null], nav: 'nav-new', form: true };
  if ((match = /^\/jobs\/([^/]+)\/edit$/.exec(path))) return { view: showEdit, args: [id(match)], nav: 'nav-jobs', form: true };
  if ((match = /^\/jobs\/([^/]+)$/.exec(path))) return { view: showJob, args: [id(match)], nav: 'nav-jobs' };
  if ((match = /^\/runs\/([^/]+)$/.exec(path))) return { view: showRun, args: [id(match)], nav: 'nav-runs' };
  if (path === '/runs') return { view: showRuns, args: [params], nav: 'nav-runs' };
  if ((match = /^\/agents\/([^/]+)$/.exec(path))) return { view: showAgent, args: [id(match)], nav: 'nav-agents' };
  if (path === '/agents') return { view: showAgents, args: [], nav: 'nav-agents' };
  if (path === '/inbox') return { view: showInbox, args: [], nav: 'nav-inbox' };
  return { view: showList, args: [params], nav: 'nav-jobs' };
}

function route() {
  newRoute();
  const { view, args, nav } = parseRoute();
  document.querySelectorAll('.top nav a').forEach((a) => setAttr(a, 'aria-current', a.id === nav ? 'page' : null));
  main.replaceChildren();
  view(...args).catch(report);
}

// The time toggle: every time on the page in UTC or in the browser's local time (remembered).
const timeButton = document.getElementById('time-toggle');
function showTimeMode() {
  const local = timeMode() === 'local';
  setText(timeButton, local ? 'Times: local' : 'Times: UTC');
  setAttr(timeButton, 'aria-pressed', local ? 'true' : 'false');
  setAttr(timeButton, 'title', local ? 'Times are in this browser\'s time zone; show them in UTC'
    : 'Times are in UTC; show them in this browser\'s time zone');
}
timeButton.addEventListener('click', () => setTimeMode(timeMode() === 'local' ? 'utc' : 'local'));
onTimeMode(() => {
  showTimeMode();
  if (parseRoute().form) return; // its preview shows the new times at the next change
  keepFocusOnce(); // the view is drawn again with the new times; the focus stays on the toggle
  route();
});
showTimeMode();

// Pages whose route not every API has: their links appear once the route answers.
routeAnswers('/runs?limit=1').then((yes) => { document.getElementById('nav-runs').hidden = !yes; });
routeAnswers('/inbox').then((yes) => { document.getElementById('nav-inbox').hidden = !yes; });

document.getElementById('forget-token').addEventListener('click', () => {
  forgetToken();
  say('Token forgotten for this tab.');
});
window.addEventListener('hashchange', () => {
  clearStaleNotice(); // keep what the action that moved here just said
  route();
});
showForget();
route();
