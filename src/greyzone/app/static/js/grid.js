// The thumbnail grid (a page of up to 200 samples from one sprite-sheet request) and the one-at-a-time view.

import { IDK, KEPT, RELABELLED, S, className, suggestion } from './store.js';

export const PAGE = 200;
const SPRITE_COLS = 20;
const grid = () => document.getElementById('grid');
let renderToken = 0;
window.gzTimings = window.gzTimings || {};

function cellSize() {
  return parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--cell')) || 56;
}

function statusText(sid) {
  const st = S.status[sid];
  if (st === KEPT) return 'keep';
  if (st === IDK) return S.meta.idk_name;
  if (st === RELABELLED) return `→${className(S.curated[sid])}`;
  return '';
}

function cellHtml(sid, k, size) {
  const label = S.cols.label[sid], pred = S.cols.pred[sid];
  const col = k % SPRITE_COLS, row = Math.floor(k / SPRITE_COLS);
  const pr = pred !== label ? `<span class="pr" title="predicted">${className(pred)}</span>` : '';
  return `<div class="cell s-${S.status[sid]}" data-k="${k}" data-sid="${sid}" title="sid ${sid}">`
    + `<div class="img" style="background-position:-${col * size}px -${row * size}px"></div>`
    + `<span class="lb" title="label">${className(label)}</span>${pr}<span class="st">${statusText(sid)}</span></div>`;
}

/** Render page ``page`` of ``list``; resolves when the sprite is decoded and painted. */
export async function renderPage(list, page) {
  const token = ++renderToken;
  const ids = list.subarray(page * PAGE, Math.min(list.length, (page + 1) * PAGE));
  const g = grid();
  if (!ids.length) {
    g.innerHTML = '<div class="empty">Nothing matches. Change the filters, or select points on the map.</div>';
    return;
  }
  const size = cellSize();
  g.innerHTML = Array.from(ids, (sid, k) => cellHtml(sid, k, size)).join('');
  g.scrollTop = 0;
  const cols = Math.min(SPRITE_COLS, ids.length);
  const rows = Math.ceil(ids.length / cols);
  const url = `/api/sprite?sids=${ids.join(',')}&cols=${cols}`;
  const start = performance.now();
  const img = new Image();
  img.src = url;
  try {
    await img.decode();
  } catch {
    return; // a newer page replaced this one, or the request failed (shown by the browser)
  }
  if (token !== renderToken) return;
  const bg = `url("${url}")`, bgSize = `${cols * size}px ${rows * size}px`;
  for (const div of g.querySelectorAll('.cell .img')) {
    div.style.backgroundImage = bg;
    div.style.backgroundSize = bgSize;
  }
  await new Promise((r) => requestAnimationFrame(() => r()));
  window.gzTimings.grid = { ms: performance.now() - start, n: ids.length, end: performance.now() };
}

/** Refresh the status badges of the visible cells (after decisions). */
export function updateCells(sids) {
  const want = sids ? new Set(sids) : null;
  for (const div of grid().querySelectorAll('.cell')) {
    const sid = Number(div.dataset.sid);
    if (want && !want.has(sid)) continue;
    div.className = `cell s-${S.status[sid]}${div.classList.contains('cur') ? ' cur' : ''}`;
    div.querySelector('.st').textContent = statusText(sid);
  }
}

export function markPending(sid, on) {
  grid().querySelector(`.cell[data-sid="${sid}"]`)?.classList.toggle('pending', on);
}

export function setCursorCell(k, { scroll = true } = {}) {
  const g = grid();
  g.querySelector('.cell.cur')?.classList.remove('cur');
  const div = g.querySelector(`.cell[data-k="${k}"]`);
  if (!div) return;
  div.classList.add('cur');
  if (scroll) div.scrollIntoView({ block: 'nearest' });
}

export function gridColumns() {
  const cols = getComputedStyle(grid()).gridTemplateColumns.split(' ').filter(Boolean).length;
  return Math.max(1, cols);
}

/** "relabel → 7" or "IDK" for a :func:`suggestion`. */
export const suggestionText = (s) => (s.action === 'relabel' ? `relabel → ${className(s.label)}` : S.meta.idk_name);

export function renderSingle(list, cursor) {
  const box = document.getElementById('single');
  if (!list.length) {
    box.innerHTML = '<p class="muted">Nothing to review here.</p>';
    return;
  }
  const sid = list[cursor];
  const label = S.cols.label[sid], pred = S.cols.pred[sid], st = S.status[sid];
  const status = S.meta.status_names[st];
  const outcome = st === RELABELLED ? ` → ${className(S.curated[sid])}` : '';
  const s = suggestion(sid);
  const suggested = s ? `<div class="suggest">Suggested: ${suggestionText(s)} · <kbd>Enter</kbd> accepts</div>` : '';
  box.innerHTML = `<div class="big" style="background-image:url('/api/thumb/${sid}')"></div>
    <div class="line">label <b>${className(label)}</b> · predicted <b>${className(pred)}</b>
      · <span class="chip st-${st}">${status}${outcome}</span></div>
    ${suggested}<div class="pos">${cursor + 1} / ${list.length} in this list · sid ${sid}</div>
    <div class="muted"><kbd>i</kbd> IDK · <kbd>k</kbd> keep · <kbd>0</kbd>–<kbd>9</kbd> relabel ·
      <kbd>Enter</kbd> accept suggestion · <kbd>u</kbd> undo · <kbd>←</kbd>/<kbd>→</kbd> move</div>`;
}
