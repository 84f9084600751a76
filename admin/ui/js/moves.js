// Moving accounts: a flip (the mapping only) or a cut-over (hold, wait
// for logins in flight, flip, kick everywhere, release), and how to show
// a cut-over's report.

import { api, seg, errorText } from './api.js';
import { h, dl, num, table } from './dom.js';

export async function flip(account, destination) {
  return api('PUT', `/mappings/${seg(account)}`, { json: { destination } });
}

export async function cutover(account, destination, maxHold) {
  const body = { destination };
  if (maxHold) body.max_hold = maxHold;
  return api('POST', `/accounts/${seg(account)}/cutover`, { json: body });
}

export function cutoverReport(r) {
  const prev = r.previous && r.previous.destination ? `${r.previous.destination} (${r.previous.source})` : 'none';
  return h('div', { class: 'report' },
    dl([
      ['Account', r.account],
      ['Moved', `${prev} → ${r.destination}`],
      ['Aliases held and kicked', r.aliases.join(', ') || '—'],
      ['Mappings written', r.mapped.join(', ') || '—'],
      ['Logins in flight', `${num(r.in_flight)} (${num(r.waited)} finished before the flip)`],
      ['Logins held / released', `${num(r.held)} / ${num(r.released)}`],
      ['Sessions kicked', num(r.kicked)],
      ['Hold', `${num(r.hold_ms)} ms`],
      ['Elapsed', `${num(r.elapsed_ms)} ms`],
      ['Instances that did not reply', r.missing.join(', ') || 'none'],
    ]),
    r.instances.length > 1 ? table({ caption: 'Each instance', rows: r.instances, columns: [
      { label: 'Instance', cell: (i) => i.instance + (i.self ? ' (this one)' : '') },
      { label: 'Kicked', num: true, cell: (i) => num(i.kicked) },
      { label: 'Held', num: true, cell: (i) => num(i.held) },
      { label: 'Released', num: true, cell: (i) => num(i.released) },
      { label: 'Error', cell: (i) => i.error || '—' },
    ] }) : null);
}

// runMany applies op to each account in turn and reports each outcome in
// list (an <ol>), with a line in status.
export async function runMany(accounts, op, list, status) {
  let ok = 0;
  let failed = 0;
  for (const [i, a] of accounts.entries()) {
    status.textContent = `${i + 1} of ${accounts.length}: ${a}…`;
    try {
      const r = await op(a);
      ok += 1;
      list.append(h('li', { class: 'good' }, `${a}: ${r}`));
    } catch (e) {
      failed += 1;
      list.append(h('li', { class: 'bad' }, `${a}: ${errorText(e)}`));
    }
  }
  status.textContent = `Done: ${ok} moved, ${failed} failed.`;
}
