// every(ms, fn, signal, busy) runs fn now and then every ms until signal
// aborts. A run is skipped while busy() says the user is working in the
// part it would redraw; a failed run is reported once, not every time.

import { notify } from './dom.js';
import { errorText } from './api.js';

export function every(ms, fn, signal, busy) {
  let failing = false;
  let timer = 0;
  const tick = async () => {
    if (signal.aborted) return;
    if (!busy || !busy()) {
      try {
        await fn();
        failing = false;
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        if (!failing) notify(`Refresh failed: ${errorText(e)}`, 'error');
        failing = true;
      }
    }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener('abort', () => clearTimeout(timer));
  return tick();
}
