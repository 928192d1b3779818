// The side panel: one sample's details (fetched from /api/samples/{sid}) and the recent-decisions log.

import { esc, getJSON } from './api.js';
import { S, fmt } from './store.js';

let controller = null;
let shown = null;

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });

export const shownSid = () => shown;

function actionText(r) {
  if (r.action === 'relabel') return `relabel → ${esc(r.label_name)}`;
  if (r.action === 'idk') return S.meta.idk_name;
  return r.action;
}

function logItem(r, withSample) {
  const who = r.source === 'auto' ? 'auto proposal' : esc(r.author);
  const sample = withSample ? `<a data-sid="${r.sid}">${esc(r.split)} #${r.index}</a>` : '';
  const n = r.count > 1 ? ` ×${r.count}` : '';
  const why = r.reason ? `<span class="why" title="${esc(r.reason)}">${esc(r.reason)}</span>` : '';
  return `<li><span class="time">${time(r.created_at)}</span><span class="act ${r.action}">${actionText(r)}${n}</span>`
    + `${sample}<span class="muted">${who}</span>${why}</li>`;
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
  const box = document.getElementById('detail');
  const probs = d.top.map((t) => `<div class="row${t.label === d.label ? ' is-label' : ''}">
      <b>${esc(t.name)}</b><div class="track"><div class="fill" style="width:${(t.p * 100).toFixed(1)}%"></div></div>
      <span>${(t.p * 100).toFixed(1)}%</span></div>`).join('');
  const scores = Object.entries(d.scores).filter(([k]) => !k.endsWith('_x') && !k.endsWith('_y')).map(([k, v]) => {
    const help = S.header.score_help[k];
    const dir = help ? (help.direction > 0 ? '↑' : '↓') : '';
    const tip = help ? `${help.help}; ${help.direction > 0 ? 'higher' : 'lower'} = more doubtful` : '';
    return `<tr title="${esc(tip)}"><td>${esc(k)}</td><td class="dir">${dir}</td><td>${fmt(v)}</td></tr>`;
  }).join('');
  const nbrs = d.neighbours.map((nb) => `<button data-sid="${nb.sid}" title="sid ${nb.sid} · cosine ${nb.similarity}">
      <img src="/api/thumb/${nb.sid}" alt="neighbour ${nb.sid}" loading="lazy">
      <span class="${nb.label === d.label ? '' : 'diff'}">${esc(nb.label_name)}</span></button>`).join('');
  const history = d.history.length ? d.history.map((r) => logItem(r, false)).join('')
    : '<li class="muted">no decisions</li>';
  const outcome = d.status === 'relabelled' ? ` → ${esc(d.curated_name)}` : '';
  const p = d.proposal;
  const suggested = p ? `<div class="suggest" title="the auto proposal in force; Enter accepts it">Suggested:
      ${p.action === 'relabel' ? `relabel → ${esc(p.label_name)}` : esc(S.meta.idk_name)} <kbd>Enter</kbd></div>` : '';
  const stIndex = S.meta.status_names.indexOf(d.status);
  box.innerHTML = `<div class="d-head"><img src="/api/thumb/${sid}" alt="sample ${sid}">
      <div><h2>${esc(d.split)} #${d.index}</h2><div class="muted">sid ${sid}</div>
      <div class="chips"><span class="chip">label ${esc(d.label_name)}</span>
        <span class="chip">pred ${esc(d.pred_name)}</span>
        <span class="chip st-${stIndex}">${esc(d.status)}${outcome}</span></div>${suggested}</div></div>
    <h3>Top-3 probabilities (out of sample)</h3><div class="probs">${probs}</div>
    <h3>Scores</h3><table class="scores">${scores}</table>
    <h3>Nearest neighbours (same split, embedding, cosine)</h3><div class="nbrs">${nbrs}</div>
    <h3>Decision history</h3><ol class="log">${history}</ol>`;
  box.querySelectorAll('.nbrs button').forEach((b) => b.addEventListener('click', () => onPick?.(Number(b.dataset.sid))));
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
  const list = document.getElementById('history-list');
  const rows = group(data.rows).slice(0, 40);
  list.innerHTML = rows.length ? rows.map((r) => logItem(r, true)).join('')
    : '<li class="muted">No decisions yet. Press <kbd>i</kbd>, <kbd>k</kbd> or a digit.</li>';
  list.querySelectorAll('a[data-sid]').forEach((a) => a.addEventListener('click', () => onPick?.(Number(a.dataset.sid))));
  return data;
}

