// The embedding map: one plotly scattergl plot of every sample of the split, typed arrays throughout.
// Categorical colourings become one trace per category (a real legend, click to hide); scores are binned
// into single-colour traces. The current sample is marked by an HTML ring over the plot (moving it costs no
// WebGL redraw).

/* global Plotly */
import {
  S, STATUS_COLOURS, classColour, className, scoreDirection, splitCode,
} from './store.js';

const el = () => document.getElementById('map');
let traceSids = [];          // traceSids[curve][pointIndex] = sid
let handlers = {};
let current = null;          // last render options
let pos = { x: null, y: null };
let bound = false;

const LAYOUT = {
  paper_bgcolor: '#0d1117', plot_bgcolor: '#0d1117', font: { color: '#c9d1d9', size: 12 },
  margin: { l: 8, r: 8, t: 8, b: 8 }, dragmode: 'lasso', hovermode: 'closest', uirevision: 'keep',
  xaxis: { visible: false }, yaxis: { visible: false },
  legend: { orientation: 'h', x: 0, y: 1, yanchor: 'bottom', bgcolor: '#0d1117cc', font: { size: 11 },
    itemsizing: 'constant' },
  showlegend: true,
};
const CONFIG = { displaylogo: false, responsive: true, scrollZoom: true,
  modeBarButtonsToRemove: ['toImage', 'select2d', 'lasso2d', 'zoom2d', 'pan2d', 'autoScale2d'] };

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

// Viridis in 17 even steps: a score is drawn as 17 single-colour traces (plotly maps a per-point colour
// scale over 70,000 points about 5x slower than it draws plain-coloured traces).
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
  const bins = VIRIDIS.map((colour, k) => ({ name: `${opts.colour} bin ${k}`, colour: dir > 0 ? colour
    : VIRIDIS[VIRIDIS.length - 1 - k], sids: [], bin: true }));
  const last = VIRIDIS.length - 1;
  for (const i of finite) bins[Math.max(0, Math.min(last, Math.floor(((v[i] - lo) / (hi - lo)) * (last + 1))))].sids.push(i);
  if (dir < 0) bins.reverse(); // the most doubtful end is drawn on top
  const none = { name: 'no value', colour: '#3a3f47', sids: members.filter((i) => !Number.isFinite(v[i])) };
  return { list: [none, ...bins], scale: { lo, hi, reverse: dir < 0, name: opts.colour } };
}

function buildTraces(opts, selection) {
  const c = S.cols;
  const xs = c[`${opts.proj}_x`], ys = c[`${opts.proj}_y`];
  const code = splitCode(opts.split);
  const members = [];
  for (let i = 0; i < S.n; i++) if ((code < 0 || c.split[i] === code) && Number.isFinite(xs[i])) members.push(i);
  const size = markerSize(members.length);
  const { list, scale } = groups(opts, members);
  const drawn = list.filter((g) => g.sids.length);
  traceSids = drawn.map((g) => Int32Array.from(g.sids));
  const traces = drawn.map((g, t) => {
    const sids = traceSids[t];
    const x = new Float32Array(sids.length), y = new Float32Array(sids.length);
    sids.forEach((sid, j) => { x[j] = xs[sid]; y[j] = ys[sid]; });
    const trace = { type: 'scattergl', mode: 'markers', name: `${g.name} (${sids.length})`, x, y,
      marker: { size, color: g.colour, opacity: 0.8 }, hoverinfo: 'none', showlegend: !g.bin,
      selected: { marker: { opacity: 1 } }, unselected: { marker: { opacity: 0.15 } } };
    if (selection) trace.selectedpoints = selectedIndices(sids, selection);
    return trace;
  });
  if (scale && members.length) { // a one-point trace that only carries the colour bar
    traces.push({ type: 'scatter', mode: 'markers', x: [xs[members[0]]], y: [ys[members[0]]], hoverinfo: 'skip',
      showlegend: false, marker: { size: 0.1, opacity: 0, color: [scale.lo], cmin: scale.lo, cmax: scale.hi,
        colorscale: 'Viridis', reversescale: scale.reverse, showscale: true,
        colorbar: { title: { text: scale.name, side: 'right' }, thickness: 10, len: 0.6, x: 1.01, xanchor: 'left',
          bgcolor: '#0d1117aa', tickfont: { size: 10 }, tickformat: '.3~g' } } });
  }
  return traces;
}

function selectedIndices(sids, selection) {
  const out = [];
  sids.forEach((sid, j) => { if (selection.has(sid)) out.push(j); });
  return out;
}

/** Draw (or redraw) the map; ``selection`` is a Set of sids or null. Resolves when plotly has drawn it. */
export async function renderMap(opts, selection) {
  current = opts;
  const traces = buildTraces(opts, selection);
  const scale = traces.some((t) => t.marker.showscale);
  const layout = { ...LAYOUT, dragmode: opts.dragmode ?? LAYOUT.dragmode, selections: [],
    margin: { ...LAYOUT.margin, r: scale ? 64 : LAYOUT.margin.r } };
  await Plotly.react(el(), traces, layout, CONFIG);
  if (!bound) {
    bind();
    bound = true;
  }
  setHighlight(opts.highlight ?? null);
}

export function setHighlight(sid) {
  if (current) current.highlight = sid;
  placeRing();
}

/** Put the ring on the current sample (after a redraw, zoom, pan or resize). */
function placeRing() {
  const ring = document.getElementById('map-ring');
  const fl = el()._fullLayout;
  const sid = current?.highlight;
  const xs = current && S.cols[`${current.proj}_x`], ys = current && S.cols[`${current.proj}_y`];
  if (!ring || !fl || !fl.xaxis || sid === null || sid === undefined || !Number.isFinite(xs[sid])) {
    if (ring) ring.hidden = true;
    return;
  }
  const px = fl.xaxis.l2p(xs[sid]), py = fl.yaxis.l2p(ys[sid]);
  const inside = px >= 0 && px <= fl._size.w && py >= 0 && py <= fl._size.h;
  ring.hidden = !inside;
  ring.style.left = `${el().offsetLeft + fl._size.l + px}px`;
  ring.style.top = `${el().offsetTop + fl._size.t + py}px`;
}

export function setDragMode(mode) {
  if (!current) return;
  current.dragmode = mode;
  Plotly.relayout(el(), { dragmode: mode });
}

export function clearMapSelection() {
  if (!current) return;
  const idx = traceSids.map((_, t) => t);
  Plotly.restyle(el(), { selectedpoints: idx.map(() => null) }, idx);
  Plotly.relayout(el(), { selections: [] });
}

function sidOf(point) {
  return traceSids[point.curveNumber]?.[point.pointIndex];
}

export function initMap(h) {
  handlers = h;
  const div = el();
  div.addEventListener('mousemove', (e) => { pos = { x: e.clientX, y: e.clientY }; });
  div.addEventListener('mouseleave', () => handlers.onHover(null));
  const ring = document.createElement('div');
  ring.id = 'map-ring';
  ring.hidden = true;
  div.parentElement.append(ring);
  window.addEventListener('resize', () => requestAnimationFrame(placeRing));
}

// plotly's events exist once the first render created the plot
function bind() {
  const div = el();
  div.on('plotly_selected', (ev) => {
    if (!ev || !ev.points) return;
    const sids = new Set();
    for (const p of ev.points) {
      const sid = sidOf(p);
      if (sid !== undefined) sids.add(sid);
    }
    handlers.onSelect(sids);
  });
  div.on('plotly_deselect', () => handlers.onSelect(null));
  div.on('plotly_click', (ev) => {
    const sid = ev && ev.points.length ? sidOf(ev.points[0]) : undefined;
    if (sid !== undefined) handlers.onClick(sid);
  });
  div.on('plotly_hover', (ev) => {
    const sid = ev && ev.points.length ? sidOf(ev.points[0]) : undefined;
    if (sid !== undefined) handlers.onHover(sid, pos);
  });
  div.on('plotly_unhover', () => handlers.onHover(null));
  div.on('plotly_relayout', placeRing);
  div.on('plotly_afterplot', placeRing);
}
