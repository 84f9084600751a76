// The table of live sessions, on the sessions and account pages. The
// admin gets a Kick button on each row; the viewer gets none.

import { api, errorText } from './api.js';
import { h, table, num, bytes, duration, accountLink, notify } from './dom.js';

export function sessionTable(rows, ctx, after, caption) {
  const columns = [
    { label: 'ID', num: true, cell: (s) => String(s.id) },
    { label: 'Account', cell: (s) => accountLink(s.account) },
    { label: 'Protocol', cell: (s) => s.protocol },
    { label: 'Listener', cell: (s) => s.listener },
    { label: 'Destination', cell: (s) => s.destination || '—' },
    { label: 'Client', cell: (s) => s.client },
    { label: 'State', cell: (s) => s.state + (s.bridge ? ` (${s.bridge})` : '') },
    { label: 'Age', num: true, cell: (s) => duration(s.age_seconds) },
    { label: 'In', num: true, cell: (s) => bytes(s.bytes_in) },
    { label: 'Out', num: true, cell: (s) => bytes(s.bytes_out) },
  ];
  if (ctx.admin) {
    columns.push({
      label: 'Action',
      cell: (s) => h('button', {
        type: 'button', class: 'danger small', dataset: { change: 'kick', session: String(s.id) },
        'aria-label': `Kick session ${s.id}${s.account ? ` of ${s.account}` : ''}`,
        onclick: async (ev) => {
          ev.currentTarget.disabled = true;
          try {
            await api('DELETE', `/sessions/${s.id}`);
            notify(`Session ${s.id}${s.account ? ` of ${s.account}` : ''} kicked.`, 'good');
          } catch (e) {
            notify(`Kick failed: ${errorText(e)}`, 'error');
          }
          if (after) await after();
          // The row is gone: the keyboard goes on from the table.
          const wrap = document.querySelector('#page .table-wrap');
          if (wrap && !document.activeElement.closest('#page')) wrap.focus();
        },
      }, 'Kick'),
    });
  }
  return table({
    caption: caption || `Live sessions (${num(rows.length)})`, rows, columns, empty: 'No live session matches.',
    rowAttrs: (s) => ({ dataset: { session: String(s.id), account: s.account || '' } }),
  });
}
