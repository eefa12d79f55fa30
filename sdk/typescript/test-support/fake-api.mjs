// A scriptable stand-in for the agentOS Jobs API on 127.0.0.1, for the kit's own tests: it records
// every request and answers PUT by-name, heartbeat, complete and a few client routes.
import http from 'node:http';

/** Start a fake API; `script` lets a test make the next reports fail (503s, a 409). */
export async function fakeApi({ port = 0 } = {}) {
  const api = { requests: [], completes: [], heartbeats: [], failReports: [], failDeclares: [], cancel: false, jobs: new Map() };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c)).on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? JSON.parse(text) : undefined;
      const record = { method: req.method, url: req.url, headers: req.headers, body };
      api.requests.push(record);
      const [status, data, headers] = route(api, record);
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(data === undefined ? '' : JSON.stringify(data));
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  api.server = server;
  api.port = server.address().port;
  api.base = `http://127.0.0.1:${api.port}/api`;
  api.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
  return api;
}

function route(api, { method, url, body }) {
  const path = new URL(url, 'http://x').pathname;
  let m;
  if (method === 'PUT' && (m = path.match(/^\/api\/jobs\/by-name\/(.+)$/))) {
    const failure = api.failDeclares.shift();
    if (failure) return [failure, { Code: 'Scripted', Message: `scripted ${failure}` }];
    const name = decodeURIComponent(m[1]);
    const known = api.jobs.get(name);
    const job = { id: known?.id ?? `job-${api.jobs.size + 1}`, ...body, name, nextRunAt: '2030-01-01T00:00:00.000Z' };
    api.jobs.set(name, job);
    return [known ? 200 : 201, job];
  }
  if (method === 'POST' && (m = path.match(/^\/api\/runs\/([^/]+)\/(heartbeat|complete)$/))) {
    const failure = api.failReports.shift();
    if (failure) return [failure, { Code: 'Unavailable', Message: `scripted ${failure}` }];
    if (m[2] === 'heartbeat') {
      api.heartbeats.push(body);
      return [200, { id: m[1], status: 'running', cancelRequested: api.cancel, progress: body.progress ?? null }];
    }
    api.completes.push(body);
    return [200, { id: m[1], status: body.status, output: body.output ?? null }];
  }
  if (method === 'GET' && path === '/api/jobs') {
    const cursor = new URL(url, 'http://x').searchParams.get('cursor');
    return cursor ? [200, [{ id: 'job-2' }]] : [200, [{ id: 'job-1' }], { Link: '</api/jobs?limit=1&cursor=abc>; rel="next"' }];
  }
  if (method === 'POST' && (m = path.match(/^\/api\/jobs\/([^/]+)\/run$/))) return [202, { id: 'run-9', jobId: m[1], payload: body?.payload }];
  if (method === 'POST' && (m = path.match(/^\/api\/runs\/([^/]+)\/replay$/))) return [202, { id: 'run-10', replayOf: m[1] }];
  return [404, { Code: 'NotFoundError', Message: `no route ${method} ${path}` }];
}
