// The embedding map: every sample of the split as one point of the scatter (scatter.js), coloured by a
// category (legend: click an entry to hide it) or by a score (17 viridis bins, colour bar). The current sample
// is marked by an HTML ring over the plot; hovering a point shows its thumbnail.

import { Scatter, packColour } from './scatter.js';
import {
  S, STATUS_COLOURS, classColour, className, scoreDirection, splitCode,
} from './store.js';

const el = () => document.getElementById('map');
let plot = null;
let handlers = {};
let current = null;          // last render options
let drawnSids = new Int32Array(0);  // drawnSids[point] = sid
let hidden = new Set();      // legend entries switched off (by name, kept across redraws)
let shown = { proj: null, split: null };

function categories(colour) {
  const c = S.cols;
  const C = S.meta.classes.length;
  const classCats = (fn, withIdk) => ({
    names: [...S.meta.classes, ...(withIdk ? [S.meta.idk_name] : [])].map((_, k) => className(k)),
    colours: [...Array(C + (withIdk ? 1 : 0)).keys()].map(classColour), of: fn });
  if (colour === 'label') return classCats((i) => c.label[i], false);
  if (colour === 'pred') return classCats((i) => c.pred[i], false);
  if (colour === 'curated') return classCats((i) => S.curated[i], true);
  if (colour === 'status') return { names: S.meta.status_names, colours: STATUS_COLOURS, of: (i) => S.status[i] };
  return null;
}

function markerSize(n) {
  return n > 30000 ? 3 : n > 8000 ? 4 : n > 2000 ? 5 : 7;
}

// Viridis in 17 even steps: a score is drawn in 17 bins, the most doubtful end on top.
const VIRIDIS = ['#440154', '#48186a', '#472d7b', '#424086', '#3b528b', '#33638d', '#2c728e', '#26828e', '#21918c',
  '#1fa088', '#28ae80', '#3fbc73', '#5ec962', '#84d44b', '#addc30', '#d8e219', '#fde725'];

function quantile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

/**
 * Groups with one colour each, drawn in list order (the last on top): ``list`` of {name, colour, count, bin},
 * ``key[j]`` = the group of ``members[j]`` (255: none). Typed arrays throughout: a million points take tens
 * of milliseconds.
 */
function groups(opts, members) {
  const key = new Uint8Array(members.length).fill(255);
  const cats = categories(opts.colour);
  if (cats) {
    const list = cats.names.map((name, k) => ({ name, colour: cats.colours[k], count: 0 }));
    for (let j = 0; j < members.length; j++) {
      const k = cats.of(members[j]);
      if (k >= 0 && k < list.length) { key[j] = k; list[k].count++; }
    }
    return { list, key };
  }
  const v = S.cols[opts.colour];
  let finite = 0;
  for (let j = 0; j < members.length; j++) if (Number.isFinite(v[members[j]])) finite++;
  const sorted = new Float32Array(finite);
  for (let j = 0, k = 0; j < members.length; j++) if (Number.isFinite(v[members[j]])) sorted[k++] = v[members[j]];
  sorted.sort();
  let lo = quantile(sorted, 0.01), hi = quantile(sorted, 0.99);
  if (!(hi > lo)) { lo = sorted[0] ?? 0; hi = (sorted[sorted.length - 1] ?? 0) + 1e-9; }
  const dir = scoreDirection(opts.colour);
  const last = VIRIDIS.length - 1;
  // group 0: no value; then the bins, the most doubtful end last (on top)
  const bins = VIRIDIS.map((colour, k) => ({ name: `bin ${k}`, colour: dir > 0 ? colour : VIRIDIS[last - k],
    count: 0, bin: true }));
  const list = [{ name: 'no value', colour: '#3a3f47', count: 0 }, ...(dir < 0 ? [...bins].reverse() : bins)];
  for (let j = 0; j < members.length; j++) {
    const x = v[members[j]];
    let g = 0;
    if (Number.isFinite(x)) {
      const b = Math.max(0, Math.min(last, Math.floor(((x - lo) / (hi - lo)) * (last + 1))));
      g = 1 + (dir < 0 ? last - b : b);
    }
    key[j] = g;
    list[g].count++;
  }
  return { list, key, scale: { lo, hi, reverse: dir < 0, name: opts.colour } };
}

/** Draw (or redraw) the map; ``selection`` is a Set of sids or null. */
export function renderMap(opts, selection) {
  current = { ...opts, selection };
  const c = S.cols;
  const xs = c[`${opts.proj}_x`], ys = c[`${opts.proj}_y`];
  const code = splitCode(opts.split);
  let m = 0;
  const all = new Int32Array(S.n);
  for (let i = 0; i < S.n; i++) if ((code < 0 || c.split[i] === code) && Number.isFinite(xs[i])) all[m++] = i;
  const members = all.subarray(0, m);
  const { list, key, scale } = groups(opts, members);
  // counting sort by group: where each drawn group starts among the points
  const start = new Int32Array(list.length).fill(-1);
  let n = 0;
  list.forEach((g, k) => {
    if (g.count && !(hidden.has(g.name) && !g.bin)) { start[k] = n; n += g.count; }
  });
  const x = new Float32Array(n), y = new Float32Array(n), colour = new Uint32Array(n);
  const packed = list.map((g) => packColour(g.colour));
  drawnSids = new Int32Array(n);
  for (let j = 0; j < members.length; j++) {
    const g = key[j];
    if (g === 255 || start[g] < 0) continue;
    const at = start[g]++, sid = members[j];
    drawnSids[at] = sid;
    x[at] = xs[sid];
    y[at] = ys[sid];
    colour[at] = packed[g];
  }
  const resetView = shown.proj !== opts.proj || shown.split !== opts.split;
  shown = { proj: opts.proj, split: opts.split };
  plot.mode = opts.dragmode ?? 'lasso';
  plot.setData({ x, y, colour, size: markerSize(members.length) }, { resetView });
  if (selection) plot.setSelection(selectedMask(selection), { keepShape: true });
  legend(scale ? [] : list.filter((g) => g.count), scale);
  setHighlight(opts.highlight ?? null);
}

function selectedMask(selection) {
  const bySid = new Uint8Array(S.n);
  selection.forEach((sid) => { bySid[sid] = 1; });
  const mask = new Uint8Array(drawnSids.length);
  for (let j = 0; j < drawnSids.length; j++) mask[j] = bySid[drawnSids[j]];
  return mask;
}

/** The legend (categories: click to hide or show) or the colour bar (scores); names inserted as text. */
function legend(list, scale) {
  const box = el().querySelector('.legend');
  box.replaceChildren(...list.map((g) => {
    const item = document.createElement('button');
    item.className = hidden.has(g.name) ? 'off' : '';
    const swatch = document.createElement('i');
    swatch.style.background = g.colour;
    item.append(swatch, `${g.name} (${g.count})`);
    item.title = 'click to hide or show';
    item.addEventListener('click', () => {
      if (hidden.has(g.name)) hidden.delete(g.name); else hidden.add(g.name);
      renderMap(current, current.selection);
    });
    return item;
  }));
  const bar = el().querySelector('.colourbar');
  bar.hidden = !scale;
  if (!scale) return;
  const stops = (scale.reverse ? [...VIRIDIS].reverse() : VIRIDIS).join(', ');
  bar.querySelector('.ramp').style.background = `linear-gradient(to top, ${stops})`;
  const f = (v) => Number(v.toPrecision(3)).toString();
  bar.querySelector('.hi').textContent = f(scale.hi);
  bar.querySelector('.lo').textContent = f(scale.lo);
  bar.querySelector('.name').textContent = scale.name;
}

export function setHighlight(sid) {
  if (current) current.highlight = sid;
  placeRing();
}

/** Where sample ``sid`` is drawn, in client (viewport) pixels, or null (not on the map). */
export function sidOnScreen(sid) {
  const xs = current && S.cols[`${current.proj}_x`], ys = current && S.cols[`${current.proj}_y`];
  if (!plot?.view || sid === null || sid === undefined || !Number.isFinite(xs[sid])) return null;
  const [px, py] = plot.toScreen(xs[sid], ys[sid]);
  const r = el().getBoundingClientRect();
  return { x: r.left + px, y: r.top + py, inside: px >= 0 && px <= plot.width && py >= 0 && py <= plot.height };
}

/** Put the ring on the current sample (after a redraw, zoom, pan or resize). */
function placeRing() {
  const ring = document.getElementById('map-ring');
  if (!ring) return;
  const at = sidOnScreen(current?.highlight);
  ring.hidden = !at?.inside;
  if (!at) return;
  ring.style.left = `${el().offsetLeft + at.x - el().getBoundingClientRect().left}px`;
  ring.style.top = `${el().offsetTop + at.y - el().getBoundingClientRect().top}px`;
}

export function setDragMode(mode) {
  if (!current) return;
  current.dragmode = mode;
  plot.mode = mode;
}

export function clearMapSelection() {
  plot?.setSelection(null);
}

export function initMap(h) {
  handlers = h;
  const div = el();
  const legendBox = Object.assign(document.createElement('div'), { className: 'legend' });
  const bar = Object.assign(document.createElement('div'), { className: 'colourbar', hidden: true });
  for (const cls of ['name', 'hi', 'ramp', 'lo']) bar.append(Object.assign(document.createElement('span'), { className: cls }));
  plot = new Scatter(div, {
    select: (points) => {
      if (!points) { handlers.onSelect(null); return; }
      const sids = new Set(points.map((j) => drawnSids[j]));
      plot.setSelection(selectedMask(sids), { keepShape: true });
      handlers.onSelect(sids);
    },
    hover: (j, e) => handlers.onHover(j === null ? null : drawnSids[j], { x: e.clientX, y: e.clientY }),
    click: (j) => handlers.onClick(drawnSids[j]),
    view: placeRing,
  }, { renderer: new URLSearchParams(location.search).get('map') ?? 'auto' }); // ?map=webgl|canvas forces one
  div.append(legendBox, bar);
  const note = plot.renderer === 'webgl' ? null : plot.support === 'none'
    ? 'WebGL is not available in this browser: the map is drawn on the CPU (slow with many points)'
    : plot.support === 'software' ? 'No GPU for WebGL here: the map is drawn on the CPU (faster than software WebGL)'
      : null;
  if (note) div.append(Object.assign(document.createElement('div'), { className: 'map-note', textContent: note }));
  const ring = document.createElement('div');
  ring.id = 'map-ring';
  ring.hidden = true;
  div.parentElement.append(ring);
  // for tests and the benchmark: where a sample is drawn, the legend entries, how many points are drawn
  window.gz = { ...(window.gz || {}), map: { sidOnScreen, drawn: () => drawnSids.length, renderer: plot.renderer,
    view: () => ({ ...plot.view }),
    groups: () => [...div.querySelectorAll('.legend button')].map((b) => b.textContent) } };
}
