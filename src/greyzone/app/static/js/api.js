// HTTP helpers: JSON, the binary columnar format (see greyzone/app/columnar.py), the write token, and retries
// of writes that carry a request id (the server stores a retried write once).

const TOKEN = document.querySelector('meta[name="greyzone-token"]').content;
const TYPES = {
  float32: Float32Array, int32: Int32Array, int16: Int16Array, uint16: Uint16Array, uint8: Uint8Array };
const NAN_CODE = 65535; // a quantised column's code for NaN (greyzone/app/columnar.py)

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
  }
}

async function check(response) {
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
    } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return response;
}

export async function getJSON(url, { signal } = {}) {
  return (await check(await fetch(url, { signal }))).json();
}

/** A fresh id for one user action (24 hex digits; crypto.getRandomValues also works over plain HTTP). */
export function requestId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
}

const RETRY_MS = [300, 1000, 2500];
const retryable = (e) => e instanceof TypeError // the request or its answer was lost
  || (e instanceof ApiError && ([500, 502, 504].includes(e.status) || (e.status === 503 && /busy/.test(e.message))));

/** POST ``body`` as JSON with the write token. A body with ``request_id`` is sent again (same id) after a
 * lost answer or a transient server error; the server then answers with the first attempt's result. */
export async function postJSON(url, body, { retryDelays = RETRY_MS } = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Greyzone-Token': TOKEN },
        body: JSON.stringify(body),
      });
      return (await check(response)).json();
    } catch (e) {
      if (!body.request_id || attempt >= retryDelays.length || !retryable(e)) throw e;
      await new Promise((r) => setTimeout(r, retryDelays[attempt]));
    }
  }
}

/** Decode "GZC1" | uint32 header length | JSON header | 8-byte aligned columns, viewing columns in place;
 * a quantised column (``header.quantised[name] = [lo, step]``) becomes a Float32Array of lo + code × step. */
export function decodeColumns(buffer) {
  const magic = new TextDecoder().decode(new Uint8Array(buffer, 0, 4));
  if (magic !== 'GZC1') throw new Error(`not a greyzone columnar buffer (magic ${magic})`);
  const length = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, length)));
  const base = 8 + length;
  const cols = {};
  for (const c of header.columns) cols[c.name] = new TYPES[c.dtype](buffer, base + c.offset, header.n);
  for (const [name, [lo, step]] of Object.entries(header.quantised ?? {})) {
    const codes = cols[name], out = new Float32Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = codes[i] === NAN_CODE ? NaN : lo + codes[i] * step;
    cols[name] = out;
  }
  return { header, cols };
}

export async function getColumns(url) {
  const response = await check(await fetch(url));
  return decodeColumns(await response.arrayBuffer());
}

export function toast(message, { error = false, ms = 2600 } = {}) {
  const box = document.getElementById('toast');
  const div = document.createElement('div');
  div.textContent = message;
  if (error) div.className = 'err';
  box.append(div);
  setTimeout(() => div.remove(), error ? ms * 2 : ms);
}
