// The scatter's GPU renderer: every point in one gl.POINTS draw (WebGL 2). Positions (float32 data units),
// colours (packed RGBA bytes) and the selection flags are uploaded once per data or selection change; zoom
// and pan change only the ``view`` uniform. Draw order: later points on top, selected points above the
// dimmed rest (depth test LEQUAL: selected at depth 0.5, dimmed at 0.75).

const VERTEX = `#version 300 es
in vec2 pos;
in vec4 colour;
in float sel;
uniform vec4 view;        // x0, x1, y0, y1 in data units
uniform float size;       // device pixels
uniform float dimming;    // 1 while a selection exists
uniform vec3 background;
out vec4 tint;
void main() {
  vec2 p = vec2((pos.x - view.x) / (view.y - view.x), (pos.y - view.z) / (view.w - view.z)) * 2.0 - 1.0;
  bool on = dimming < 0.5 || sel > 0.5;
  gl_Position = vec4(p, on ? 0.0 : 0.5, 1.0);
  gl_PointSize = size;
  tint = on ? colour : vec4(mix(background, colour.rgb, 0.18), 1.0);
}`;

const FRAGMENT = `#version 300 es
precision mediump float;
in vec4 tint;
uniform float disc;
out vec4 outColour;
void main() {
  if (disc > 0.5 && length(gl_PointCoord - 0.5) > 0.5) discard;
  outColour = tint;
}`;

function compile(gl, kind, source) {
  const shader = gl.createShader(kind);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
  return shader;
}

export class GLPoints {
  /** What WebGL 2 this browser offers: 'none', 'software' (a CPU rasteriser such as SwiftShader, which took
   * 0.8–1.5 s per frame of a million points on two cores) or 'gpu'. Asked on a throwaway canvas, because a
   * canvas that once gave a WebGL context can never give a 2D one. */
  static support() {
    let gl = null;
    try {
      gl = document.createElement('canvas').getContext('webgl2');
    } catch { /* no WebGL */ }
    if (!gl) return 'none';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return /swiftshader|llvmpipe|softpipe|software/i.test(name) ? 'software' : 'gpu';
  }

  /** A renderer on ``canvas``, or null when the browser offers no WebGL 2 (the caller falls back). */
  static create(canvas) {
    let gl = null;
    try {
      gl = canvas.getContext('webgl2', { antialias: false, alpha: false, preserveDrawingBuffer: true });
    } catch { /* no WebGL */ }
    return gl ? new GLPoints(gl) : null;
  }

  constructor(gl) {
    this.gl = gl;
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    this.prog = prog;
    this.u = Object.fromEntries(['view', 'size', 'dimming', 'background', 'disc'].map(
      (k) => [k, gl.getUniformLocation(prog, k)]));
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    this.buffers = {};
    for (const [name, count, type, norm] of [['pos', 2, gl.FLOAT, false], ['colour', 4, gl.UNSIGNED_BYTE, true],
      ['sel', 1, gl.UNSIGNED_BYTE, false]]) {
      const loc = gl.getAttribLocation(prog, name);
      this.buffers[name] = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers[name]);
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, count, type, norm, 0, 0);
    }
    this.n = 0;
    this.dimming = false;
    this.maxSize = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];
  }

  upload(name, data) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers[name]);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
  }

  /** New points: ``x``, ``y`` Float32Array, ``colour`` Uint32Array (0xAABBGGRR). */
  setData(x, y, colour) {
    const pos = new Float32Array(2 * x.length);
    for (let i = 0; i < x.length; i++) { pos[2 * i] = x[i]; pos[2 * i + 1] = y[i]; }
    this.upload('pos', pos);
    this.upload('colour', colour);
    this.n = x.length;
    this.setSelection(null);
  }

  /** Uint8Array of 0/1 per point (the others are dimmed), or null. */
  setSelection(selected) {
    this.upload('sel', selected ?? new Uint8Array(this.n));
    this.dimming = Boolean(selected);
  }

  /** Draw into a ``W`` × ``H`` device-pixel canvas; ``view`` in data units, ``size`` in device px. */
  draw(W, H, view, size, background) {
    const gl = this.gl;
    gl.viewport(0, 0, W, H);
    gl.clearColor(...background, 1);
    gl.clearDepth(1);
    gl.enable(gl.DEPTH_TEST);
    gl.depthFunc(gl.LEQUAL);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.useProgram(this.prog);
    gl.bindVertexArray(this.vao);
    gl.uniform4f(this.u.view, view.x0, view.x1, view.y0, view.y1);
    gl.uniform1f(this.u.size, Math.min(size, this.maxSize));
    gl.uniform1f(this.u.dimming, this.dimming ? 1 : 0);
    gl.uniform3f(this.u.background, ...background);
    gl.uniform1f(this.u.disc, size >= 4 ? 1 : 0);
    if (this.n) gl.drawArrays(gl.POINTS, 0, this.n);
  }
}
