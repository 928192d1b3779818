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

/** Groups of sids with one colour each, drawn in order (the last on top). */
function groups(opts, members) {
  const cats = categories(opts.colour);
  if (cats) {
    const out = cats.names.map((name, k) => ({ name, colour: cats.colours[k], sids: [] }));
    for (const i of members) out[cats.of(i)]?.sids.push(i);
    if (opts.colour === 'status') out.unshift(out.splice(0, 1)[0]); // undecided drawn first, below the rest
    return { list: out };
  }
  const v = S.cols[opts.colour];
  const finite = members.filter((i) => Number.isFinite(v[i]));
  const sorted = Float32Array.from(finite, (i) => v[i]).sort();
  let lo = quantile(sorted, 0.01), hi = quantile(sorted, 0.99);
  if (!(hi > lo)) { lo = sorted[0] ?? 0; hi = (sorted[sorted.length - 1] ?? 0) + 1e-9; }
  const dir = scoreDirection(opts.colour);
  const bins = VIRIDIS.map((colour, k) => ({ name: `bin ${k}`, colour: dir > 0 ? colour
    : VIRIDIS[VIRIDIS.length - 1 - k], sids: [], bin: true }));
  const last = VIRIDIS.length - 1;
  for (const i of finite) bins[Math.max(0, Math.min(last, Math.floor(((v[i] - lo) / (hi - lo)) * (last + 1))))].sids.push(i);
  if (dir < 0) bins.reverse(); // the most doubtful end is drawn on top
  const none = { name: 'no value', colour: '#3a3f47', sids: members.filter((i) => !Number.isFinite(v[i])) };
  return { list: [none, ...bins], scale: { lo, hi, reverse: dir < 0, name: opts.colour } };
}

/** Draw (or redraw) the map; ``selection`` is a Set of sids or null. */
export function renderMap(opts, selection) {
  current = { ...opts, selection };
  const c = S.cols;
  const xs = c[`${opts.proj}_x`], ys = c[`${opts.proj}_y`];
  const code = splitCode(opts.split);
  const members = [];
  for (let i = 0; i < S.n; i++) if ((code < 0 || c.split[i] === code) && Number.isFinite(xs[i])) members.push(i);
  const { list, scale } = groups(opts, members);
  const drawn = list.filter((g) => g.sids.length && !(hidden.has(g.name) && !g.bin));
  const n = drawn.reduce((s, g) => s + g.sids.length, 0);
  const x = new Float32Array(n), y = new Float32Array(n), colour = new Uint32Array(n);
  drawnSids = new Int32Array(n);
  let k = 0;
  for (const g of drawn) {
    const packed = packColour(g.colour);
    for (const sid of g.sids) {
      drawnSids[k] = sid;
      x[k] = xs[sid];
      y[k] = ys[sid];
      colour[k++] = packed;
    }
  }
  const resetView = shown.proj !== opts.proj || shown.split !== opts.split;
  shown = { proj: opts.proj, split: opts.split };
  plot.mode = opts.dragmode ?? 'lasso';
  plot.setData({ x, y, colour, size: markerSize(members.length) }, { resetView });
  if (selection) plot.setSelection(selectedMask(selection), { keepShape: true });
  legend(scale ? [] : list.filter((g) => g.sids.length), scale);
  setHighlight(opts.highlight ?? null);
}

function selectedMask(selection) {
  const mask = new Uint8Array(drawnSids.length);
  drawnSids.forEach((sid, j) => { if (selection.has(sid)) mask[j] = 1; });
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
    item.append(swatch, `${g.name} (${g.sids.length})`);
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
  });
  div.append(legendBox, bar);
  const ring = document.createElement('div');
  ring.id = 'map-ring';
  ring.hidden = true;
  div.parentElement.append(ring);
  // for tests and the benchmark: where a sample is drawn, the legend entries, how many points are drawn
  window.gz = { ...(window.gz || {}), map: { sidOnScreen, drawn: () => drawnSids.length,
    groups: () => [...div.querySelectorAll('.legend button')].map((b) => b.textContent) } };
}
