// The console talks to /api/v1 only, with the token in the Authorization
// header. The token lives in sessionStorage: this tab only, gone when it
// closes, never in a cookie (so no request is authorized by the browser
// on its own, and there is nothing for a cross-site request to ride on)
// and never in a URL.

const KEY = 'switchyard.console.token';
const BASE = '/api/v1';

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

let unauthorized = () => {};
// onUnauthorized sets what a 401 does (back to the sign-in form).
export function onUnauthorized(f) { unauthorized = f; }

// ApiError carries an RFC 9457 problem document.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && (problem.detail || problem.title) ? (problem.detail || problem.title) : `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// seg encodes one path segment (an account: "+" stays a plus sign).
export function seg(s) { return encodeURIComponent(s); }

// qs builds a query string; a space is %20, never "+", which the server
// reads as a plus sign.
export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

// Requests keep fetch()'s default credentials mode: there is no cookie to
// send, and "omit" would put them in a second pool of connections
// (Chromium keeps up to 6 per pool), beyond the admin listener's 8 per
// client address.
function headers(extra) {
  return { Authorization: `Bearer ${token()}`, ...extra };
}

// api('GET', '/stats') returns the decoded JSON answer (or the text of a
// text answer) and throws ApiError on a non-2xx status.
export async function api(method, path, opts = {}) {
  const init = { method, headers: headers(opts.headers), signal: opts.signal, cache: 'no-store' };
  if (opts.json !== undefined) {
    init.body = JSON.stringify(opts.json);
    init.headers['Content-Type'] = 'application/json';
  } else if (opts.body !== undefined) {
    init.body = opts.body;
    if (opts.contentType) init.headers['Content-Type'] = opts.contentType;
  }
  const resp = await fetch(BASE + path + qs(opts.query), init);
  const ct = resp.headers.get('Content-Type') || '';
  let body;
  if (ct.includes('json')) {
    body = await resp.json().catch(() => null);
  } else {
    body = await resp.text();
  }
  if (resp.status === 401 && !opts.noSignout) unauthorized(body && body.detail);
  if (!resp.ok) throw new ApiError(resp.status, typeof body === 'object' ? body : { detail: body });
  return body;
}

export const get = (path, query, signal) => api('GET', path, { query, signal });

// stream reads /api/v1/events/stream with fetch() (EventSource cannot send
// the Authorization header) and calls onEvent(event) for each event. It
// resolves when the stream ends (the server went away, or signal aborted)
// and throws ApiError for a refused request.
export async function stream(query, onEvent, signal, onOpen) {
  const resp = await fetch(`${BASE}/events/stream${qs(query)}`, {
    headers: headers({ Accept: 'text/event-stream' }), signal, cache: 'no-store',
  });
  if (!resp.ok) {
    const body = await resp.json().catch(() => null);
    if (resp.status === 401) unauthorized(body && body.detail);
    throw new ApiError(resp.status, body);
  }
  if (onOpen) onOpen();
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (data.length) {
          try { onEvent(JSON.parse(data.join('\n'))); } catch (e) { /* a malformed event is skipped */ }
        }
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
      // id:, event: and comments: the JSON carries seq and kind.
    }
  }
}

// errorText says what went wrong in a sentence for the notice area.
export function errorText(e) {
  if (e instanceof ApiError) {
    const p = e.problem || {};
    let s = `${e.status} ${p.title || ''}: ${p.detail || e.message}`;
    if (p.parameter) s += ` (${p.parameter})`;
    if (p.line) s += ` (line ${p.line})`;
    return s;
  }
  return String(e && e.message ? e.message : e);
}
