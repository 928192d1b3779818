// A scatter plot for up to millions of points: drawn by the GPU in one gl.POINTS call (webgl.js; zoom and pan
// only change a uniform), or, where the browser has no WebGL or only a software one, on the CPU into one
// canvas ImageData (each
// point a square or disc of opaque pixels, later points on top; 70,000 points in a few milliseconds). No
// chart library to download and parse (plotly.js took 2 s of a cold page load). It knows nothing about
// greyzone: points come as typed arrays (data coordinates, a packed colour each), interactions go out as
// callbacks. Hit tests (hover, click, lasso) run on the CPU over typed arrays of screen positions.
//
// Interactions: box or lasso selection (drag), pan (drag in pan mode), zoom (wheel, around the cursor),
// reset (double-click), hover and click (the nearest point within a few pixels).

import { GLPoints } from './webgl.js';

const PAD = 0.04;       // share of the data range left empty around the points
const PICK_PX = 8;      // hover / click reach, CSS pixels

/** '#rrggbb' → 0xAABBGGRR (the byte order of ImageData on little-endian machines), fully opaque. */
export function packColour(hex) {
  const v = parseInt(hex.slice(1, 7), 16);
  return (0xff000000 | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
}

/** ``colour`` blended over ``background`` with weight ``alpha`` (both packed). */
export function fade(colour, background, alpha) {
  let out = 0xff000000;
  for (const shift of [0, 8, 16]) {
    const a = (colour >>> shift) & 0xff, b = (background >>> shift) & 0xff;
    out |= Math.round(b + (a - b) * alpha) << shift;
  }
  return out >>> 0;
}

/** Per row of an ``s`` × ``s`` cell, the [first, end) columns of a disc (a full square below 4 px). */
function disc(s) {
  const rows = [];
  for (let r = 0; r < s; r++) {
    const dy = r + 0.5 - s / 2, w = s < 4 ? s / 2 : Math.sqrt(Math.max(0, (s / 2) ** 2 - dy * dy));
    const a = Math.round(s / 2 - w);
    rows.push([a, s - a]);
  }
  return rows;
}

/** Paint one point: the disc ``span`` with its cell's top-left at (left, top), clipped to the W × H image. */
function dot(px, W, H, left, top, span, colour) {
  if (left >= W || top >= H || left + span.length <= 0 || top + span.length <= 0) return;
  for (let r = 0; r < span.length; r++) {
    const yy = top + r;
    if (yy < 0 || yy >= H) continue;
    const x0 = Math.max(0, left + span[r][0]), x1 = Math.min(W, left + span[r][1]);
    if (x1 > x0) px.fill(colour, yy * W + x0, yy * W + x1);
  }
}

/** Ray casting: is (x, y) inside the polygon ``poly`` (flat [x0, y0, x1, y1, ...])? */
export function inPolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 2; i < poly.length; j = i, i += 2) {
    const xi = poly[i], yi = poly[i + 1], xj = poly[j], yj = poly[j + 1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export class Scatter {
  /** ``box``: an empty positioned element; ``on``: {select(indices | null), hover(index | null, event),
   * click(index), view()} with indices into the drawn points; ``renderer``: 'auto', 'webgl' or 'canvas'. */
  constructor(box, on, { renderer = 'auto' } = {}) {
    this.box = box;
    this.on = on;
    this.canvas = Object.assign(document.createElement('canvas'), { className: 'points' });
    this.overlay = Object.assign(document.createElement('canvas'), { className: 'overlay' });
    box.append(this.canvas, this.overlay);
    // renderer 'auto': WebGL on a GPU, the CPU path where WebGL is missing or itself runs on the CPU
    const support = GLPoints.support();
    const useGL = renderer === 'webgl' ? support !== 'none' : renderer === 'auto' && support === 'gpu';
    this.gpu = useGL ? GLPoints.create(this.canvas) : null;
    this.renderer = this.gpu ? 'webgl' : 'canvas';
    this.support = support;
    this.mode = 'lasso';
    this.background = packColour('#0d1117');
    this.x = new Float32Array(0);
    this.y = new Float32Array(0);
    this.colour = new Uint32Array(0);
    this.selected = null;            // Uint8Array per point, or null
    this.view = null;                // {x0, x1, y0, y1} in data units
    this.userView = false;           // zoomed or panned by the user (kept across data changes)
    this.shape = null;               // the selection outline, in data units (flat polygon)
    this.sx = new Float32Array(0);   // screen coordinates of the points, CSS px
    this.sy = new Float32Array(0);
    this.placed = false;             // sx, sy match the current data, view and size
    this.listen();
    new ResizeObserver(() => this.draw()).observe(box);
  }

  /** New points (keeps the user's zoom unless ``resetView``); ``size`` in CSS px. */
  setData({ x, y, colour, size }, { resetView = false } = {}) {
    Object.assign(this, { x, y, colour, size, selected: null });
    this.gpu?.setData(x, y, colour);
    if (resetView) this.userView = false;
    if (!this.userView) this.view = this.fit();
    this.draw();
  }

  /** Mark points (Uint8Array of 0/1 per point, or null for none); the others are dimmed. */
  setSelection(selected, { keepShape = false } = {}) {
    this.selected = selected;
    this.gpu?.setSelection(selected);
    if (!keepShape) this.shape = null;
    this.draw();
  }

  fit() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < this.x.length; i++) {
      const a = this.x[i], b = this.y[i];
      if (a < x0) x0 = a;
      if (a > x1) x1 = a;
      if (b < y0) y0 = b;
      if (b > y1) y1 = b;
    }
    if (!(x1 >= x0)) return { x0: 0, x1: 1, y0: 0, y1: 1 };
    const dx = (x1 - x0 || 1) * PAD, dy = (y1 - y0 || 1) * PAD;
    return { x0: x0 - dx, x1: x1 + dx, y0: y0 - dy, y1: y1 + dy };
  }

  get width() { return this.box.clientWidth; }
  get height() { return this.box.clientHeight; }

  /** Data → CSS pixels inside the box. */
  toScreen(x, y) {
    const v = this.view;
    return [((x - v.x0) / (v.x1 - v.x0)) * this.width, ((v.y1 - y) / (v.y1 - v.y0)) * this.height];
  }

  toData(px, py) {
    const v = this.view;
    return [v.x0 + (px / this.width) * (v.x1 - v.x0), v.y1 - (py / this.height) * (v.y1 - v.y0)];
  }

  draw() {
    const w = this.width, h = this.height, dpr = window.devicePixelRatio || 1;
    if (!w || !h || !this.view) return;
    const W = Math.round(w * dpr), H = Math.round(h * dpr);
    for (const c of [this.canvas, this.overlay]) {
      if (c.width !== W || c.height !== H) Object.assign(c, { width: W, height: H });
    }
    this.placed = false;
    if (this.gpu) {
      const bg = [0, 8, 16].map((shift) => ((this.background >>> shift) & 0xff) / 255);
      this.gpu.draw(W, H, this.view, Math.max(1, Math.round(this.size * dpr)), bg);
    } else this.drawPixels(W, H, w, h, dpr);
    this.drawOverlay();
    this.on.view?.();
  }

  /** Screen positions (CSS px) of every point for the hit tests, computed once per data, view or size. */
  place() {
    if (this.placed && this.sx.length === this.x.length) return;
    const n = this.x.length;
    if (this.sx.length !== n) { this.sx = new Float32Array(n); this.sy = new Float32Array(n); }
    const v = this.view, kx = this.width / (v.x1 - v.x0), ky = this.height / (v.y1 - v.y0);
    for (let i = 0; i < n; i++) {
      this.sx[i] = (this.x[i] - v.x0) * kx;
      this.sy[i] = (v.y1 - this.y[i]) * ky;
    }
    this.placed = true;
  }

  /** The CPU renderer (no WebGL): discs of opaque pixels into one ImageData. */
  drawPixels(W, H, w, h, dpr) {
    const ctx = this.canvas.getContext('2d');
    const image = ctx.createImageData(W, H);
    const px = new Uint32Array(image.data.buffer);
    px.fill(this.background);
    const n = this.x.length;
    if (this.sx.length !== n) { this.sx = new Float32Array(n); this.sy = new Float32Array(n); }
    const v = this.view, kx = w / (v.x1 - v.x0), ky = h / (v.y1 - v.y0);
    const s = Math.max(1, Math.round(this.size * dpr)), half = s / 2;
    const span = disc(s);
    const a = Int32Array.from(span, (r) => r[0]), b = Int32Array.from(span, (r) => r[1]);
    const dim = this.selected ? new Map() : null;
    const { x, y, sx, sy, colour, selected } = this;
    for (let i = 0; i < n; i++) {
      const cx = (x[i] - v.x0) * kx, cy = (v.y1 - y[i]) * ky;
      sx[i] = cx;
      sy[i] = cy;
      const left = Math.round(cx * dpr - half), top = Math.round(cy * dpr - half);
      if (left >= W || top >= H || left + s <= 0 || top + s <= 0) continue;
      let c = colour[i];
      if (dim && !selected[i]) {
        let d = dim.get(c);
        if (d === undefined) { d = fade(c, this.background, 0.18); dim.set(c, d); }
        c = d;
      }
      if (left < 0 || top < 0 || left + s > W || top + s > H) { dot(px, W, H, left, top, span, c); continue; }
      for (let r = 0, row = top * W + left; r < s; r++, row += W) { // inside: no clipping (the common case)
        for (let k = a[r]; k < b[r]; k++) px[row + k] = c;
      }
    }
    if (dim) { // selected points again, on top of the dimmed ones
      for (let i = 0; i < n; i++) {
        if (!this.selected[i]) continue;
        const left = Math.round(this.sx[i] * dpr - half), top = Math.round(this.sy[i] * dpr - half);
        dot(px, W, H, left, top, span, this.colour[i]);
      }
    }
    ctx.putImageData(image, 0, 0);
    this.placed = true;
  }

  /** The selection outline (kept in data units, so it follows zoom and pan) or the shape being dragged. */
  drawOverlay(live = null) {
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.overlay.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const pts = live ?? (this.shape ? this.shapeOnScreen() : null);
    if (!pts || pts.length < 4) return;
    ctx.beginPath();
    ctx.moveTo(pts[0], pts[1]);
    for (let i = 2; i < pts.length; i += 2) ctx.lineTo(pts[i], pts[i + 1]);
    ctx.closePath();
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = '#e6edf3';
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.fillStyle = 'rgba(230, 237, 243, 0.06)';
    ctx.fill();
  }

  shapeOnScreen() {
    const out = [];
    for (let i = 0; i < this.shape.length; i += 2) out.push(...this.toScreen(this.shape[i], this.shape[i + 1]));
    return out;
  }

  /** The drawn point nearest to (px, py) within ``reach`` CSS px (the topmost of equals), or null. */
  nearest(px, py, reach = PICK_PX) {
    this.place();
    let best = null, bestD = reach * reach;
    for (let i = 0; i < this.sx.length; i++) {
      const dx = this.sx[i] - px, dy = this.sy[i] - py, d = dx * dx + dy * dy;
      if (d <= bestD) { best = i; bestD = d; }
    }
    return best;
  }

  /** Indices of the points inside the polygon ``poly`` (flat, CSS px). */
  inside(poly) {
    this.place();
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < poly.length; i += 2) {
      x0 = Math.min(x0, poly[i]); x1 = Math.max(x1, poly[i]);
      y0 = Math.min(y0, poly[i + 1]); y1 = Math.max(y1, poly[i + 1]);
    }
    const out = [];
    for (let i = 0; i < this.sx.length; i++) {
      const x = this.sx[i], y = this.sy[i];
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1 && inPolygon(x, y, poly)) out.push(i);
    }
    return out;
  }

  listen() {
    const el = this.overlay;
    let drag = null;
    const at = (e) => { const r = el.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    el.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      el.setPointerCapture(e.pointerId);
      const [x, y] = at(e);
      drag = { x, y, moved: false, path: [x, y], view: { ...this.view } };
      this.on.hover(null, e);
    });
    el.addEventListener('pointermove', (e) => {
      const [x, y] = at(e);
      if (!drag) {
        this.hoverAt = [x, y, e];
        if (!this.hoverQueued) {
          this.hoverQueued = true;
          requestAnimationFrame(() => {
            this.hoverQueued = false;
            const [hx, hy, he] = this.hoverAt;
            this.on.hover(this.nearest(hx, hy), he);
          });
        }
        return;
      }
      if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) drag.moved = true;
      if (!drag.moved) return;
      if (this.mode === 'pan') {
        const v = drag.view, kx = (v.x1 - v.x0) / this.width, ky = (v.y1 - v.y0) / this.height;
        const dx = (x - drag.x) * kx, dy = (y - drag.y) * ky;
        this.view = { x0: v.x0 - dx, x1: v.x1 - dx, y0: v.y0 + dy, y1: v.y1 + dy };
        this.userView = true;
        this.draw();
      } else if (this.mode === 'select') {
        drag.path = [drag.x, drag.y, x, drag.y, x, y, drag.x, y];
        this.drawOverlay(drag.path);
      } else {
        drag.path.push(x, y);
        this.drawOverlay(drag.path);
      }
    });
    el.addEventListener('pointerup', (e) => {
      if (!drag) return;
      const d = drag;
      drag = null;
      if (!d.moved) {
        const i = this.nearest(...at(e));
        if (i !== null) this.on.click(i);
        return;
      }
      if (this.mode === 'pan') return;
      const poly = d.path;
      this.shape = [];
      for (let i = 0; i < poly.length; i += 2) this.shape.push(...this.toData(poly[i], poly[i + 1]));
      const hits = this.inside(poly);
      this.on.select(hits.length ? hits : null);
    });
    el.addEventListener('pointerleave', (e) => { if (!drag) this.on.hover(null, e); });
    el.addEventListener('wheel', (e) => {
      e.preventDefault();
      const [x, y] = at(e);
      const [cx, cy] = this.toData(x, y);
      const k = Math.exp(Math.max(-1, Math.min(1, e.deltaY / 300)));
      const v = this.view;
      this.view = { x0: cx - (cx - v.x0) * k, x1: cx + (v.x1 - cx) * k, y0: cy - (cy - v.y0) * k,
        y1: cy + (v.y1 - cy) * k };
      this.userView = true;
      this.draw();
    }, { passive: false });
    el.addEventListener('dblclick', () => {
      this.userView = false;
      this.view = this.fit();
      this.draw();
    });
  }
}
