// DOM helpers. Pages are built with these calls only: no HTML string is
// ever parsed (the Content-Security-Policy refuses HTML sinks anyway), so
// an account name or a backend's error text cannot become markup.

const SVGNS = 'http://www.w3.org/2000/svg';

function append(el, c) {
  if (c === null || c === undefined || c === false) return;
  if (Array.isArray(c)) { c.forEach((x) => append(el, x)); return; }
  el.append(c instanceof Node ? c : document.createTextNode(String(c)));
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' || k === 'checked' || k === 'selected') {
      el[k] = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

// h('button', {type: 'button', onclick: f}, 'Kick') builds an element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// svg('line', {x1: 0, ...}) builds an SVG element.
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

let idSeq = 0;
export function uid(prefix) { idSeq += 1; return `${prefix}-${idSeq}`; }

// field('Account', input) wraps a control with its label.
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const kids = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = uid('hint');
    control.setAttribute('aria-describedby', hid);
    kids.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, kids);
}

export function select(options, value, attrs) {
  const s = h('select', attrs);
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', { value: v, selected: v === value }, label));
  }
  return s;
}

// table({caption, columns: [{label, cell(row), num}], rows, empty})
export function table({ caption, columns, rows, empty, rowAttrs }) {
  const thead = h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label))));
  const tbody = h('tbody');
  if (!rows.length) {
    tbody.append(h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty || 'Nothing to show.')));
  }
  for (const r of rows) {
    tbody.append(h('tr', rowAttrs ? rowAttrs(r) : null, columns.map((c) => h('td', { class: c.num ? 'num' : null, 'data-label': c.label }, c.cell(r)))));
  }
  const t = h('table', null, caption ? h('caption', null, caption) : null, thead, tbody);
  // A wide table scrolls on its own on a narrow screen; focusable so that
  // the keyboard can scroll it.
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption || 'table' }, t);
}

// dl([['Host', 'x'], ...]) renders label/value pairs.
export function dl(pairs, cls) {
  const d = h('dl', { class: cls || 'pairs' });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    d.append(h('dt', null, k), h('dd', null, v === null || v === '' ? '—' : v));
  }
  return d;
}

export function badge(text, kind) {
  return h('span', { class: ['badge', kind] }, text);
}

export function section(title, ...children) {
  const id = uid('sec');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

// ---- formatting

const nf = new Intl.NumberFormat();
export function num(n) { return n === null || n === undefined ? '—' : nf.format(n); }

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(sec) {
  if (sec === null || sec === undefined) return '—';
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const t = h('time', { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
  return t;
}

export function clock(d) {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// accountLink(id) links to the account page.
export function accountLink(id) {
  if (!id) return '—';
  return h('a', { href: `#/account/${encodeURIComponent(id)}` }, id);
}

// ---- notices

let noticeTimer = 0;
// notify shows a message in the page's live region (read by screen
// readers); errors stay until the next message.
export function notify(msg, kind) {
  const el = document.getElementById('notice');
  clearTimeout(noticeTimer);
  el.className = `notice ${kind || 'info'}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  replace(el, msg);
  if (kind !== 'error') noticeTimer = setTimeout(() => { clear(el); el.className = 'notice'; }, 8000);
}

// clearNotice empties the notice area (a new page starts without the
// last page's message).
export function clearNotice() {
  const el = document.getElementById('notice');
  clearTimeout(noticeTimer);
  clear(el);
  el.className = 'notice';
}

// focusWithin says whether the keyboard focus is on a control inside el (a
// refresh then waits, so that it does not pull a button from under the
// user).
export function focusWithin(el) {
  const a = document.activeElement;
  return !!el && !!a && a !== el && el.contains(a) && a.matches('button, a, input, select, textarea');
}
