// Line charts drawn as inline SVG: no library, no network. Colours come
// from the stylesheet (classes s0, s1, ...), so the charts follow the
// light and dark themes.

import { h, svg, clock } from './dom.js';

const W = 480;
const H = 200;
const PAD = { left: 52, right: 10, top: 10, bottom: 26 };

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * p >= v) return m * p;
  }
  return 10 * p;
}

// lineChart draws series [{name, values: [[Date, number], ...]}] over the
// time range [from, to]. fmt formats a y value.
export function lineChart({ title, series, from, to, fmt, unit }) {
  const f = fmt || ((v) => String(v));
  let max = 0;
  let points = 0;
  for (const s of series) {
    for (const [, v] of s.values) { max = Math.max(max, v); points += 1; }
  }
  max = niceMax(max);
  const t0 = from.getTime();
  const span = Math.max(1, to.getTime() - t0);
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (d) => PAD.left + ((d.getTime() - t0) / span) * iw;
  const y = (v) => PAD.top + ih - (v / max) * ih;

  const summary = series.map((s) => {
    const vals = s.values.map(([, v]) => v);
    const last = vals.length ? vals[vals.length - 1] : null;
    const peak = vals.length ? Math.max(...vals) : null;
    return `${s.name}: last ${last === null ? 'none' : f(last)}, peak ${peak === null ? 'none' : f(peak)}`;
  }).join('; ');
  const label = `${title}${unit ? ` (${unit})` : ''}, ${clock(from)} to ${clock(to)}. ${points ? summary : 'No data yet.'}`;

  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label });
  g.append(svg('title', null, label));
  // Grid and y axis labels.
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    g.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    g.append(svg('text', { x: PAD.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, f(v)));
  }
  // Time labels: start, middle, end.
  for (const frac of [0, 0.5, 1]) {
    const d = new Date(t0 + span * frac);
    const anchor = frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle';
    g.append(svg('text', { x: PAD.left + iw * frac, y: H - 8, class: 'axis', 'text-anchor': anchor }, clock(d)));
  }
  series.forEach((s, i) => {
    const cls = `s${i % 6}`;
    if (s.values.length === 1) {
      const [d, v] = s.values[0];
      g.append(svg('circle', { cx: x(d), cy: y(v), r: 3, class: `dot ${cls}` }));
      return;
    }
    // A gap of more than two minutes (a restart) breaks the line.
    let path = '';
    let prev = null;
    for (const [d, v] of s.values) {
      const move = !prev || d.getTime() - prev.getTime() > 120000;
      path += `${move ? 'M' : 'L'}${x(d).toFixed(1)},${y(v).toFixed(1)}`;
      prev = d;
    }
    if (path) g.append(svg('path', { d: path, class: `line ${cls}` }));
  });
  if (!points) {
    g.append(svg('text', { x: PAD.left + iw / 2, y: PAD.top + ih / 2, class: 'nodata', 'text-anchor': 'middle' },
      'No data yet: a point is recorded at the end of each minute'));
  }
  const legend = h('ul', { class: 'legend' }, series.map((s, i) => h('li', null, h('span', { class: `key s${i % 6}`, 'aria-hidden': 'true' }), s.name)));
  return h('figure', { class: 'chart-box' }, h('figcaption', null, title, unit ? h('span', { class: 'muted' }, ` (${unit})`) : null), g, legend);
}
