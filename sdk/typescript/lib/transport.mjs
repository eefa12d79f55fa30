// One JSON request to the API with fetch: errors become AgentOSError; redirects are never followed,
// so a bearer token only ever goes to the URL it was given for.
import { AgentOSError, AttemptEnded, ConnectionFailed } from './errors.mjs';

export const USER_AGENT = 'agentos-agent-node/1.1';
export const CLIENT_HEADER = 'X-AgentOS-Client'; // the server marks jobs declared through a kit origin.via "kit"

/** The headers every kit call sends, with Authorization when there is a token. */
export function baseHeaders(token) {
  const headers = { Accept: 'application/json', 'User-Agent': USER_AGENT, [CLIENT_HEADER]: 'kit' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

function parse(text) {
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

function refusal(response, data, url) {
  const code = data?.Code ?? 'HTTPError';
  const message = data?.Message ?? response.statusText;
  const isReport = /\/(heartbeat|complete)\/?$/.test(new URL(url).pathname);
  return response.status === 409 && isReport ? new AttemptEnded(code, message)
    : new AgentOSError(response.status, code, message);
}

/**
 * Send one request (body as JSON when defined); resolves {status, headers, data} for a 2xx,
 * rejects with AgentOSError (AttemptEnded for a 409 to a report) or ConnectionFailed.
 */
export async function send(method, url, { body, headers = {}, timeoutMs = 10000 } = {}) {
  const all = { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  const json = body === undefined ? undefined : JSON.stringify(body); // a cycle throws here, not retried
  let response;
  let text;
  try {
    response = await fetch(url, { method, headers: all, body: json,
      signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    text = await response.text();
  } catch (error) {
    throw new ConnectionFailed(`${method} ${url}: ${error.cause?.code ?? error.cause?.message ?? error.message}`);
  }
  const data = parse(text);
  if (!response.ok) throw refusal(response, data, url);
  return { status: response.status, headers: response.headers, data };
}
