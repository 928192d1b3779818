// The review state and its actions: the listed samples (queue / all / map selection, filtered and sorted),
// the cursor, decisions (queued in order, shown once the server acknowledged the commit), undo and progress.

import { postJSON, requestId, toast } from './api.js';
import { h } from './dom.js';
import { refreshHistory, shownSid, showDetail } from './detail.js';
import {
  PAGE, gridColumns, markPending, renderPage, renderSingle, setCursorCell, updateCells,
} from './grid.js';
import { clearMapSelection, renderMap, setHighlight } from './map.js';
import {
  S, applyState, className, isProposed, isReviewed, query, splitCode, suggestion,
} from './store.js';

export const $ = (id) => document.getElementById(id);
export const A = {
  split: 'all', proj: 'pca', colour: 'status', dragmode: 'lasso',
  source: 'queue', prevSource: 'queue', selection: null,
  label: -1, pred: -1, status: 'any', dup: 'any', range: { col: '', min: -Infinity, max: Infinity },
  sort: 'idk_score', desc: true,
  list: new Int32Array(0), page: 0, cursor: 0, focus: null, mode: 'grid', undo: [],
};

// ------------------------------------------------------------------ helpers
let chain = Promise.resolve();
const enqueue = (fn) => {
  chain = chain.then(fn).catch((e) => toast(e.message, { error: true }));
  return chain;
};
let detailTimer = null, mapTimer = null, historyTimer = null;
export const history = () => refreshHistory({ onPick: pick });
function later(timer, fn, ms) {
  clearTimeout(timer);
  return setTimeout(fn, ms);
}

// ------------------------------------------------------------------ map
export function renderMapNow() {
  return renderMap({ split: A.split, proj: A.proj, colour: A.colour, dragmode: A.dragmode, highlight: A.focus },
    A.selection);
}
const mapFollowsDecisions = () => A.colour === 'status' || A.colour === 'curated';

export function onSelect(sids) {
  if (!sids || !sids.size) {
    clearSelection();
    return;
  }
  A.selection = sids;
  if (A.source !== 'selection') A.prevSource = A.source;
  A.source = 'selection';
  $('source').querySelector('option[value=selection]').disabled = false;
  $('source').value = 'selection';
  $('sel-info').replaceChildren(h('b', {}, sids.size.toLocaleString()), ' points selected');
  $('clear-sel').disabled = false;
  requery();
}

export function clearSelection() {
  if (!A.selection) return;
  A.selection = null;
  if (A.source === 'selection') A.source = A.prevSource;
  $('source').querySelector('option[value=selection]').disabled = true;
  $('source').value = A.source;
  $('sel-info').textContent = 'Drag on the map to select points';
  $('clear-sel').disabled = true;
  clearMapSelection();
  requery();
}

export function onHover(sid, pos) {
  const box = $('hover-thumb');
  if (sid === null || sid === undefined) {
    box.hidden = true;
    return;
  }
  box.querySelector('img').src = `/api/thumb/${sid}`;
  box.querySelector('span').textContent = `label ${className(S.cols.label[sid])} · pred ${className(S.cols.pred[sid])}`;
  box.style.left = `${Math.min(pos.x + 16, innerWidth - 140)}px`;
  box.style.top = `${Math.min(pos.y + 16, innerHeight - 150)}px`;
  box.hidden = false;
}

// ------------------------------------------------------------------ list, cursor, progress
function showCount(n, reviewed) {
  $('count').replaceChildren(h('b', {}, n.toLocaleString()), ` listed · ${reviewed.toLocaleString()} reviewed`);
}

export function requery() {
  A.list = query(A);
  A.page = 0;
  A.cursor = 0;
  renderList();
}

export async function renderList() {
  const n = A.list.length;
  let reviewed = 0;
  for (const sid of A.list) if (isReviewed(sid)) reviewed++;
  showCount(n, reviewed);
  const pages = Math.max(1, Math.ceil(n / PAGE));
  $('page').textContent = `page ${A.page + 1} / ${pages}`;
  $('prev-page').disabled = A.page === 0;
  $('next-page').disabled = A.page >= pages - 1;
  updateProgress();
  if (A.mode === 'grid') {
    const drawing = renderPage(A.list, A.page);
    setCursor(A.cursor, { scroll: false });
    await drawing;
  } else {
    setCursor(A.cursor);
  }
}

export function setCursor(k, { scroll = true } = {}) {
  if (!A.list.length) {
    A.focus = null;
    setHighlight(null);
    return;
  }
  k = Math.max(0, Math.min(A.list.length - 1, k));
  const page = Math.floor(k / PAGE);
  A.cursor = k;
  if (page !== A.page) {
    A.page = page;
    renderList();
    return;
  }
  focusSid(A.list[k]);
  if (A.mode === 'grid') setCursorCell(k - A.page * PAGE, { scroll });
  else renderSingle(A.list, k);
}

function focusSid(sid) {
  A.focus = sid;
  setHighlight(sid);
  detailTimer = later(detailTimer, () => showDetail(sid, { onPick: pick }).catch((e) => toast(e.message,
    { error: true })), 60);
}

/** Show any sample (map click, neighbour, history): the cursor moves to it when it is listed. */
export function pick(sid) {
  const k = A.list.indexOf(sid);
  if (k >= 0) setCursor(k);
  else {
    setCursorCell(-1);
    focusSid(sid);
  }
}

export function move(cmd) {
  if (cmd.type === 'move') {
    const by = cmd.by === 'row' ? gridColumns() : cmd.by === '-row' ? -gridColumns() : cmd.by;
    setCursor(A.cursor + (A.mode === 'grid' ? by : Math.sign(by)));
  } else if (cmd.type === 'page') {
    setCursor((A.page + cmd.by) * PAGE);
  } else {
    setCursor(cmd.to === 'first' ? 0 : A.list.length - 1);
  }
}

export function updateProgress() {
  const code = splitCode(A.split);
  let queue = 0, done = 0;
  for (let i = 0; i < S.n; i++) {
    if ((code >= 0 && S.cols.split[i] !== code) || !isProposed(i)) continue;
    queue++;
    if (isReviewed(i)) done++;
  }
  $('progress').querySelector('.bar span').style.width = `${queue ? (100 * done) / queue : 0}%`;
  $('progress').querySelector('.txt').replaceChildren('Queue ', h('b', {}, done),
    ` / ${queue} reviewed · ${queue - done} left`);
}

export function setMode(mode) {
  A.mode = mode;
  document.querySelectorAll('#mode button').forEach((b) => b.classList.toggle('on', b.dataset.mode === mode));
  $('grid').hidden = mode !== 'grid';
  $('single').hidden = mode !== 'single';
  renderList();
}

// ------------------------------------------------------------------ decisions
export function afterStateChange(sids) {
  updateCells(sids);
  if (A.mode === 'single') renderSingle(A.list, A.cursor);
  updateProgress();
  let reviewed = 0;
  for (const sid of A.list) if (isReviewed(sid)) reviewed++;
  showCount(A.list.length, reviewed);
  if (mapFollowsDecisions()) mapTimer = later(mapTimer, renderMapNow, 250);
  historyTimer = later(historyTimer, history, 150);
  if (sids.includes(shownSid())) detailTimer = later(detailTimer, () => showDetail(shownSid(), { onPick: pick }), 60);
}

export function decide(action, label, bulkSids = null) {
  const sids = bulkSids ?? (A.focus === null ? [] : [A.focus]);
  if (!sids.length) return;
  if (!bulkSids && action === 'relabel' && label === S.cols.label[sids[0]]) {
    action = 'keep';
    label = undefined;
  }
  if (!bulkSids) {
    markPending(sids[0], true);
    if (A.list[A.cursor] === sids[0]) setCursor(A.cursor + 1);
  }
  const id = requestId(); // one per user action: a retry of the POST reuses it and is stored once
  enqueue(async () => {
    const reason = $('reason').value.trim();
    const body = { sids, action, ...(label === undefined ? {} : { label }), ...(reason ? { reason } : {}),
      request_id: id };
    let res;
    try {
      res = await postJSON('/api/decisions', body);
    } finally {
      markPending(sids[0], false);
    }
    applyState(res.state);
    A.undo.push(sids);
    afterStateChange(sids);
    if (bulkSids) toast(`${sids.length.toLocaleString()} samples: ${action}${label === undefined ? '' : ` ${className(label)}`}`);
  });
}

/** Accept the auto proposal of the sample under the cursor (Enter): the decision its key would make. */
export function acceptSuggestion() {
  if (A.focus === null) return;
  const s = suggestion(A.focus);
  if (!s) toast('No suggested action for this sample');
  else decide(s.action, s.label);
}

export function undo() {
  const id = requestId();
  enqueue(async () => {
    let sids = A.undo.pop();
    if (!sids) {
      if (A.focus === null) return;
      sids = [A.focus];
    }
    const res = await postJSON('/api/undo', { sids, request_id: id });
    applyState(res.state);
    afterStateChange(sids);
    const n = res.undone.filter((x) => x !== null).length;
    toast(n ? `Undone (${n})` : 'Nothing to undo for this sample');
    if (sids.length === 1) pick(sids[0]);
  });
}

export function bulk(action, label) {
  const n = A.list.length;
  if (!n) return;
  const what = action === 'idk' ? `Mark all ${n} listed samples ${S.meta.idk_name}?`
    : action === 'keep' ? `Keep the label of all ${n} listed samples?`
      : `Relabel all ${n} listed samples as ${className(label)}?`;
  if (window.confirm(what)) decide(action, label, Array.from(A.list));
}
