// Account: where a login goes and why (the route explanation), the hold,
// the live sessions, the history of its flips and cut-overs; the admin
// may flip, cut over, hold and kick.

import { api, get, seg, errorText } from '../api.js';
import { h, replace, field, select, dl, table, badge, section, time, notify, num } from '../dom.js';
import { sessionTable } from '../sessiontable.js';
import { flip, cutover, cutoverReport } from '../moves.js';

function dest(d) { return d === null || d === undefined ? '—' : d; }

function lookupForm(ctx, value) {
  const input = h('input', { type: 'search', name: 'account', value: value || '', autocomplete: 'off', spellcheck: 'false', required: true });
  return h('form', { class: 'filters', role: 'search', 'aria-label': 'Look up an account', onsubmit: (ev) => {
    ev.preventDefault();
    if (input.value.trim()) ctx.go('account', input.value.trim());
  } }, field('Account', input, 'e-mail address or login name'), h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Show')));
}

function routeView(r) {
  const d = r.decision;
  const state = [];
  if (d.maintenance) state.push(badge('maintenance', 'warn'));
  if (d.down) state.push(badge('down', 'bad'));
  if (d.cached) state.push(badge('cached', 'info'));
  return h('div', null,
    h('p', { class: 'decision' }, 'A login now goes to ', h('strong', { class: 'dest' }, dest(d.destination)), ` (decided by: ${d.source})`, ' ', state),
    d.error ? h('p', { class: 'error' }, d.error) : null,
    table({ caption: 'Resolution, step by step', rows: r.steps, columns: [
      { label: 'Step', cell: (s) => s.step + (s.kind ? ` (${s.kind})` : '') },
      { label: 'Outcome', cell: (s) => s.outcome },
      { label: 'Destination', cell: (s) => dest(s.destination) },
      { label: 'Error', cell: (s) => s.error || '—' },
    ] }),
    h('h3', null, 'Routing cache'),
    dl([
      ['Used', r.cache.used ? 'yes' : 'no (answers come straight from the store)'],
      ['Entry', r.cache.present ? `${r.cache.kind === 'no_mapping' ? 'no mapping' : 'mapping'} → ${dest(r.cache.destination)}` : 'none'],
      ['Expires', r.cache.expires_at ? time(r.cache.expires_at) : '—'],
      ['Stale', r.cache.stale ? badge('stale: differs from the store', 'bad') : 'no'],
    ]));
}

export default {
  title: 'Account',
  async render(root, ctx) {
    root.append(lookupForm(ctx, ctx.arg));
    const account = ctx.arg;
    if (!account) {
      root.append(h('p', { class: 'muted' }, 'Look up an account to see where it is routed and why, its live sessions and the history of its moves. The migration page lists the mapped accounts.'));
      return;
    }
    const title = h('h2', { class: 'account-name' }, account);
    const routeBox = h('div');
    const holdBox = h('div');
    const sessBox = h('div');
    const histBox = h('div');
    root.append(title);

    const load = async () => {
      const [a, hist] = await Promise.all([
        get(`/accounts/${seg(account)}`, null, ctx.signal),
        get('/events', { account, kind: 'flip,cutover,hold,kick,import', limit: 200 }, ctx.signal),
      ]);
      replace(routeBox, routeView(a.route));
      replace(holdBox, a.hold
        ? dl([['Held until', time(a.hold.until)], ['Remaining', `${Math.round(a.hold.remaining_seconds)} s`], ['Logins waiting', num(a.hold.held_logins)]])
        : h('p', null, 'Logins are not held.'));
      if (ctx.admin) {
        holdBox.append(a.hold
          ? h('button', { type: 'button', class: 'secondary', dataset: { change: 'release' }, onclick: () => act(() => api('DELETE', `/holds/${seg(account)}`), 'Hold released.') }, 'Release the hold')
          : holdForm());
      }
      replace(sessBox, sessionTable(a.sessions, ctx, load, `Live sessions of ${a.normalized} (${a.count})`));
      const evs = hist.events.slice().reverse();
      replace(histBox, table({ caption: 'Flips, cut-overs, holds and kicks (newest first, from the activity log in memory)', rows: evs, empty: 'Nothing in the activity log for this account.', columns: [
        { label: 'Time', cell: (e) => time(e.time) },
        { label: 'Event', cell: (e) => e.kind + (e.outcome ? ` ${e.outcome}` : '') },
        { label: 'From', cell: (e) => e.from || '—' },
        { label: 'To', cell: (e) => e.destination || '—' },
        { label: 'By', cell: (e) => e.actor || '—' },
        { label: 'Detail', cell: (e) => [e.reason, e.count ? `count ${e.count}` : '', e.session ? `session ${e.session}` : ''].filter(Boolean).join(', ') || '—' },
      ] }));
      return a;
    };

    const act = async (op, msg) => {
      try {
        const r = await op();
        notify(typeof msg === 'function' ? msg(r) : msg, 'good');
      } catch (e) {
        notify(errorText(e), 'error');
      }
      await load();
    };

    const holdForm = () => {
      const secs = h('input', { type: 'number', min: 1, max: 86400, value: 300, inputmode: 'numeric' });
      return h('form', { class: 'inline', onsubmit: (ev) => {
        ev.preventDefault();
        act(() => api('PUT', `/holds/${seg(account)}`, { json: { seconds: Number(secs.value) } }), `Logins of ${account} held.`);
      } }, field('Hold new logins for (seconds)', secs), h('button', { type: 'submit', class: 'secondary', dataset: { change: 'hold' } }, 'Hold logins'));
    };

    const a = await load();
    root.append(
      section('Route', routeBox),
    );
    if (ctx.admin) {
      const dests = await get('/destinations', null, ctx.signal);
      const current = a.route.decision.destination;
      const other = dests.destinations.map((d) => d.id).find((d) => d !== current) || '';
      const to = select(dests.destinations.map((d) => d.id), other, { name: 'destination' });
      const hold = h('input', { type: 'text', name: 'max_hold', value: '10s', size: 6, spellcheck: 'false' });
      const report = h('div', { role: 'status', 'aria-live': 'polite' });
      const busy = (on) => { for (const b of moveForm.querySelectorAll('button')) b.disabled = on; };
      const moveForm = h('form', { class: 'filters', 'aria-label': 'Move this account', onsubmit: async (ev) => {
        ev.preventDefault();
        busy(true);
        replace(report, h('p', null, `Cutting ${account} over to ${to.value}…`));
        try {
          const r = await cutover(account, to.value, hold.value.trim());
          replace(report, h('p', { class: 'good' }, `Cut over to ${r.destination}: ${r.kicked} session(s) kicked.`), cutoverReport(r));
        } catch (e) {
          replace(report, h('p', { class: 'error', role: 'alert' }, `Cut-over failed: ${errorText(e)}`));
        }
        busy(false);
        await load();
      } },
      field('Destination', to),
      field('Longest hold', hold, 'for logins in flight, e.g. 10s (at most 60s)'),
      h('div', { class: 'field actions' },
        h('button', { type: 'submit', dataset: { change: 'cutover' } }, 'Cut over'),
        h('button', { type: 'button', class: 'secondary', dataset: { change: 'flip' }, onclick: async () => {
          busy(true);
          try {
            const r = await flip(account, to.value);
            replace(report, h('p', { class: 'good' }, `Mapping flipped: ${r.previous || 'none'} → ${r.destination}. Live sessions stay where they are until they log in again.`));
          } catch (e) {
            replace(report, h('p', { class: 'error', role: 'alert' }, `Flip failed: ${errorText(e)}`));
          }
          busy(false);
          await load();
        } }, 'Flip the mapping only'),
        h('button', { type: 'button', class: 'danger', dataset: { change: 'kick-account' }, onclick: () => act(() => api('POST', `/accounts/${seg(account)}/kick`),
          (r) => `${r.kicked} session(s) of ${account} kicked.`) }, 'Kick all its sessions')));
      root.append(section('Move', h('p', { class: 'muted' }, 'A cut-over holds new logins of the account (and its bare local part), waits for logins in flight, flips the mapping, kicks its sessions on every instance and releases the hold: the next login lands on the new destination. Flipping only changes the mapping.'), moveForm, report));
    }
    root.append(section('Hold', holdBox), section('Sessions', sessBox), section('History', histBox));
  },
};
