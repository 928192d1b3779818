// HTTP helpers: JSON, the binary columnar format (see greyzone/app/columnar.py) and the write token.

const TOKEN = document.querySelector('meta[name="greyzone-token"]').content;
const TYPES = { float32: Float32Array, int32: Int32Array, int16: Int16Array, uint8: Uint8Array };

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

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Greyzone-Token': TOKEN },
    body: JSON.stringify(body),
  });
  return (await check(response)).json();
}

/** Decode "GZC1" | uint32 header length | JSON header | 8-byte aligned columns, viewing columns in place. */
export function decodeColumns(buffer) {
  const magic = new TextDecoder().decode(new Uint8Array(buffer, 0, 4));
  if (magic !== 'GZC1') throw new Error(`not a greyzone columnar buffer (magic ${magic})`);
  const length = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, length)));
  const base = 8 + length;
  const cols = {};
  for (const c of header.columns) cols[c.name] = new TYPES[c.dtype](buffer, base + c.offset, header.n);
  return { header, cols };
}

export async function getColumns(url) {
  const response = await check(await fetch(url));
  return decodeColumns(await response.arrayBuffer());
}

/** Escape text for innerHTML. */
export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

export function toast(message, { error = false, ms = 2600 } = {}) {
  const box = document.getElementById('toast');
  const div = document.createElement('div');
  div.textContent = message;
  if (error) div.className = 'err';
  box.append(div);
  setTimeout(() => div.remove(), error ? ms * 2 : ms);
}
