// The public API, as the console calls it. The token is kept for this tab only
// (sessionStorage) and sent only to this API; the page asks for one when the API answers 401.
import { setText } from './dom.js';

export const TOKEN_KEY = 'agentos.console.token';
let base = '/api';

/** Where the API is (set once by app.js, from the script's own URL). */
export function setApiBase(url) { base = url; }

export class ApiError extends Error {
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

export function showForget() {
  document.getElementById('forget-token').hidden = !sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  showForget();
}

/** One API call; asks for a token on 401 and tries again. Resolves {data, link, status}.
 *  X-AgentOS-Client names the console: jobs it creates have origin.via "console". */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json', 'X-AgentOS-Client': 'console' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(base + path, {
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

/** True when an error says the route itself is missing on this API (an older server, or a
 *  route only the local stack has): 404/405, or API Gateway's 403 for an unknown path. */
export function routeMissing(error) {
  return error instanceof ApiError && [403, 404, 405].includes(error.status);
}

const probes = new Map();

/** Whether GET ``path`` answers 200 on this API (asked once per page load). */
export function routeAnswers(path) {
  if (!probes.has(path)) {
    probes.set(path, api('GET', path).then(() => true, (error) => {
      if (!routeMissing(error)) probes.delete(path); // a passing failure: ask again next time
      return false;
    }));
  }
  return probes.get(path);
}

const jobNames = new Map();

/** A job's name (asked once per page load; the id itself when the job is gone or unreadable). */
export function jobName(id) {
  if (!jobNames.has(id)) {
    jobNames.set(id, api('GET', jobPath(id)).then((answer) => answer.data.name, () => id));
  }
  return jobNames.get(id);
}

/** The cursor of a `Link: <…?cursor=…>; rel="next"` header, or null. */
export function nextCursor(link) {
  const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(link || '');
  return match ? new URL(match[1], location.href).searchParams.get('cursor') : null;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function jobPath(id) { return `/jobs/${encodeURIComponent(id)}`; }
export function runPath(id) { return `/runs/${encodeURIComponent(id)}`; }
export function jobHref(id) { return `#/jobs/${encodeURIComponent(id)}`; }
export function runHref(id) { return `#/runs/${encodeURIComponent(id)}`; }
export function agentHref(id) { return `#/agents/${encodeURIComponent(id)}`; }
