// Building DOM nodes. Every piece of data (class names, split names, authors, reasons, paths, scores) goes
// into the page as text, never as HTML: nothing here parses markup, so a class named "<img onerror=…>" is
// shown as those characters.

/**
 * ``h('td', { className: 'x', title: 't', dataset: { sid: 3 }, onclick: fn }, child, 'text', [more])``: an
 * element with properties set, listeners added and children appended (strings and numbers as text nodes;
 * null, undefined and false skipped; arrays flattened).
 */
const nodes = (children) => children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
  .map((c) => (c instanceof Node ? c : String(c)));

export function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style') Object.assign(e.style, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e[k] = v;
  }
  e.append(...nodes(children));
  return e;
}

/** Replace the children of ``el`` (same rules as :func:`h` for what counts as a child). */
export function fill(el, ...children) {
  el.replaceChildren(...nodes(children));
}

/** An ``<option>`` whose label is text. */
export const option = (value, text, selected = false) => h('option', { value: String(value), selected }, text);

/** A key cap, e.g. ``kbd('Enter')``. */
export const kbd = (key) => h('kbd', {}, key);
