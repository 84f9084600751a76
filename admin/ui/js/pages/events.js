// Events: the activity log, then a live tail of it over the SSE stream,
// read with fetch() so that the token goes in the Authorization header
// (EventSource cannot send it, and a token in a URL ends up in logs).

import { get, stream, errorText } from '../api.js';
import { h, replace, field, time, accountLink, num } from '../dom.js';

const KINDS = ['login', 'kick', 'flip', 'import', 'hold', 'cutover', 'reload', 'breaker', 'drain', 'maintenance', 'reset', 'cache'];
const MAX_ROWS = 500;

function detail(e) {
  const parts = [];
  if (e.from || (e.kind === 'flip' && e.destination)) parts.push(`${e.from || '(none)'} → ${e.destination || '(none)'}`);
  else if (e.destination) parts.push(`destination ${e.destination}`);
  if (e.protocol) parts.push(e.listener && e.listener !== e.protocol ? `${e.protocol} on ${e.listener}` : e.protocol);
  if (e.client) parts.push(`from ${e.client}`);
  if (e.session) parts.push(`session ${e.session}`);
  if (e.count) parts.push(`count ${e.count}`);
  if (e.reason) parts.push(e.reason);
  return parts.join(', ');
}

function row(e) {
  const bad = ['failure', 'failed', 'open', 'backend_failure', 'no_route', 'tempfail', 'bad_input'].includes(e.outcome);
  return h('tr', { dataset: { seq: String(e.seq), kind: e.kind }, class: bad ? 'bad-row' : null },
    h('td', { 'data-label': 'Time' }, time(e.time)),
    h('td', { 'data-label': 'Event' }, h('span', { class: `kind k-${e.kind}` }, e.kind)),
    h('td', { 'data-label': 'Outcome' }, e.outcome || '—'),
    h('td', { 'data-label': 'Account' }, accountLink(e.account)),
    h('td', { 'data-label': 'Detail' }, detail(e) || '—'),
    h('td', { 'data-label': 'By' }, e.actor || '—'));
}

export default {
  title: 'Events',
  async render(root, ctx) {
    const chosen = new Set((ctx.query.kind || '').split(',').filter((k) => KINDS.includes(k)));
    const boxes = KINDS.map((k) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'kind', value: k, checked: chosen.has(k) }), ` ${k}`));
    const account = h('input', { type: 'search', name: 'account', value: ctx.query.account || '', autocomplete: 'off', spellcheck: 'false' });
    const form = h('form', { class: 'filters', 'aria-label': 'Filter events', onsubmit: (ev) => {
      ev.preventDefault();
      const kinds = boxes.map((b) => b.firstChild).filter((i) => i.checked).map((i) => i.value);
      ctx.go('events', '', { kind: kinds.join(','), account: account.value.trim() });
    } },
    h('fieldset', null, h('legend', null, 'Kinds (none ticked: all)'), h('div', { class: 'checks' }, boxes)),
    field('Account', account),
    h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Filter')));

    const status = h('span', { class: 'live-status', role: 'status' }, 'Connecting…');
    let paused = false;
    const pending = [];
    const pause = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false', onclick: () => {
      paused = !paused;
      pause.setAttribute('aria-pressed', String(paused));
      pause.textContent = paused ? 'Resume' : 'Pause';
      if (!paused) { pending.splice(0).forEach(add); }
      setStatus();
    } }, 'Pause');
    const tbody = h('tbody');
    const tableEl = h('table', { class: 'events' },
      h('caption', null, 'Activity, newest first'),
      h('thead', null, h('tr', null, ['Time', 'Event', 'Outcome', 'Account', 'Detail', 'By'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody);
    root.append(form, h('div', { class: 'row' }, h('p', null, status), pause), h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Activity' }, tableEl));

    let live = false;
    let count = 0;
    const setStatus = (msg) => {
      if (msg) { status.textContent = msg; return; }
      status.textContent = `${paused ? 'Paused' : live ? 'Live' : 'Reconnecting…'} · ${num(count)} event(s) shown${pending.length ? `, ${pending.length} waiting` : ''}`;
      status.dataset.live = String(live && !paused);
    };
    const add = (e) => {
      tbody.prepend(row(e));
      count += 1;
      while (tbody.children.length > MAX_ROWS) tbody.lastChild.remove();
      count = Math.min(count, MAX_ROWS);
    };

    const query = { kind: ctx.query.kind || undefined, account: ctx.query.account || undefined };
    const first = await get('/events', { ...query, limit: 100 }, ctx.signal);
    replace(tbody);
    first.events.forEach(add);
    let last = first.last_seq;
    setStatus();

    // Follow the stream; after a break, resume after the last event seen.
    (async () => {
      let wait = 1000;
      while (!ctx.signal.aborted) {
        try {
          await stream({ ...query, after: last }, (e) => {
            last = Math.max(last, e.seq);
            if (paused) pending.push(e); else add(e);
            setStatus();
          }, ctx.signal, () => { live = true; wait = 1000; setStatus(); });
        } catch (e) {
          if (ctx.signal.aborted) return;
          setStatus(`Stream failed: ${errorText(e)}; retrying`);
        }
        live = false;
        if (ctx.signal.aborted) return;
        setStatus();
        await new Promise((r) => { setTimeout(r, wait); });
        wait = Math.min(wait * 2, 30000);
      }
    })();
  },
};
