// The controls: header and toolbar widgets, the keyboard, and the export dialog.

import { postJSON, toast } from './api.js';
import { h, option } from './dom.js';
import { PAGE } from './grid.js';
import { keyCommand } from './keys.js';
import { setDragMode } from './map.js';
import {
  A, $, acceptSuggestion, bulk, clearSelection, decide, move, renderMapNow, requery, setCursor, setMode, undo,
} from './review.js';
import { S, extent, hasDuplicates, scoreDirection, splitCode } from './store.js';

async function doExport() {
  const btn = $('export-btn');
  btn.disabled = true;
  btn.textContent = 'Exporting…';
  try {
    const r = await postJSON('/api/export', { include_proposals: true });
    const names = [...S.meta.classes, S.meta.idk_name];
    const head = h('tr', {}, h('th', {}, 'split'), names.map((c) => h('th', {}, c)), h('th', {}, 'total'));
    const rows = Object.entries(r.counts).map(([split, counts]) => {
      const total = names.reduce((s, c) => s + (counts[c] ?? 0), 0);
      return h('tr', {}, h('td', {}, split), names.map((c) => h('td', {}, counts[c] ?? 0)), h('td', {}, h('b', {}, total)));
    });
    const by = Object.entries(r.decided_by).map(([k, v]) => `${k}: ${v}`).join(' · ');
    $('export-body').replaceChildren(
      h('p', {}, 'Wrote ', h('code', {}, r.path), ` in ${r.seconds} s (`,
        r.include_proposals ? 'auto proposals included' : 'human decisions only', ').'),
      h('table', { className: 'counts' }, head, rows),
      h('p', { className: 'muted' }, `Curated label decided by: ${by}`));
    $('export-dialog').showModal();
  } catch (e) {
    toast(`Export failed: ${e.message}`, { error: true });
  } finally {
    btn.disabled = false;
    btn.textContent = 'Export';
  }
}

// ------------------------------------------------------------------ controls
export function setupControls() {
  const m = S.meta, hd = S.header;
  $('dataset').textContent = `${m.dataset} · ${m.n.toLocaleString()} samples`;
  $('author').textContent = `deciding as ${m.author}`;
  $('split').replaceChildren(option('all', `all (${m.n.toLocaleString()})`, true),
    ...Object.entries(m.splits).map(([s, n]) => option(s, `${s} (${n.toLocaleString()})`)));
  const scoreOpts = (sel) => hd.scores.map((s) => option(s, s, s === sel));
  $('colour').replaceChildren(option('status', 'decision status', true), option('label', 'label'),
    option('pred', 'predicted label'), option('curated', 'curated label'),
    h('optgroup', { label: 'score' }, scoreOpts('')));
  const classes = () => [option(-1, 'any', true), ...m.classes.map((c, k) => option(k, c))];
  $('f-label').replaceChildren(...classes());
  $('f-pred').replaceChildren(...classes());
  if (!hd.scores.includes(A.sort)) A.sort = hd.scores[0] ?? 'sid';
  $('sort').replaceChildren(...scoreOpts(A.sort), option('sid', 'sample id'));
  A.desc = A.sort === 'sid' ? false : scoreDirection(A.sort) > 0;
  $('sort-dir').textContent = A.desc ? '↓' : '↑';
  $('r-col').replaceChildren(option('', '–', true), ...scoreOpts(''));
  $('bulk-relabel').replaceChildren(option('', 'Relabel as…', true), ...m.classes.map((c, k) => option(k, c)));
  if (!hasDuplicates()) {
    $('f-dup').disabled = true;
    $('f-dup').title = 'this workspace has no duplicate columns (re-run greyzone run)';
  }
  if (!hd.projections.umap) {
    const b = document.querySelector('#proj [data-proj=umap]');
    b.disabled = true;
    b.title = 'UMAP was not computed for this workspace (greyzone run --umap)';
  }

  const onChange = (id, fn) => $(id).addEventListener('change', (e) => {
    fn(e.target.value);
    e.target.blur();
  });
  onChange('split', (v) => { A.split = v; renderMapNow(); rangeHints(); requery(); });
  onChange('colour', (v) => { A.colour = v; renderMapNow(); });
  onChange('source', (v) => { A.source = v; requery(); });
  onChange('f-label', (v) => { A.label = Number(v); requery(); });
  onChange('f-pred', (v) => { A.pred = Number(v); requery(); });
  onChange('f-status', (v) => { A.status = v; requery(); });
  onChange('f-dup', (v) => { A.dup = v; requery(); });
  onChange('sort', (v) => {
    A.sort = v;
    A.desc = v === 'sid' ? false : scoreDirection(v) > 0;
    $('sort-dir').textContent = A.desc ? '↓' : '↑';
    requery();
  });
  onChange('r-col', () => { rangeHints(); readRange(); requery(); });
  onChange('r-min', () => { readRange(); requery(); });
  onChange('r-max', () => { readRange(); requery(); });
  onChange('bulk-relabel', (v) => {
    if (v !== '') bulk('relabel', Number(v));
    $('bulk-relabel').value = '';
  });
  $('sort-dir').addEventListener('click', () => {
    A.desc = !A.desc;
    $('sort-dir').textContent = A.desc ? '↓' : '↑';
    requery();
  });
  $('reset').addEventListener('click', resetFilters);
  $('clear-sel').addEventListener('click', clearSelection);
  $('prev-page').addEventListener('click', () => move({ type: 'page', by: -1 }));
  $('next-page').addEventListener('click', () => move({ type: 'page', by: 1 }));
  $('bulk-idk').addEventListener('click', () => bulk('idk'));
  $('bulk-keep').addEventListener('click', () => bulk('keep'));
  $('export-btn').addEventListener('click', doExport);
  $('help-btn').addEventListener('click', () => $('help').showModal());
  document.querySelectorAll('dialog [data-close]').forEach((b) => b.addEventListener('click',
    () => b.closest('dialog').close()));
  segmented('proj', 'proj', (v) => { A.proj = v; renderMapNow(); });
  segmented('drag', 'mode', (v) => { A.dragmode = v; setDragMode(v); });
  segmented('mode', 'mode', setMode);
  $('grid').addEventListener('click', (e) => {
    const cell = e.target.closest('.cell');
    if (cell) setCursor(A.page * PAGE + Number(cell.dataset.k));
  });
  $('reason').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === 'Escape') e.target.blur();
  });
  document.addEventListener('keydown', onKey);
}

function segmented(id, attr, fn) {
  const box = $(id);
  box.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b || b.disabled) return;
    box.querySelectorAll('button').forEach((x) => x.classList.toggle('on', x === b));
    b.blur();
    fn(b.dataset[attr]);
  });
}

function rangeHints() {
  const col = $('r-col').value;
  const [lo, hi] = col ? extent(col, splitCode(A.split)) : [NaN, NaN];
  $('r-min').placeholder = Number.isFinite(lo) ? lo.toFixed(3) : 'min';
  $('r-max').placeholder = Number.isFinite(hi) ? hi.toFixed(3) : 'max';
}

function readRange() {
  const num = (v, dflt) => (v === '' || Number.isNaN(Number(v)) ? dflt : Number(v));
  A.range = { col: $('r-col').value, min: num($('r-min').value, -Infinity), max: num($('r-max').value, Infinity) };
}

function resetFilters() {
  Object.assign(A, { label: -1, pred: -1, status: 'any', dup: 'any', range: { col: '', min: -Infinity, max: Infinity } });
  for (const id of ['f-label', 'f-pred']) $(id).value = '-1';
  $('f-status').value = $('f-dup').value = 'any';
  $('r-col').value = '';
  $('r-min').value = $('r-max').value = '';
  rangeHints();
  requery();
}

function onKey(e) {
  const cmd = keyCommand(e, S.meta.classes.length);
  if (!cmd) return;
  e.preventDefault();
  if (cmd.type === 'decide') decide(cmd.action, cmd.label);
  else if (cmd.type === 'accept') acceptSuggestion();
  else if (cmd.type === 'undo') undo();
  else if (cmd.type === 'mode') setMode(A.mode === 'grid' ? 'single' : 'grid');
  else if (cmd.type === 'clear') clearSelection();
  else if (cmd.type === 'help') $('help').showModal();
  else move(cmd);
}
