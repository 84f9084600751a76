// Migration: accounts per destination as progress, search the mapped
// accounts, flip or cut over one or many, and import a mapping file with
// a dry run that shows what would change before it is applied.

import { api, get, errorText, ApiError } from '../api.js';
import { h, replace, field, select, table, section, num, accountLink, notify } from '../dom.js';
import { flip, cutover, runMany } from '../moves.js';

function progress(counts, dests, sessions) {
  const total = counts.total || 0;
  const ids = [...new Set([...dests, ...Object.keys(counts.destinations || {})])].sort();
  return h('div', null,
    h('p', null, `${num(total)} account(s) have an explicit mapping. Accounts without one go to the default destination (or the cluster ring).`),
    h('ul', { class: 'progress-list' }, ids.map((d) => {
      const n = (counts.destinations || {})[d] || 0;
      const pct = total ? Math.round((n / total) * 1000) / 10 : 0;
      const id = `prog-${d}`;
      return h('li', null,
        h('div', { class: 'row' }, h('span', { id, class: 'dest' }, d), h('span', null, `${num(n)} mapped (${pct}%) · ${num(sessions[d] || 0)} live session(s)`)),
        h('progress', { max: total || 1, value: n, 'aria-labelledby': id }, `${pct}%`));
    })));
}

// importType picks the Content-Type of an import from the chosen format
// or the file's name.
function importType(format, name) {
  if (format !== 'auto') return format;
  if (/\.csv$/i.test(name)) return 'text/csv';
  if (/\.json$/i.test(name)) return 'application/json';
  return 'text/plain';
}

function importReport(r) {
  return h('div', { class: 'report' },
    h('p', null, r.dry_run
      ? `Dry run: ${num(r.total)} line(s): ${num(r.added)} to add, ${num(r.changed)} to change, ${num(r.unchanged)} unchanged. Nothing was written.`
      : `Imported: ${num(r.applied)} mapping(s) written (${num(r.added)} added, ${num(r.changed)} changed, ${num(r.unchanged)} unchanged).`),
    table({ caption: r.dry_run ? 'What would change' : 'What changed', rows: r.changes, empty: 'No change.', columns: [
      { label: 'Account', cell: (c) => accountLink(c.identifier) },
      { label: 'From', cell: (c) => c.from || '(none)' },
      { label: 'To', cell: (c) => c.to },
    ] }),
    r.truncated ? h('p', { class: 'muted' }, 'Only the first 1000 changes are listed.') : null);
}

export default {
  title: 'Migration',
  async render(root, ctx) {
    const [ds, st] = await Promise.all([get('/destinations', null, ctx.signal), get('/stats', null, ctx.signal)]);
    const destIDs = ds.destinations.map((d) => d.id);

    // Progress.
    const prog = h('div');
    root.append(section('Accounts per destination', prog));
    try {
      replace(prog, progress(await get('/mappings/counts', null, ctx.signal), destIDs, st.sessions_by_destination));
    } catch (e) {
      if (e instanceof ApiError && e.status === 501) replace(prog, h('p', null, 'This mapping store cannot count its mappings (a custom SQL query or Redis Cluster).'));
      else throw e;
    }

    // Search and select.
    const search = h('input', { type: 'search', name: 'search', value: ctx.query.search || '', autocomplete: 'off', spellcheck: 'false' });
    const on = select([['', 'any'], ...destIDs], ctx.query.destination || '', { name: 'destination' });
    const results = h('div');
    const more = h('div');
    const selected = new Set();
    let accountsBox = null;
    const syncSelection = () => { if (accountsBox) accountsBox.value = [...selected].join('\n'); };

    const searchForm = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search mapped accounts', onsubmit: (ev) => {
      ev.preventDefault();
      ctx.go('migration', '', { search: search.value.trim(), destination: on.value });
    } }, field('Account contains', search), field('Mapped to', on), h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Search')));
    root.append(section('Find accounts', searchForm, results, more));

    const rowsSoFar = [];
    const draw = () => {
      const columns = [];
      if (ctx.admin) {
        columns.push({ label: 'Select', cell: (m) => h('input', { type: 'checkbox', checked: selected.has(m.identifier), 'aria-label': `Select ${m.identifier}`, dataset: { change: 'select' },
          onchange: (ev) => { if (ev.target.checked) selected.add(m.identifier); else selected.delete(m.identifier); syncSelection(); } }) });
      }
      columns.push({ label: 'Account', cell: (m) => accountLink(m.identifier) }, { label: 'Mapped to', cell: (m) => m.destination });
      replace(results, table({ caption: `Mapped accounts (${rowsSoFar.length} shown)`, rows: rowsSoFar, columns, empty: 'No mapped account matches.' }));
    };
    const page = async (cursor) => {
      try {
        const r = await get('/mappings', { search: ctx.query.search, destination: ctx.query.destination, cursor, limit: 100 }, ctx.signal);
        rowsSoFar.push(...r.mappings);
        draw();
        replace(more, r.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => page(r.next_cursor) }, 'Show more') : null);
      } catch (e) {
        if (e instanceof ApiError && e.status === 501) replace(results, h('p', null, 'This mapping store cannot list its mappings; look accounts up one by one on the account page.'));
        else throw e;
      }
    };
    await page('');

    if (!ctx.admin) {
      root.append(section('Moving accounts', h('p', null, 'Signed in with the viewer token: moving accounts and imports need the admin token.')));
      return;
    }

    // Move one or many.
    accountsBox = h('textarea', { name: 'accounts', rows: 4, spellcheck: 'false', autocomplete: 'off' });
    const to = select(destIDs, destIDs[destIDs.length - 1], { name: 'to' });
    const hold = h('input', { type: 'text', name: 'max_hold', value: '10s', size: 6, spellcheck: 'false' });
    const out = h('ol', { class: 'outcomes' });
    const status = h('p', { role: 'status', 'aria-live': 'polite' });
    const accounts = () => accountsBox.value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
    const run = async (kind) => {
      const list = accounts();
      if (!list.length) { notify('Select or type at least one account.', 'error'); return; }
      replace(out);
      for (const b of moveForm.querySelectorAll('button')) b.disabled = true;
      await runMany(list, kind === 'cutover'
        ? async (a) => { const r = await cutover(a, to.value, hold.value.trim()); return `cut over to ${r.destination}, ${r.kicked} session(s) kicked, ${r.elapsed_ms} ms`; }
        : async (a) => { const r = await flip(a, to.value); return `mapping ${r.previous || '(none)'} → ${r.destination}`; }, out, status);
      for (const b of moveForm.querySelectorAll('button')) b.disabled = false;
    };
    const moveForm = h('form', { class: 'filters', 'aria-label': 'Move accounts', onsubmit: (ev) => { ev.preventDefault(); run('cutover'); } },
      field('Accounts', accountsBox, 'one a line, or tick them in the list above'),
      field('To', to),
      field('Longest hold', hold, 'per cut-over, e.g. 10s'),
      h('div', { class: 'field actions' },
        h('button', { type: 'submit', dataset: { change: 'cutover-many' } }, 'Cut over'),
        h('button', { type: 'button', class: 'secondary', dataset: { change: 'flip-many' }, onclick: () => run('flip') }, 'Flip the mappings only')));
    root.append(section('Move accounts', h('p', { class: 'muted' }, 'A cut-over moves an account without the race of doing it by hand: its logins are held, its sessions kicked on every instance, and the next login lands on the new destination. Accounts are moved one after the other.'), moveForm, status, out));

    // Import with a dry run.
    const file = h('input', { type: 'file', name: 'file', accept: '.csv,.txt,.json,text/csv,text/plain,application/json' });
    const paste = h('textarea', { name: 'mappings', rows: 5, spellcheck: 'false', autocomplete: 'off', placeholder: 'alice@example.com new' });
    const format = select([['auto', 'from the file name'], ['text/csv', 'CSV: identifier,destination'], ['text/plain', 'mapping file: identifier destination'], ['application/json', 'JSON: {"mappings": [...]}']], 'auto', { name: 'format' });
    const report = h('div', { role: 'status', 'aria-live': 'polite' });
    const applyBtn = h('button', { type: 'button', disabled: true, dataset: { change: 'import-apply' } }, 'Apply these changes');
    let checked = null; // {body, type} of the last dry run
    const body = async () => {
      if (file.files.length) return { text: await file.files[0].text(), type: importType(format.value, file.files[0].name) };
      return { text: paste.value, type: importType(format.value, '') };
    };
    const send = async (dry, b) => api('POST', '/mappings/import', { query: { dry_run: dry ? 'true' : 'false' }, body: b.text, contentType: b.type });
    const invalidate = () => { checked = null; applyBtn.disabled = true; };
    file.addEventListener('change', invalidate);
    paste.addEventListener('input', invalidate);
    format.addEventListener('change', invalidate);
    applyBtn.addEventListener('click', async () => {
      const b = await body();
      if (!checked || checked.text !== b.text || checked.type !== b.type) { invalidate(); notify('The input changed since the dry run: run it again.', 'error'); return; }
      applyBtn.disabled = true;
      try {
        replace(report, importReport(await send(false, b)));
        checked = null;
      } catch (e) {
        replace(report, h('p', { class: 'error', role: 'alert' }, `Import failed: ${errorText(e)}`));
      }
    });
    const importForm = h('form', { class: 'filters', 'aria-label': 'Import mappings', onsubmit: async (ev) => {
      ev.preventDefault();
      invalidate();
      const b = await body();
      if (!b.text.trim()) { notify('Choose a file or paste mappings first.', 'error'); return; }
      try {
        const r = await send(true, b);
        replace(report, importReport(r));
        if (r.added + r.changed > 0) { checked = b; applyBtn.disabled = false; }
      } catch (e) {
        replace(report, h('p', { class: 'error', role: 'alert' }, `Dry run refused: ${errorText(e)}`));
      }
    } },
    field('Mapping file', file, 'CSV, mapping-file lines or JSON; checked whole before anything is written'),
    field('…or paste mappings', paste),
    field('Format', format),
    h('div', { class: 'field actions' }, h('button', { type: 'submit', class: 'secondary', dataset: { change: 'import-dry-run' } }, 'Dry run'), applyBtn));
    const exportBtn = h('button', { type: 'button', class: 'secondary', onclick: async () => {
      try {
        const text = await api('GET', '/mappings/export');
        const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
        const a = h('a', { href: url, download: 'mappings.txt' });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (e) {
        notify(`Export failed: ${errorText(e)}`, 'error');
      }
    } }, 'Download all mappings');
    root.append(section('Import mappings', importForm, report, h('p', null, exportBtn)));
  },
};
