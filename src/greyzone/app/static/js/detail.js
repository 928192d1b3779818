// The side panel: one sample's details (fetched from /api/samples/{sid}) and the recent-decisions log. Every
// string from the server goes in as text (dom.js).

import { getJSON } from './api.js';
import { h, kbd } from './dom.js';
import { S, fmt } from './store.js';

let controller = null;
let shown = null;

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });

export const shownSid = () => shown;

function actionText(r) {
  if (r.action === 'relabel') return `relabel → ${r.label_name}`;
  if (r.action === 'idk') return S.meta.idk_name;
  return r.action;
}

function logItem(r, { onPick } = {}) {
  const who = r.source === 'auto' ? 'auto proposal' : r.author;
  return h('li', {}, h('span', { className: 'time' }, time(r.created_at)),
    h('span', { className: `act ${r.action}` }, actionText(r), r.count > 1 ? ` ×${r.count}` : ''),
    onPick && h('a', { onclick: () => onPick(Number(r.sid)) }, `${r.split} #${r.index}`),
    h('span', { className: 'muted' }, who),
    r.reason && h('span', { className: 'why', title: r.reason }, r.reason));
}

/** A link to another sample: ``split:index`` (its label as a tooltip); a click shows it. */
const sampleLink = (ref, onPick) => h('a', {
  className: 'dup-link', href: '#', title: `sid ${ref.sid} · label ${ref.label_name}`, dataset: { sid: ref.sid },
  onclick: (e) => { e.preventDefault(); onPick?.(Number(ref.sid)); } }, `${ref.split}:${ref.index}`);

/** "duplicate of split:index" and "duplicated by …" lines (empty for a sample without duplicates). */
function duplicateLines(d, onPick) {
  const leak = d.scores.cross_split_duplicate ? h('span', { className: 'chip leak' }, 'train/test leak') : null;
  return [
    d.duplicate_of && h('div', { className: 'dup' }, 'duplicate of ', sampleLink(d.duplicate_of, onPick), ' ', leak),
    d.duplicates.length > 0 && h('div', { className: 'dup' }, 'duplicated by ',
      d.duplicates.map((r, k) => [k ? ', ' : '', sampleLink(r, onPick)]), d.duplicate_of ? null : [' ', leak]),
  ];
}

/** Show sample ``sid``; ``onPick(sid)`` is called when a neighbour thumbnail is clicked. */
export async function showDetail(sid, { onPick } = {}) {
  controller?.abort();
  controller = new AbortController();
  shown = sid;
  let d;
  try {
    d = await getJSON(`/api/samples/${sid}`, { signal: controller.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    throw e;
  }
  const probs = d.top.map((t) => h('div', { className: `row${t.label === d.label ? ' is-label' : ''}` },
    h('b', {}, t.name),
    h('div', { className: 'track' }, h('div', { className: 'fill', style: { width: `${(t.p * 100).toFixed(1)}%` } })),
    h('span', {}, `${(t.p * 100).toFixed(1)}%`)));
  const scores = Object.entries(d.scores).filter(([k]) => !k.endsWith('_x') && !k.endsWith('_y')).map(([k, v]) => {
    const help = S.header.score_help[k];
    const dir = help ? (help.direction > 0 ? '↑' : '↓') : '';
    const tip = help ? `${help.help}; ${help.direction > 0 ? 'higher' : 'lower'} = more doubtful` : '';
    return h('tr', { title: tip }, h('td', {}, k), h('td', { className: 'dir' }, dir), h('td', {}, fmt(v)));
  });
  const nbrs = d.neighbours.map((nb) => h('button', {
    title: `sid ${nb.sid} · cosine ${nb.similarity}`, onclick: () => onPick?.(Number(nb.sid)) },
  h('img', { src: `/api/thumb/${Number(nb.sid)}`, alt: `neighbour ${nb.sid}`, loading: 'lazy' }),
  h('span', { className: nb.label === d.label ? '' : 'diff' }, nb.label_name)));
  const history = d.history.length ? d.history.map((r) => logItem(r))
    : [h('li', { className: 'muted' }, 'no decisions')];
  const p = d.proposal;
  const stIndex = S.meta.status_names.indexOf(d.status);
  document.getElementById('detail').replaceChildren(
    h('div', { className: 'd-head' }, h('img', { src: `/api/thumb/${Number(sid)}`, alt: `sample ${sid}` }),
      h('div', {}, h('h2', {}, `${d.split} #${d.index}`), h('div', { className: 'muted' }, `sid ${sid}`),
        h('div', { className: 'chips' }, h('span', { className: 'chip' }, `label ${d.label_name}`), ' ',
          h('span', { className: 'chip' }, `pred ${d.pred_name}`), ' ',
          h('span', { className: `chip st-${stIndex}` }, d.status,
            d.status === 'relabelled' ? ` → ${d.curated_name}` : '')),
        p && h('div', { className: 'suggest', title: 'the auto proposal in force; Enter accepts it' },
          'Suggested: ', p.action === 'relabel' ? `relabel → ${p.label_name}` : S.meta.idk_name, ' ',
          kbd('Enter')),
        duplicateLines(d, onPick))),
    h('h3', {}, 'Top-3 probabilities (out of sample)'), h('div', { className: 'probs' }, probs),
    h('h3', {}, 'Scores'), h('table', { className: 'scores' }, scores),
    h('h3', {}, 'Nearest neighbours (same split, embedding, cosine)'), h('div', { className: 'nbrs' }, nbrs),
    h('h3', {}, 'Decision history'), h('ol', { className: 'log' }, history));
}

/** Group rows of one bulk action (same time, action, label and author) into one line. */
function group(rows) {
  const out = [];
  for (const r of rows) {
    const last = out[out.length - 1];
    if (last && last.created_at === r.created_at && last.action === r.action && last.label === r.label
        && last.author === r.author && last.source === r.source) last.count += 1;
    else out.push({ ...r, count: 1 });
  }
  return out;
}

export async function refreshHistory({ onPick } = {}) {
  const data = await getJSON('/api/decisions?limit=200&source=human');
  const rows = group(data.rows).slice(0, 40);
  document.getElementById('history-list').replaceChildren(...(rows.length
    ? rows.map((r) => logItem(r, { onPick: onPick ?? (() => {}) }))
    : [h('li', { className: 'muted' }, 'No decisions yet. Press ', kbd('i'), ', ', kbd('k'), ' or a digit.')]));
  return data;
}
