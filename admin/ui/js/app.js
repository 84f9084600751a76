// The console's shell: sign-in, navigation, and one page at a time.
// Pages are addressed by the URL's fragment (#/sessions?account=x), so
// the server serves one document and a reload keeps the page.

import { api, token, setToken, clearToken, onUnauthorized, errorText } from './api.js';
import { h, clear, notify, clearNotice } from './dom.js';
import overview from './pages/overview.js';
import migration from './pages/migration.js';
import account from './pages/account.js';
import sessions from './pages/sessions.js';
import destinations from './pages/destinations.js';
import events from './pages/events.js';
import config from './pages/config.js';

const pages = { overview, migration, account, sessions, destinations, events, config };

const state = { role: '', instance: '', page: null, abort: null };

const $ = (id) => document.getElementById(id);

// parseHash reads "#/page/arg?k=v" into its parts.
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart] = raw.split('?');
  const [name, ...rest] = pathPart.split('/');
  const query = {};
  for (const kv of (queryPart || '').split('&')) {
    if (!kv) continue;
    const [k, v] = kv.split('=');
    try { query[decodeURIComponent(k)] = decodeURIComponent(v || ''); } catch (e) { /* ignore a bad escape */ }
  }
  let arg = rest.join('/');
  try { arg = decodeURIComponent(arg); } catch (e) { /* keep it raw */ }
  return { name: pages[name] ? name : 'overview', arg, query };
}

// go navigates to a page ("sessions", {account: "x"}).
export function go(name, arg, query) {
  let hash = `#/${name}`;
  if (arg) hash += `/${encodeURIComponent(arg)}`;
  const q = Object.entries(query || {}).filter(([, v]) => v !== '' && v !== undefined && v !== null);
  if (q.length) hash += `?${q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
  if (location.hash === hash) route(); else location.hash = hash;
}

// route draws the page the fragment names. After sign-in and on each
// navigation the focus moves to the page's heading, as a page load would
// put a screen reader at its top; on a reload it stays at the document's
// start, so that the first Tab reaches the skip link.
function route(keepFocus) {
  if (!state.role) return;
  if (state.abort) state.abort.abort();
  const { name, arg, query } = parseHash();
  const page = pages[name];
  state.abort = new AbortController();
  const root = clear($('page'));
  clearNotice();
  document.body.dataset.page = name;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const heading = h('h1', { tabindex: -1 }, page.title);
  root.append(heading);
  document.title = `${page.title} · switchyard console`;
  const ctx = {
    role: state.role,
    admin: state.role === 'admin',
    arg,
    query,
    signal: state.abort.signal,
    go,
  };
  Promise.resolve(page.render(root, ctx)).catch((e) => {
    if (e && e.name === 'AbortError') return;
    root.append(h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${errorText(e)}`));
  });
  // Move the focus to the new page's heading, as a page load would, unless
  // the user is typing in the page already.
  if (keepFocus !== true && !$('page').contains(document.activeElement)) heading.focus({ preventScroll: true });
  root.dataset.ready = name;
}

function showSignin(message) {
  if (state.abort) state.abort.abort();
  state.role = '';
  $('top').hidden = true;
  clear($('page'));
  delete document.body.dataset.role;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  document.title = 'Sign in · switchyard console';
  $('token').value = '';
  $('token').focus();
}

async function enter(reloaded) {
  const who = await api('GET', '/whoami', { noSignout: true });
  state.role = who.role;
  state.instance = who.instance;
  document.body.dataset.role = who.role;
  $('signin').hidden = true;
  $('top').hidden = false;
  $('instance').textContent = who.instance;
  $('role').textContent = who.role === 'admin' ? 'admin' : 'viewer: read only';
  $('role').className = `badge ${who.role === 'admin' ? 'warn' : 'info'}`;
  route(reloaded);
}

function boot() {
  onUnauthorized((detail) => {
    clearToken();
    showSignin(`Signed out: ${detail || 'the token was refused'}.`);
  });
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (!t) {
      $('signin-error').textContent = 'Enter a token.';
      return;
    }
    setToken(t);
    try {
      await enter();
      $('token').value = '';
    } catch (e) {
      clearToken();
      $('signin-error').textContent = `Sign-in failed: ${errorText(e)}`;
      $('token').value = '';
      $('token').focus();
    }
  });
  $('signout').addEventListener('click', () => {
    clearToken();
    showSignin('Signed out.');
  });
  window.addEventListener('hashchange', () => route());
  // The link of the page shown draws it again (fresh data).
  $('nav').addEventListener('click', (ev) => {
    const a = ev.target.closest('a');
    if (a && a.getAttribute('href') === location.hash) {
      ev.preventDefault();
      route();
    }
  });
  window.addEventListener('unhandledrejection', (ev) => {
    if (ev.reason && ev.reason.name === 'AbortError') return;
    notify(errorText(ev.reason), 'error');
  });
  if (token()) {
    enter(true).catch((e) => {
      clearToken();
      showSignin(`Sign in again: ${errorText(e)}`);
    });
  } else {
    showSignin('');
  }
}

boot();
