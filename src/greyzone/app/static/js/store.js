// Client-side data: every column as a typed array (loaded once, in two steps: what the map's first paint needs,
// then the rest), the decision state per sample, and queries (filter + sort) that run over those arrays
// without asking the server.

import { getColumns, getJSON } from './api.js';

// Decision statuses (greyzone.store.decisions.Status; the values are fixed, new ones are appended).
export const NONE = 0, PROPOSED = 1, KEPT = 2, IDK = 3, RELABELLED = 4, PROPOSED_RELABEL = 5;
export const STATUS_COLOURS = ['#4b5360', '#f0a530', '#3fb950', '#c297ff', '#58a6ff', '#db61a2'];
export const CLASS_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
  '#ff9da7', '#9c755f', '#bab0ac', '#17becf', '#bcbd22', '#e377c2', '#8c564b', '#7f7f7f'];
export const IDK_COLOUR = '#ffffff';

export const S = {
  meta: null, header: null, cols: null, n: 0,
  status: null, curated: null, suggested: null, lastId: 0,
};

/** What the first paint needs: metadata, the map coordinates (quantised, see /api/points), the split of each
 * sample and the decision state (the map is coloured by status at first). */
export async function loadMap() {
  const [meta, points, state] = await Promise.all([
    getJSON('/api/meta'), getColumns('/api/points'), getColumns('/api/state')]);
  S.meta = meta;
  S.header = points.header;
  S.cols = points.cols;
  S.n = points.header.n;
  setState(state);
}

/** Every other column (scores, labels, flags), asked for after the map is on screen. The map coordinates stay the
 * ones drawn (quantised to 1/65,534 of their range), so hit tests and drawing agree. */
export async function loadColumns() {
  const columns = await getColumns('/api/columns');
  S.header = columns.header;
  S.cols = { ...columns.cols, ...S.cols };
}

function setState({ header, cols }) {
  S.status = cols.status;
  S.curated = cols.curated;
  S.suggested = cols.suggested;
  S.lastId = header.last_id;
}

/** Re-read the whole decision state (after another tab decided); returns whether anything changed. */
export async function refreshState() {
  const state = await getColumns('/api/state');
  const { status, curated, suggested } = state.cols;
  let changed = false;
  for (let i = 0; i < S.n && !changed; i++) {
    if (status[i] !== S.status[i] || curated[i] !== S.curated[i] || suggested[i] !== S.suggested[i]) changed = true;
  }
  setState(state);
  return changed;
}

/** Apply the ``state`` object a decision or undo response carries. */
export function applyState(st) {
  st.sids.forEach((sid, i) => { S.status[sid] = st.status[i]; S.curated[sid] = st.curated[i]; });
}

export const className = (c) => (c === S.meta.idk_label ? S.meta.idk_name : (S.meta.classes[c] ?? '?'));
export const classColour = (c) => (c === S.meta.idk_label ? IDK_COLOUR : CLASS_COLOURS[c % CLASS_COLOURS.length]);
export const splitCode = (split) => (split === 'all' ? -1 : S.header.categories.split.indexOf(split));
/** An auto proposal (IDK or a confident correction) is in force for sample ``i``, decided by a human or not. */
export const isProposed = (i) => S.suggested[i] >= 0;
/** A human decided sample ``i`` (its status is kept, IDK or relabelled). */
export const isReviewed = (i) => S.status[i] === KEPT || S.status[i] === IDK || S.status[i] === RELABELLED;
/** The auto proposal of sample ``i`` as the decision a human would make, or null. */
export function suggestion(i) {
  const c = S.suggested[i];
  if (c < 0) return null;
  return c === S.meta.idk_label ? { action: 'idk' } : { action: 'relabel', label: c };
}
export const scoreDirection = (name) => S.header.score_help[name]?.direction ?? 1;

function statusOk(filter, i) {
  const st = S.status[i];
  switch (filter) {
    case 'undecided': return !isReviewed(i);
    case 'decided': return isReviewed(i);
    case 'proposed': return st === PROPOSED || st === PROPOSED_RELABEL;
    case 'proposed-relabel': return st === PROPOSED_RELABEL;
    case 'idk': return S.curated[i] === S.meta.idk_label;
    case 'relabelled': return st === RELABELLED;
    case 'kept': return st === KEPT;
    case 'disagree': return S.cols.label[i] !== S.cols.pred[i];
    case 'issue': return S.cols.label_issue ? S.cols.label_issue[i] === 1 : false;
    default: return true;
  }
}

/** ``dup``: 'dup' = in a group of exact or near duplicates (the server's ``duplicate`` flag: names one or is
 * named), 'leak' = a duplicate lies in another split (``cross_split_duplicate``). */
export const hasDuplicates = () => Boolean(S.cols.duplicate);
function dupOk(dup, i) {
  const c = S.cols;
  if (dup === 'dup') return c.duplicate ? c.duplicate[i] === 1 : false;
  if (dup === 'leak') return c.cross_split_duplicate ? c.cross_split_duplicate[i] === 1 : false;
  return true;
}

/**
 * The sids to list: ``source`` ('queue' = auto proposals, 'all', 'selection'), narrowed by split and filters,
 * sorted by a score (NaN last, ties by sid).
 */
export function query(q) {
  const c = S.cols;
  const code = splitCode(q.split);
  const out = [];
  const consider = (i) => {
    if (code >= 0 && c.split[i] !== code) return;
    if (q.source === 'queue' && !isProposed(i)) return;
    if (q.label >= 0 && c.label[i] !== q.label) return;
    if (q.pred >= 0 && c.pred[i] !== q.pred) return;
    if (q.status !== 'any' && !statusOk(q.status, i)) return;
    if (q.dup !== 'any' && !dupOk(q.dup, i)) return;
    if (q.range.col) {
      const v = c[q.range.col][i];
      if (!(v >= q.range.min) || !(v <= q.range.max)) return;
    }
    out.push(i);
  };
  if (q.source === 'selection' && q.selection) q.selection.forEach(consider);
  else for (let i = 0; i < S.n; i++) consider(i);
  const list = Int32Array.from(out);
  if (q.sort === 'sid') {
    list.sort();
    if (q.desc) list.reverse();
    return list;
  }
  const v = c[q.sort];
  const sign = q.desc ? -1 : 1;
  const arr = Array.from(list);
  arr.sort((a, b) => {
    const x = v[a], y = v[b];
    const nx = Number.isNaN(x), ny = Number.isNaN(y);
    if (nx || ny) return nx === ny ? a - b : (nx ? 1 : -1);
    return x === y ? a - b : (x < y ? -sign : sign);
  });
  return Int32Array.from(arr);
}

/** Range of a column over the finite values (for placeholders). */
export function extent(name, code) {
  const v = S.cols[name];
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < S.n; i++) {
    if (code >= 0 && S.cols.split[i] !== code) continue;
    const x = v[i];
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

export const fmt = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–'
  : typeof x === 'boolean' ? (x ? 'yes' : 'no')
    : Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(3));
