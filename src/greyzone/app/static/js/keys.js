// The keyboard map (documented in the page footer and the ? dialog). Returns a command, or null.
//   i IDK · k keep · 0-9 relabel · Enter accept the suggested action · u undo · ←/→ or j/l previous/next · ↑/↓ row · [ ] PgUp PgDn page
//   Home/End first/last · f one-at-a-time · Esc clear the map selection · ? help

const EDITABLE = new Set(['INPUT', 'SELECT', 'TEXTAREA']);

export function keyCommand(event, nClasses) {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  if (event.target && EDITABLE.has(event.target.tagName)) return null;
  if (document.querySelector('dialog[open]')) return null;
  const key = event.key;
  if (key === 'Enter') return event.target?.closest?.('button, a') ? null : { type: 'accept' };
  if (/^[0-9]$/.test(key)) return Number(key) < nClasses ? { type: 'decide', action: 'relabel', label: Number(key) } : null;
  switch (key) {
    case 'i': return { type: 'decide', action: 'idk' };
    case 'k': return { type: 'decide', action: 'keep' };
    case 'u': return { type: 'undo' };
    case 'ArrowRight': case 'l': return { type: 'move', by: 1 };
    case 'ArrowLeft': case 'j': return { type: 'move', by: -1 };
    case 'ArrowDown': return { type: 'move', by: 'row' };
    case 'ArrowUp': return { type: 'move', by: '-row' };
    case ']': case 'PageDown': return { type: 'page', by: 1 };
    case '[': case 'PageUp': return { type: 'page', by: -1 };
    case 'Home': return { type: 'jump', to: 'first' };
    case 'End': return { type: 'jump', to: 'last' };
    case 'f': return { type: 'mode' };
    case 'Escape': return { type: 'clear' };
    case '?': return { type: 'help' };
    default: return null;
  }
}
