// Start-up: load the data, draw the grid, then the map (plotly.js loads meanwhile); poll for decisions made
// in other tabs.

import { getJSON, toast } from './api.js';
import { setupControls } from './controls.js';
import { updateCells } from './grid.js';
import { initMap } from './map.js';
import {
  A, afterStateChange, history, onHover, onSelect, pick, renderList, renderMapNow,
} from './review.js';
import { S, load, query, refreshState } from './store.js';

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
/** plotly.js (served from the plotly wheel) loads while the data downloads; it is only needed by the map. */
function loadPlotly() {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/vendor/plotly.min.js';
    script.onload = resolve;
    script.onerror = () => reject(new Error('could not load /vendor/plotly.min.js'));
    document.head.append(script);
  });
}

async function main() {
  const plotly = loadPlotly().then(() => { window.gzTimings.plotly = performance.now(); });
  await load();
  window.gzTimings.data = performance.now();
  setupControls();
  initMap({ onSelect, onHover, onClick: pick });
  A.list = query(A);
  const grid = renderList();
  const painted = plotly.then(renderMapNow).then(() => new Promise(requestAnimationFrame)).then(() => {
    window.gzTimings.map = performance.now();
    document.body.dataset.mapReady = '1';
  });
  await grid;
  history();
  setInterval(poll, 2000);
  await painted;
  document.body.dataset.ready = '1';
}

main().catch((e) => {
  toast(`greyzone failed to start: ${e.message}`, { error: true });
  throw e;
});
