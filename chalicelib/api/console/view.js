// What every view shares: its mount point, the refresh loop, error reports, and a pager.
import { ApiError, nextCursor } from './api.js';
import { h, say } from './dom.js';

export const main = document.getElementById('main');
export const REFRESH_MS = 3000;
let routeId = 0;
let timer = null;
let keepFocus = false;

/** The next view drawn leaves the keyboard focus where it is (a redraw, not a navigation). */
export function keepFocusOnce() { keepFocus = true; }

/** A new view starts: the previous one's refresh loop ends. */
export function newRoute() {
  routeId += 1;
  if (timer) clearTimeout(timer);
  timer = null;
}

export function report(error) {
  say(error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : `Cannot reach the API: ${error.message}`,
    true);
}

/** Run ``refresh`` every REFRESH_MS while this route is shown (and the tab visible). */
export function keepRefreshing(refresh) {
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

export function mount(title, ...children) {
  const heading = h('h1', { tabindex: '-1' }, title);
  main.replaceChildren(heading, ...children);
  document.title = `${title} · agentOS Jobs`;
  if (!keepFocus) heading.focus({ preventScroll: true });
  keepFocus = false;
  return heading;
}

/** Previous/next page buttons over a list paged with Link headers.
 *  ``load(cursor)`` fetches one page and returns its Link header. */
export function pager(label, load) {
  const pages = [null]; // cursors of the pages seen, for "previous page"
  const previous = h('button', { type: 'button', disabled: true }, 'Previous page');
  const next = h('button', { type: 'button', disabled: true }, 'Next page');
  const nav = h('nav', { class: 'pager', 'aria-label': label }, previous, next);
  let following = null;
  const reload = async () => {
    const link = await load(pages[pages.length - 1]);
    following = nextCursor(link);
    next.disabled = !following;
    previous.disabled = pages.length < 2;
  };
  next.addEventListener('click', () => { if (following) { pages.push(following); reload().catch(report); } });
  previous.addEventListener('click', () => { if (pages.length > 1) { pages.pop(); reload().catch(report); } });
  return { nav, reload };
}

/** A "not found" page (an unknown id). */
export function notFound(title, error, back, backText) {
  main.replaceChildren(h('h1', {}, title), h('p', {}, error.message), h('a', { href: back }, backText));
}
