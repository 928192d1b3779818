// Start-up: load what the map needs and draw it (then ``document.body.dataset.ready = 'map'``), then the other
// columns, the controls and the grid (then ``dataset.started = '1'``); poll for decisions made in other tabs.

import { getJSON, toast } from './api.js';
import { setupControls } from './controls.js';
import { updateCells } from './grid.js';
import { initMap } from './map.js';
import {
  A, afterStateChange, history, onHover, onSelect, pick, renderList, renderMapNow,
} from './review.js';
import { S, loadColumns, loadMap, query, refreshState } from './store.js';

window.gz = { A, S };
window.gzTimings = window.gzTimings || {}; // milliseconds since navigation start, read by the benchmark

// ------------------------------------------------------------------ decisions made in other tabs
let polling = false;
async function poll() {
  if (polling || document.hidden) return;
  polling = true;
  try {
    const head = await getJSON('/api/decisions/head');
    if (head.last_id !== S.lastId) {
      if (await refreshState()) {
        updateCells(null);
        afterStateChange([]);
      } else history();
    }
  } catch { /* the server may be restarting; try again next time */ } finally {
    polling = false;
  }
}

// ------------------------------------------------------------------ start
/** Resolves once the next frame has been painted (a task queued from requestAnimationFrame runs after it). */
const afterPaint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

async function main() {
  await loadMap();
  window.gzTimings.data = performance.now();
  initMap({ onSelect, onHover, onClick: pick });
  renderMapNow();
  window.gzTimings.drawn = performance.now();
  await afterPaint(); // the first frame with the map in it is on screen
  window.gzTimings.map = performance.now();
  document.body.dataset.ready = 'map';
  await loadColumns(); // asked for only now: on two cores its transfer slowed the first paint by a second
  setupControls();
  A.list = query(A);
  window.gzTimings.controls = performance.now();
  await renderList(); // the grid's cells, then its sprite
  history();
  setInterval(poll, 2000);
  document.body.dataset.started = '1';
}

main().catch((e) => {
  toast(`greyzone failed to start: ${e.message}`, { error: true });
  throw e;
});
