/**
 * STAND-IN until `src/observe/statechart-html.ts` (branch `diagrams`) is on main: the same signature, the same
 * classes (`statechart`, `sc-state`, `active`, `data-state`), far fewer details. Deleted once the real one lands.
 */
import type { AnyStateMachine } from 'xstate';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);

export const STATECHART_CSS = `.statechart .sc-children{display:flex;flex-wrap:wrap;gap:6px}
.statechart .sc-state{border:1px solid #999;border-radius:8px;padding:4px 6px}
.statechart .sc-state.active{border-color:#1a7f37;background:#eefbf0}
`;

interface NodeLike {
  key: string;
  path: string[];
  states: Record<string, NodeLike>;
}

export function renderStatechartHtml(machine: AnyStateMachine, activeStates: readonly string[]): string {
  const active = new Set<string>();
  for (const state of activeStates) {
    const parts = state.split('.');
    for (let i = 1; i <= parts.length; i++) active.add(parts.slice(0, i).join('.'));
  }
  const box = (node: NodeLike): string => {
    const path = node.path.join('.');
    const children = Object.values(node.states).map(box).join('');
    return `<div class="sc-state${active.has(path) ? ' active' : ''}" data-state="${escapeHtml(path)}"><div class="sc-name">${escapeHtml(node.key)}</div>${children ? `<div class="sc-children">${children}</div>` : ''}</div>`;
  };
  const root = machine.root as unknown as NodeLike;
  return `<div class="statechart" data-machine="${escapeHtml(machine.id)}"><div class="sc-children">${Object.values(root.states).map(box).join('')}</div></div>`;
}
