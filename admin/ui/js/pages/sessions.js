// Sessions: filter the live sessions and kick them, one or all matching.

import { api, get, errorText } from '../api.js';
import { h, replace, field, select, notify, focusWithin, num } from '../dom.js';
import { sessionTable } from '../sessiontable.js';
import { every } from '../poll.js';

const PROTOCOLS = ['', 'imap', 'pop3', 'managesieve', 'submission', 'smtp', 'lmtp', 'http'];
const STATES = ['', 'preauth', 'routing', 'held', 'login', 'relaying', 'bridged', 'http2', 'stream'];

export default {
  title: 'Sessions',
  async render(root, ctx) {
    const q = ctx.query;
    const dests = await get('/destinations', null, ctx.signal).catch(() => ({ destinations: [] }));
    const account = h('input', { type: 'search', name: 'account', value: q.account || '', autocomplete: 'off', spellcheck: 'false' });
    const destination = select([['', 'any'], ...dests.destinations.map((d) => d.id)], q.destination || '', { name: 'destination' });
    const protocol = select(PROTOCOLS.map((p) => [p, p || 'any']), q.protocol || '', { name: 'protocol' });
    const client = h('input', { type: 'text', name: 'client', value: q.client || '', autocomplete: 'off', spellcheck: 'false' });
    const st = select(STATES.map((s) => [s, s || 'any']), q.state || '', { name: 'state' });
    const auto = h('input', { type: 'checkbox', id: 'auto', checked: true });
    const filter = () => ({ account: account.value.trim(), destination: destination.value, protocol: protocol.value, client: client.value.trim(), state: st.value });

    const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter sessions', onsubmit: (ev) => { ev.preventDefault(); ctx.go('sessions', '', filter()); } },
      field('Account', account),
      field('Destination', destination),
      field('Protocol', protocol),
      field('Client', client, 'IP, network (CIDR) or ip:port'),
      field('State', st),
      h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Filter'),
        h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go('sessions', '', {}) }, 'Clear')));
    const summary = h('p', { class: 'muted', role: 'status' });
    const tools = h('div', { class: 'row' }, h('label', { class: 'check' }, auto, ' Refresh every 5 s'), summary);
    const list = h('div');
    root.append(form, tools, list);

    const f = filter();
    if (ctx.admin && (f.account || f.destination || f.client)) {
      tools.append(h('button', {
        type: 'button', class: 'danger', dataset: { change: 'kick-matching' },
        onclick: async () => {
          if (!window.confirm('Kick every session that matches this filter?')) return;
          try {
            const r = await api('POST', '/sessions/kick', { json: { account: f.account || undefined, destination: f.destination || undefined, client: f.client || undefined, protocol: f.protocol || undefined, state: f.state || undefined } });
            notify(`${r.kicked} session(s) kicked.`, 'good');
          } catch (e) {
            notify(`Kick failed: ${errorText(e)}`, 'error');
          }
          load();
        },
      }, 'Kick all matching'));
    }

    const load = async () => {
      const r = await get('/sessions', f, ctx.signal);
      summary.textContent = r.total > r.count ? `${num(r.count)} of ${num(r.total)} sessions shown` : `${num(r.count)} session(s)`;
      replace(list, sessionTable(r.sessions, ctx, load));
    };
    await every(5000, load, ctx.signal, () => !auto.checked || focusWithin(list));
  },
};
