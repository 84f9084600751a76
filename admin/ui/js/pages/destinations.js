// Destinations: health, breakers and active checks per protocol; the
// admin may switch maintenance on or off, close the breakers and drain.

import { api, get, seg, errorText } from '../api.js';
import { h, replace, table, badge, num, time, notify, focusWithin, uid } from '../dom.js';
import { every } from '../poll.js';

function breakerBadge(b) {
  const kind = { closed: 'good', open: 'bad', 'half-open': 'warn' }[b.state] || 'info';
  return badge(b.state, kind);
}

function check(c) {
  if (!c) return 'no active check yet';
  const parts = [c.ok ? badge('ok', 'good') : badge('failed', 'bad'), ` ${c.latency_ms.toFixed(1)} ms, `, time(c.at)];
  if (c.error) parts.push(h('div', { class: 'muted' }, c.error));
  return h('span', null, parts);
}

function card(d, ctx, reload) {
  const id = uid('dest');
  const state = [];
  state.push(d.down ? badge('down', 'bad') : badge('up', 'good'));
  if (d.maintenance) state.push(badge('maintenance', 'warn'));
  if (d.cluster_node) state.push(badge(d.ring_down ? 'cluster node, out of the ring' : 'cluster node', d.ring_down ? 'warn' : 'info'));
  const byProto = Object.entries(d.sessions_by_protocol).map(([p, n]) => `${p} ${n}`).join(', ');
  const el = h('section', { class: 'card dest-card', 'aria-labelledby': id, dataset: { destination: d.id } },
    h('div', { class: 'row' }, h('h2', { id }, d.id), h('span', null, state)),
    h('p', null, `Host ${d.host} · `, h('a', { href: `#/sessions?destination=${encodeURIComponent(d.id)}` }, `${num(d.sessions)} live session(s)`), byProto ? ` (${byProto})` : ''),
    table({ caption: `Protocols of ${d.id}`, rows: d.protocols, empty: 'No protocol.', columns: [
      { label: 'Protocol', cell: (p) => `${p.protocol} :${p.port} (${p.tls})` },
      { label: 'Breaker', cell: (p) => breakerBadge(p.breaker) },
      { label: 'Why', cell: (p) => p.breaker.reason || '—' },
      { label: 'Failures', num: true, cell: (p) => `${p.breaker.consecutive_failures} in a row, ${num(p.breaker.failures_total)} in all` },
      { label: 'Since', cell: (p) => (p.breaker.since ? time(p.breaker.since) : 'start') },
      { label: 'Open until', cell: (p) => (p.breaker.open_until ? time(p.breaker.open_until) : '—') },
      { label: 'Last check', cell: (p) => check(p.check) },
    ] }));
  if (ctx.admin) {
    const act = async (btn, op, msg) => {
      const kind = btn.dataset.change;
      btn.disabled = true;
      try {
        notify(msg(await op()), 'good');
      } catch (e) {
        notify(errorText(e), 'error');
      }
      await reload();
      // The card was drawn anew: give the keyboard its button back.
      const again = document.querySelector(`[data-destination="${CSS.escape(d.id)}"] button[data-change="${kind}"]`);
      if (again) again.focus();
    };
    const maint = h('button', { type: 'button', class: 'secondary', 'aria-pressed': String(d.maintenance), dataset: { change: 'maintenance' },
      onclick: (ev) => act(ev.currentTarget, () => api('PUT', `/destinations/${seg(d.id)}/maintenance`, { json: { enabled: !d.maintenance } }),
        (r) => `${d.id}: maintenance ${r.maintenance ? 'on: no new logins are routed there' : 'off'}.`) },
    d.maintenance ? 'Maintenance on: switch off' : 'Switch maintenance on');
    const reset = h('button', { type: 'button', class: 'secondary', dataset: { change: 'reset' },
      onclick: (ev) => act(ev.currentTarget, () => api('POST', `/destinations/${seg(d.id)}/reset`), () => `${d.id}: breakers closed.`) }, 'Close the breakers');
    const drain = h('button', { type: 'button', class: 'danger', dataset: { change: 'drain' },
      onclick: (ev) => {
        if (!window.confirm(`Drain ${d.id}? Maintenance goes on and every session there is kicked.`)) return;
        act(ev.currentTarget, () => api('POST', `/destinations/${seg(d.id)}/drain`), (r) => `${d.id} drained: ${r.kicked} session(s) kicked.`);
      } }, 'Drain');
    el.append(h('div', { class: 'actions' }, maint, reset, drain));
  }
  return el;
}

export default {
  title: 'Destinations',
  async render(root, ctx) {
    const list = h('div', { class: 'dest-list' });
    root.append(h('p', { class: 'muted' }, 'Maintenance: no new logins, relayed recipients or HTTP/2 streams are routed to the destination (a cluster node also leaves the ring); sessions there carry on. Drain: maintenance, and every session there is kicked.'), list);
    const load = async () => {
      const r = await get('/destinations', null, ctx.signal);
      replace(list, r.destinations.map((d) => card(d, ctx, load)));
    };
    await every(5000, load, ctx.signal, () => focusWithin(list));
  },
};
