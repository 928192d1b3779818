// The thumbnail grid (a page of up to 200 samples from one sprite-sheet request) and the one-at-a-time view.

import { fill, h, kbd } from './dom.js';
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

function cell(sid, k, size) {
  const label = S.cols.label[sid], pred = S.cols.pred[sid];
  const col = k % SPRITE_COLS, row = Math.floor(k / SPRITE_COLS);
  return h('div', { className: `cell s-${S.status[sid]}`, dataset: { k, sid }, title: `sid ${sid}` },
    h('div', { className: 'img', style: { backgroundPosition: `-${col * size}px -${row * size}px` } }),
    h('span', { className: 'lb', title: 'label' }, className(label)),
    pred !== label && h('span', { className: 'pr', title: 'predicted' }, className(pred)),
    h('span', { className: 'st' }, statusText(sid)));
}

/** Render page ``page`` of ``list``; resolves when the sprite is decoded and painted. */
export async function renderPage(list, page) {
  const token = ++renderToken;
  const ids = list.subarray(page * PAGE, Math.min(list.length, (page + 1) * PAGE));
  const g = grid();
  if (!ids.length) {
    g.replaceChildren(h('div', { className: 'empty' },
      'Nothing matches. Change the filters, or select points on the map.'));
    return;
  }
  const size = cellSize();
  g.replaceChildren(...Array.from(ids, (sid, k) => cell(sid, k, size)));
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
    box.replaceChildren(h('p', { className: 'muted' }, 'Nothing to review here.'));
    return;
  }
  const sid = list[cursor];
  const label = S.cols.label[sid], pred = S.cols.pred[sid], st = S.status[sid];
  const status = S.meta.status_names[st];
  const outcome = st === RELABELLED ? ` → ${className(S.curated[sid])}` : '';
  const s = suggestion(sid);
  fill(box,
    h('div', { className: 'big', style: { backgroundImage: `url('/api/thumb/${Number(sid)}')` } }),
    h('div', { className: 'line' }, 'label ', h('b', {}, className(label)), ' · predicted ',
      h('b', {}, className(pred)), ' · ', h('span', { className: `chip st-${st}` }, `${status}${outcome}`)),
    s && h('div', { className: 'suggest' }, `Suggested: ${suggestionText(s)} · `, kbd('Enter'), ' accepts'),
    h('div', { className: 'pos' }, `${cursor + 1} / ${list.length} in this list · sid ${sid}`),
    h('div', { className: 'muted' }, kbd('i'), ' IDK · ', kbd('k'), ' keep · ', kbd('0'), '–', kbd('9'),
      ' relabel · ', kbd('Enter'), ' accept suggestion · ', kbd('u'), ' undo · ', kbd('←'), '/', kbd('→'),
      ' move'));
}
