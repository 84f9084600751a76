// Overview: live sessions by protocol and destination, logins per second,
// bytes, the destinations' health, and charts of the last hour or day
// from /api/v1/history.

import { get } from '../api.js';
import { h, replace, table, num, bytes, duration, badge, section, focusWithin } from '../dom.js';
import { lineChart } from '../chart.js';
import { every } from '../poll.js';

const OK = ['success'];
const FAILED = ['failure', 'backend_failure', 'no_route', 'tempfail', 'bad_input'];

function sum(obj, keys) {
  let n = 0;
  for (const k of keys) n += (obj && obj[k]) || 0;
  return n;
}

function stat(label, value, sub) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), sub ? h('div', { class: 'stat-sub muted' }, sub) : null);
}

function healthBadge(d) {
  if (d.maintenance) return badge('maintenance', 'warn');
  if (d.down) return badge('down', 'bad');
  return badge('up', 'good');
}

export default {
  title: 'Overview',
  async render(root, ctx) {
    let minutes = ctx.query.range === 'day' ? 1440 : 60;
    const cards = h('div', { class: 'stats', 'aria-live': 'off' });
    const tables = h('div', { class: 'grid2' });
    const health = h('div');
    const charts = h('div', { class: 'charts' });
    const rangeBtns = [['hour', 60, 'Last hour'], ['day', 1440, 'Last day']].map(([key, m, label]) => h('button', {
      type: 'button', class: 'secondary', 'aria-pressed': String(m === minutes), dataset: { range: key },
      onclick: () => { minutes = m; rangeBtns.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.range === key))); drawCharts(); },
    }, label));
    root.append(
      cards,
      tables,
      section('Destinations', health),
      h('section', { class: 'card', 'aria-labelledby': 'charts-h' },
        h('div', { class: 'row' }, h('h2', { id: 'charts-h' }, 'History'), h('div', { class: 'toggle', role: 'group', 'aria-label': 'Chart range' }, rangeBtns)),
        charts),
    );

    let prev = null; // the previous stats sample, for rates
    let lastHistory = [];

    const drawCharts = async () => {
      const hist = await get('/history', { minutes }, ctx.signal);
      lastHistory = hist.points;
      const to = new Date();
      const from = new Date(to.getTime() - minutes * 60000);
      const pts = hist.points.map((p) => ({ ...p, t: new Date(p.time) }));
      const dests = new Set();
      for (const p of pts) for (const d of Object.keys(p.sessions || {})) dests.add(d);
      const sessSeries = [...dests].sort().map((d) => ({
        name: d || '(not routed yet)',
        values: pts.map((p) => [p.t, Object.values((p.sessions || {})[d] || {}).reduce((a, b) => a + b, 0)]),
      }));
      replace(charts,
        lineChart({ title: 'Logins per minute', from, to, fmt: num, series: [
          { name: 'ok', values: pts.map((p) => [p.t, sum(p.logins, OK)]) },
          { name: 'failed', values: pts.map((p) => [p.t, sum(p.logins, FAILED)]) },
        ] }),
        lineChart({ title: 'Live sessions by destination', from, to, fmt: num,
          series: sessSeries.length ? sessSeries : [{ name: 'sessions', values: pts.map((p) => [p.t, 0]) }] }),
        lineChart({ title: 'Bytes relayed per minute', from, to, fmt: bytes, series: [
          { name: 'client to backend', values: pts.map((p) => [p.t, p.bytes_in]) },
          { name: 'backend to client', values: pts.map((p) => [p.t, p.bytes_out]) },
        ] }));
    };

    const refresh = async () => {
      const [st, ds, live] = await Promise.all([
        get('/stats', null, ctx.signal),
        get('/destinations', null, ctx.signal),
        get('/sessions', { limit: 10000 }, ctx.signal),
      ]);
      const now = performance.now();
      let okRate = null;
      let failRate = null;
      if (prev) {
        const dt = (now - prev.at) / 1000;
        okRate = (st.logins - prev.st.logins) / dt;
        failRate = (st.login_failures - prev.st.login_failures) / dt;
      } else if (lastHistory.length) {
        const p = lastHistory[lastHistory.length - 1];
        okRate = sum(p.logins, OK) / 60;
        failRate = sum(p.logins, FAILED) / 60;
      }
      if (!prev) setTimeout(() => { if (!ctx.signal.aborted) refresh().catch(() => {}); }, 1000);
      prev = { st, at: now };
      let liveIn = 0;
      let liveOut = 0;
      for (const s of live.sessions) { liveIn += s.bytes_in; liveOut += s.bytes_out; }
      let hourIn = 0;
      let hourOut = 0;
      for (const p of lastHistory.slice(-60)) { hourIn += p.bytes_in; hourOut += p.bytes_out; }
      const rate = (v) => (v === null ? 'measuring…' : v.toFixed(2));
      replace(cards,
        stat('Live sessions', num(st.active_sessions), `${num(st.active_connections)} connections before login`),
        stat('Logins per second', h('span', null, h('span', { class: 'ok' }, rate(okRate)), h('small', null, ' ok · '), h('span', { class: 'bad' }, rate(failRate)), h('small', null, ' failed')),
          `${num(st.logins)} ok, ${num(st.login_failures)} failed since start`),
        stat('Bytes in live sessions', `${bytes(liveIn)} in · ${bytes(liveOut)} out`, `last hour: ${bytes(hourIn)} in, ${bytes(hourOut)} out`),
        stat('Routing cache', `${st.hit_rate_pct}% hits`, `${num(st.cache_entries)} entries`),
        stat('Process', st.ready ? 'ready' : 'draining', `${st.instance} · up ${duration(st.uptime_seconds)}`),
      );
      if (!focusWithin(tables)) {
        const rows = (m) => Object.entries(m || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ k, v }));
        replace(tables,
          table({ caption: 'Sessions by protocol', rows: rows(st.sessions_by_protocol), empty: 'No live session.',
            columns: [{ label: 'Protocol', cell: (r) => h('a', { href: `#/sessions?protocol=${encodeURIComponent(r.k)}` }, r.k) }, { label: 'Sessions', num: true, cell: (r) => num(r.v) }] }),
          table({ caption: 'Sessions by destination', rows: rows(st.sessions_by_destination), empty: 'No live session.',
            columns: [{ label: 'Destination', cell: (r) => h('a', { href: `#/sessions?destination=${encodeURIComponent(r.k)}` }, r.k) }, { label: 'Sessions', num: true, cell: (r) => num(r.v) }] }));
      }
      if (!focusWithin(health)) {
        replace(health, table({ caption: 'Health of each destination', rows: ds.destinations, empty: 'No destination.', columns: [
          { label: 'Destination', cell: (d) => h('a', { href: '#/destinations' }, d.id) },
          { label: 'Host', cell: (d) => d.host },
          { label: 'State', cell: healthBadge },
          { label: 'Breakers', cell: (d) => d.protocols.map((p) => `${p.protocol} ${p.breaker.state}`).join(', ') || '—' },
          { label: 'Sessions', num: true, cell: (d) => num(d.sessions) },
        ] }));
      }
    };

    await drawCharts();
    await every(5000, refresh, ctx.signal);
    // A new history point comes once a minute.
    setTimeout(() => every(60000, drawCharts, ctx.signal), 60000 - (Date.now() % 60000) + 2000);
  },
};
