/**
 * A machine as nested boxes (Harel's notation): a compound state contains its children, its initial child is
 * marked with an arrow, a final state has a double border, and each box lists its outgoing transitions
 * (`event [guard] → target`). The active states and their ancestors carry the class `active`.
 *
 * An HTML fragment with no scripts, no inline styles and no external resources: style it with `STATECHART_CSS`
 * (or your own rules for the same classes). Every label is escaped. Transitions that only run actions are left
 * out, as in the Mermaid diagrams.
 */
import type { AnyStateMachine } from 'xstate';
import {
  activeStateSet,
  type Statechart,
  type StatechartState,
  type StatechartTransition,
  statechartOf,
} from './statechart-graph.js';

export const STATECHART_CSS = `.statechart{font:12px/1.4 system-ui,sans-serif;color:#222}
.statechart .sc-title{font-weight:600;margin:0 0 4px}
.statechart .sc-children{display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start}
.statechart .sc-state{border:1px solid #999;border-radius:8px;padding:4px 6px;background:#fff}
.statechart .sc-compound,.statechart .sc-parallel{background:#fafafa}
.statechart .sc-parallel>.sc-children>.sc-state{border-style:dashed}
.statechart .sc-final{border:3px double #999}
.statechart .sc-name{font-weight:600}
.statechart .sc-initial-mark{color:#555;margin-right:3px}
.statechart .sc-invokes{font-size:11px;color:#666;font-style:italic}
.statechart .sc-transitions{list-style:none;margin:2px 0 4px;padding:0;font-size:11px;color:#444}
.statechart .sc-guard{color:#8a6d00}
.statechart .sc-target{font-family:ui-monospace,monospace}
.statechart .sc-state.active{border-color:#1a7f37;background:#eefbf0}
.statechart .sc-state.active>.sc-name{color:#1a7f37}
.statechart .sc-atomic.active,.statechart .sc-final.active{border-width:2px;background:#d2f4d9}
`;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

const charts = new WeakMap<AnyStateMachine, Statechart>();

/** The model of a machine, built once per machine (a status page draws the same machines over and over). */
function chartOf(machine: AnyStateMachine | Statechart): Statechart {
  if (!('transition' in machine)) return machine;
  let chart = charts.get(machine);
  if (!chart) {
    chart = statechartOf(machine);
    charts.set(machine, chart);
  }
  return chart;
}

function transitionHtml(transition: StatechartTransition): string {
  const guard =
    transition.guard === undefined ? '' : ` <span class="sc-guard">[${escapeHtml(transition.guard)}]</span>`;
  const targets = transition.targets.map((target) => `<span class="sc-target">${escapeHtml(target)}</span>`);
  return `<li><span class="sc-event">${escapeHtml(transition.event)}</span>${guard} → ${targets.join(', ')}</li>`;
}

function stateHtml(state: StatechartState, initial: boolean, active: Set<string>, depth: number): string {
  const indent = '  '.repeat(depth);
  const classes = ['sc-state', `sc-${state.type}`];
  if (initial) classes.push('sc-initial');
  if (active.has(state.path)) classes.push('active');
  const lines = [`${indent}<div class="${classes.join(' ')}" data-state="${escapeHtml(state.path)}">`];
  const mark = initial ? '<span class="sc-initial-mark" title="initial state">→</span>' : '';
  lines.push(`${indent}  <div class="sc-name">${mark}${escapeHtml(state.key)}</div>`);
  lines.push(...bodyHtml(state, active, depth + 1));
  lines.push(`${indent}</div>`);
  return lines.join('\n');
}

function bodyHtml(state: StatechartState, active: Set<string>, depth: number): string[] {
  const indent = '  '.repeat(depth);
  const lines: string[] = [];
  if (state.invokes.length > 0) {
    lines.push(`${indent}<div class="sc-invokes">invokes ${state.invokes.map(escapeHtml).join(', ')}</div>`);
  }
  const arrows = state.transitions.filter((transition) => transition.targets.length > 0);
  if (arrows.length > 0) {
    lines.push(`${indent}<ul class="sc-transitions">`);
    for (const transition of arrows) lines.push(`${indent}  ${transitionHtml(transition)}`);
    lines.push(`${indent}</ul>`);
  }
  if (state.children.length > 0) {
    lines.push(`${indent}<div class="sc-children">`);
    for (const child of state.children) {
      lines.push(stateHtml(child, child.path === state.initial, active, depth + 1));
    }
    lines.push(`${indent}</div>`);
  }
  return lines;
}

/**
 * The statechart of `machine` with `activeStates` marked: dotted paths of the active states
 * (`connected.ready.idle`, one per region of a parallel state; `activePaths(snapshot.value)` gives them), each of
 * whose boxes, and their ancestors', get the class `active`. Unknown paths mark nothing.
 */
export function renderStatechartHtml(machine: AnyStateMachine | Statechart, activeStates: readonly string[]): string {
  const chart = chartOf(machine);
  const active = activeStateSet(activeStates);
  const lines = [
    `<div class="statechart" data-machine="${escapeHtml(chart.id)}">`,
    `  <div class="sc-title">${escapeHtml(chart.root.key)}</div>`,
    ...bodyHtml(chart.root, active, 1),
    '</div>',
  ];
  return `${lines.join('\n')}\n`;
}
