/**
 * A machine as a Mermaid `stateDiagram-v2`: compound states nest their children, `[*] -->` marks initial states
 * and `--> [*]` final ones, and every transition that changes state is an arrow labelled `event [guard]`.
 * Transitions that only run actions are not drawn (the diagram shows where a machine can go).
 *
 * The output depends on the machine definition alone, in its document order, so a committed diagram can be
 * checked for staleness by generating it again.
 */
import type { AnyStateMachine } from 'xstate';
import { type Statechart, type StatechartState, statechartOf } from './statechart-graph.js';

/** Words Mermaid's state-diagram lexer takes as keywords at the start of a statement or anywhere (`default`). */
const RESERVED = /^(state|note|class|classdef|default|scale|hide|direction|end)/i;

/** Mermaid ids: the state's path with `_` for `.`, other characters made safe, unique within the diagram. */
function mermaidIds(chart: Statechart): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const state of chart.states.values()) {
    let base = (state.path === '' ? state.key : state.path).replace(/[^A-Za-z0-9_]/g, '_');
    if (!/^[A-Za-z_]/.test(base) || RESERVED.test(base)) base = `s_${base}`;
    let id = base;
    for (let n = 2; used.has(id); n += 1) id = `${base}_${n}`;
    used.add(id);
    ids.set(state.path, id);
  }
  return ids;
}

/** A state's name in quotes: no double quotes inside. */
function nameText(text: string): string {
  return text.replace(/"/g, "'").replace(/\s+/g, ' ');
}

/**
 * A transition label: the lexer ends a label at `:` or `;` and takes `%%` for a comment. `:` becomes `∶` (U+2236,
 * which looks the same), so `done: listCatalog` reads as written.
 */
function labelText(text: string): string {
  return text.replace(/:/g, '\u2236').replace(/;/g, ',').replace(/%%/g, '% %').replace(/\s+/g, ' ');
}

export function toMermaid(machine: AnyStateMachine | Statechart): string {
  const chart = 'transition' in machine ? statechartOf(machine) : machine;
  const ids = mermaidIds(chart);
  const idOf = (path: string): string => ids.get(path)!;
  const lines = ['stateDiagram-v2'];

  const declare = (state: StatechartState, depth: number): void => {
    const indent = '  '.repeat(depth);
    // Mermaid has no history pseudo-state: H, as in Harel's notation, with the state's name.
    const name = state.type === 'history' ? `H ${state.key}` : state.key;
    if (state.children.length === 0) {
      lines.push(`${indent}state "${nameText(name)}" as ${idOf(state.path)}`);
      return;
    }
    lines.push(`${indent}state "${nameText(name)}" as ${idOf(state.path)} {`);
    body(state, depth + 1);
    lines.push(`${indent}}`);
  };

  const body = (state: StatechartState, depth: number): void => {
    const indent = '  '.repeat(depth);
    if (state.initial !== undefined) lines.push(`${indent}[*] --> ${idOf(state.initial)}`);
    state.children.forEach((child, index) => {
      // The regions of a parallel state are separated by `--`.
      if (state.type === 'parallel' && index > 0) lines.push(`${indent}--`);
      declare(child, depth);
    });
    for (const child of state.children) {
      if (child.type === 'final') lines.push(`${indent}${idOf(child.path)} --> [*]`);
    }
  };

  // The root is drawn as a state of its own only when it has transitions that change state.
  const rootHasArrows = chart.root.transitions.some((transition) => transition.targets.length > 0);
  if (rootHasArrows) {
    lines.push(`  [*] --> ${idOf('')}`);
    declare(chart.root, 1);
  } else {
    body(chart.root, 1);
  }

  for (const state of chart.states.values()) {
    for (const transition of state.transitions) {
      for (const target of transition.targets) {
        lines.push(`  ${idOf(transition.source)} --> ${idOf(target)} : ${labelText(transition.label)}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
