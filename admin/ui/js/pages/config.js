// Configuration: the instance, the configuration in force (secrets
// masked by the server), a reload with what it applied and what needs a
// restart; the admin may also set the log level and drain the process.

import { api, get, errorText } from '../api.js';
import { h, replace, dl, field, select, section, time, notify, badge } from '../dom.js';

function scalar(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(scalar).join(', ')}]`;
  if (v === null) return '""';
  if (typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${k} = ${scalar(x)}`).join(', ')} }`;
  return String(v);
}

const isTable = (v) => v && typeof v === 'object' && !Array.isArray(v);
const isTableArray = (v) => Array.isArray(v) && v.length > 0 && v.every(isTable);

// toml renders the configuration map as TOML text (the keys of the file).
function toml(obj, prefix, out) {
  const keys = Object.keys(obj).sort();
  for (const k of keys) {
    const v = obj[k];
    if (!isTable(v) && !isTableArray(v)) out.push(`${k} = ${scalar(v)}`);
  }
  for (const k of keys) {
    const v = obj[k];
    const name = prefix ? `${prefix}.${k}` : k;
    if (isTable(v)) {
      // A table of tables only gets no header of its own.
      if (Object.values(v).some((x) => !isTable(x) && !isTableArray(x)) || !Object.keys(v).length) out.push('', `[${name}]`);
      toml(v, name, out);
    } else if (isTableArray(v)) {
      for (const item of v) {
        out.push('', `[[${name}]]`);
        toml(item, name, out);
      }
    }
  }
  return out;
}

export default {
  title: 'Configuration',
  async render(root, ctx) {
    const [inst, cfg] = await Promise.all([get('/instance', null, ctx.signal), get('/config', null, ctx.signal)]);
    root.append(section('This instance', dl([
      ['Name', inst.name],
      ['Started', time(inst.started)],
      ['Ready', inst.ready ? badge('ready', 'good') : badge('draining', 'warn')],
      ['Bus', inst.bus],
      ['Peers', inst.peers.length ? inst.peers.map((p) => `${p.name} (seen ${new Date(p.last_seen).toLocaleTimeString()})`).join(', ') : 'none'],
    ])));

    if (ctx.admin) {
      const result = h('div', { role: 'status', 'aria-live': 'polite' });
      const reload = h('button', { type: 'button', dataset: { change: 'reload' }, onclick: async () => {
        reload.disabled = true;
        try {
          const r = await api('POST', '/config/reload');
          replace(result,
            h('p', { class: 'good' }, 'Reloaded.'),
            dl([
              ['Applied', r.applied.length ? h('ul', null, r.applied.map((a) => h('li', null, a))) : 'nothing changed'],
              ['Needs a restart', r.restart_required.length ? h('ul', null, r.restart_required.map((a) => h('li', null, a))) : 'nothing'],
            ]));
          const fresh = await get('/config', null, ctx.signal);
          replace(pre, toml(fresh.config, '', []).join('\n').trim());
        } catch (e) {
          replace(result, h('p', { class: 'error', role: 'alert' }, `Reload refused; the running configuration is kept. ${errorText(e)}`));
        }
        reload.disabled = false;
      } }, 'Reload the configuration file');
      const level = select(['debug', 'info', 'warn', 'error'], (cfg.config.server && cfg.config.server.log_level) || 'info', { name: 'level' });
      const levelForm = h('form', { class: 'inline', onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const r = await api('PUT', '/log-level', { json: { level: level.value } });
          notify(`Log level: ${r.level}.`, 'good');
        } catch (e) {
          notify(errorText(e), 'error');
        }
      } }, field('Log level', level), h('button', { type: 'submit', class: 'secondary', dataset: { change: 'log-level' } }, 'Set'));
      const drain = h('button', { type: 'button', class: 'danger', dataset: { change: 'drain-process' }, onclick: async () => {
        if (!window.confirm('Drain this instance? /readyz turns 503 so that the load balancer sends no new clients here.')) return;
        try {
          await api('POST', '/drain');
          notify('Draining: /readyz answers 503.', 'good');
        } catch (e) {
          notify(errorText(e), 'error');
        }
      } }, 'Drain this instance');
      root.append(section('Change', h('p', null, reload), result, levelForm, h('p', null, drain)));
    }

    const pre = h('pre', { class: 'config', tabindex: 0, 'aria-label': 'Effective configuration' }, toml(cfg.config, '', []).join('\n').trim());
    root.append(section('Effective configuration', h('p', { class: 'muted' }, 'The configuration in force, as the keys of the file. Tokens, passwords, secrets and URL passwords are masked (xxxxx) by the server.'), pre));
  },
};
