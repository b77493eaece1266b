/**
 * The statechart model, its Mermaid and HTML drawings, and the committed diagrams: docs/statecharts.md and the
 * README block must be what `npm run diagrams` generates from the machines now.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { not, setup, stateIn } from 'xstate';
import { callMachine } from '../../machines/call/index.js';
import { supervisorMachine } from '../../machines/supervisor/index.js';
import { upstreamMachine } from '../../machines/upstream/index.js';
import {
  DOCS_FILE,
  README_END,
  README_FILE,
  README_START,
  readmeBlock,
  statechartsMarkdown,
  withReadmeBlock,
} from '../../scripts/statecharts-docs.js';
import { toMermaid } from '../../src/observe/mermaid.js';
import {
  activePaths,
  reachableStates,
  type Statechart,
  statechartOf,
  transitionsOf,
} from '../../src/observe/statechart-graph.js';
import { renderStatechartHtml } from '../../src/observe/statechart-html.js';

const ROOT = new URL('../../', import.meta.url);
const MACHINES = [upstreamMachine, callMachine, supervisorMachine];

/** A machine with what ours don't have (yet): parallel regions, a nested final state, a numeric delay, odd names. */
const oddMachine = setup({
  types: { events: {} as { type: 'go' } | { type: '<script>' } | { type: 'stop' } },
  guards: { 'a&b': () => true },
}).createMachine({
  id: 'odd',
  initial: 'default',
  on: { stop: { target: '.end-state' } },
  states: {
    default: {
      type: 'parallel',
      states: {
        left: { initial: 'a<b', states: { 'a<b': { on: { go: 'done' } }, done: { type: 'final' } } },
        right: { initial: 'x', states: { x: { after: { 1500: 'y' } }, y: {} } },
      },
      on: { '<script>': { guard: 'a&b', target: 'state' } },
    },
    state: {
      always: [
        { guard: stateIn({ default: { left: 'done' } }), target: 'end-state' },
        { guard: not('a&b'), target: 'default' },
      ],
    },
    'end-state': { type: 'final' },
  },
});

function transition(chart: Statechart, source: string, target: string, event?: string) {
  return transitionsOf(chart).filter(
    (each) => each.source === source && each.targets.includes(target) && (event === undefined || each.event === event),
  );
}

/** Checks a stateDiagram-v2 the way Mermaid's lexer reads it; returns the declared ids and the arrows. */
function parseMermaid(text: string): { declared: string[]; arrows: Array<[string, string, string?]> } {
  const lines = text.trimEnd().split('\n');
  expect(lines[0]).toBe('stateDiagram-v2');
  const id = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const declared: string[] = [];
  const arrows: Array<[string, string, string?]> = [];
  let depth = 0;
  for (const line of lines.slice(1).map((each) => each.trim())) {
    const state = /^state "([^"]*)" as (\S+)( \{)?$/.exec(line);
    const arrow = /^(\S+) --> (\S+)(?: : (.+))?$/.exec(line);
    if (state) {
      expect(state[2]).toMatch(id);
      expect(state[2]).not.toMatch(/^(state|note|class|default|scale|hide|direction|end)/i);
      declared.push(state[2]!);
      if (state[3]) depth += 1;
    } else if (arrow) {
      const [, from, to, label] = arrow;
      if (label !== undefined) expect(label).not.toMatch(/[:;]|%%/);
      arrows.push([from!, to!, label]);
    } else if (line === '}') {
      depth -= 1;
      expect(depth).toBeGreaterThanOrEqual(0);
    } else {
      expect(line, 'a line Mermaid would not read as intended').toBe('--');
    }
  }
  expect(depth).toBe(0);
  expect(new Set(declared).size, 'ids are unique').toBe(declared.length);
  for (const [from, to] of arrows) {
    for (const end of [from, to]) if (end !== '[*]') expect(declared, `${end} is declared`).toContain(end);
  }
  return { declared, arrows };
}

describe('the committed diagrams', () => {
  it(`${DOCS_FILE} is what the machines give now`, () => {
    const committed = readFileSync(new URL(DOCS_FILE, ROOT), 'utf8');
    expect(committed, `${DOCS_FILE} is stale: run \`npm run diagrams\``).toBe(statechartsMarkdown());
  });

  it(`${README_FILE}'s statecharts block is what the machines give now`, () => {
    const readme = readFileSync(new URL(README_FILE, ROOT), 'utf8');
    expect(readme, `${README_FILE} has no ${README_START} block`).toContain(README_START);
    const committed = readme.slice(readme.indexOf(README_START), readme.indexOf(README_END) + README_END.length);
    expect(committed, `the statecharts in ${README_FILE} are stale: run \`npm run diagrams\``).toBe(readmeBlock());
  });

  it('filling the README block twice changes nothing, and only the block changes', () => {
    const readme = `before\n${README_START}\nold\n${README_END}\nafter\n`;
    const once = withReadmeBlock(readme);
    expect(withReadmeBlock(once)).toBe(once);
    expect(once.startsWith('before\n')).toBe(true);
    expect(once.endsWith(`${README_END}\nafter\n`)).toBe(true);
    expect(() => withReadmeBlock('no markers')).toThrow(/statecharts:start/);
  });
});

describe('statechartOf', () => {
  const upstream = statechartOf(upstreamMachine);

  it('has the state tree, with types and initial children', () => {
    expect(upstream.id).toBe('upstream');
    expect(upstream.root.initial).toBe('waitingForClient');
    expect(upstream.states.get('connecting')).toMatchObject({ type: 'compound', initial: 'connecting.choosing' });
    expect(upstream.states.get('connecting.http')).toMatchObject({
      id: 'upstream.connecting.http',
      key: 'http',
      type: 'atomic',
      invokes: ['connectStreamableHttp'],
    });
    expect(upstream.states.get('connected.ready')?.children.map((child) => child.path)).toEqual([
      'connected.ready.idle',
      'connected.ready.relisting',
    ]);
    expect(statechartOf(callMachine).states.get('done')?.type).toBe('final');
  });

  it('labels guards, invoked actors, always and delayed transitions', () => {
    expect(transition(upstream, 'connecting.http', 'connecting.sse')).toMatchObject([
      { trigger: 'error', event: 'error: connectStreamableHttp', guard: 'mayFallBack' },
    ]);
    expect(transition(upstream, 'connecting.http', 'connected')[0]?.label).toBe('done: connectStreamableHttp');
    expect(upstream.states.get('connecting.choosing')?.transitions).toMatchObject([
      { trigger: 'always', eventType: '', label: 'always [startsWithSse]', targets: ['connecting.sse'] },
      { trigger: 'always', label: 'always', targets: ['connecting.http'] },
    ]);
    expect(transition(upstream, 'reconnecting', 'connecting')).toMatchObject([
      { trigger: 'after', event: 'after reconnectDelay' },
    ]);
    expect(transition(upstream, 'connected.listing', 'failed')[0]?.label).toBe(
      'error: listCatalog [insufficientScope]',
    );
    expect(transition(upstream, 'discovering', 'refreshing')[0]?.guard).toBe('refreshTokenStored');
  });

  it('keeps transitions that only run actions, with no target', () => {
    const internal = transitionsOf(upstream).filter((each) => each.targets.length === 0);
    expect(internal).toContainEqual(
      expect.objectContaining({ source: 'connected', event: 'call.sessionExpired', guard: 'in connected.ready' }),
    );
    expect(internal).toContainEqual(expect.objectContaining({ source: '', event: 'request.forward' }));
  });

  it('reads built-in guards, numeric delays, parallel regions and targets across the tree', () => {
    const odd = statechartOf(oddMachine);
    expect(odd.states.get('default')?.type).toBe('parallel');
    expect(odd.states.get('default.left.done')?.type).toBe('final');
    expect(transition(odd, 'default.right.x', 'default.right.y')[0]?.event).toBe('after 1500ms');
    expect(odd.states.get('state')?.transitions.map((each) => each.guard)).toEqual(['in default.left.done', 'not a&b']);
    expect(transition(odd, '', 'end-state')[0]?.event).toBe('stop');
  });

  it('every state of our machines can be reached', () => {
    for (const machine of MACHINES) {
      const chart = statechartOf(machine);
      const reached = reachableStates(chart);
      expect(
        [...chart.states.keys()].filter((path) => !reached.has(path)),
        machine.id,
      ).toEqual([]);
    }
    const lonely = statechartOf(
      setup({}).createMachine({ initial: 'a', states: { a: { on: { go: 'b' } }, b: {}, c: { on: { go: 'a' } } } }),
    );
    expect([...reachableStates(lonely)]).toEqual(['', 'a', 'b']);
  });

  it('activePaths turns a snapshot value into the paths of its active leaves', () => {
    expect(activePaths({ connected: { ready: 'idle' } })).toEqual(['connected.ready.idle']);
    expect(activePaths({ default: { left: 'a<b', right: 'x' } })).toEqual(['default.left.a<b', 'default.right.x']);
    expect(activePaths('failed')).toEqual(['failed']);
  });
});

describe('toMermaid', () => {
  it.each(MACHINES.map((machine) => [machine.id, machine] as const))(
    'draws %s with every state declared once and every state change as an arrow',
    (_, machine) => {
      const chart = statechartOf(machine);
      const { declared, arrows } = parseMermaid(toMermaid(machine));
      // The root is a state of the drawing only when it has arrows of its own (the upstream's `upstream.retire`).
      const rootDrawn = chart.root.transitions.some((transition) => transition.targets.length > 0);
      expect(declared).toHaveLength(chart.states.size - (rootDrawn ? 0 : 1));
      const changes = transitionsOf(chart).flatMap((each) => each.targets);
      expect(arrows.filter(([from, , label]) => from !== '[*]' && label !== undefined)).toHaveLength(changes.length);
    },
  );

  it('nests compound states, marks initial and final states, and labels the arrows', () => {
    const text = toMermaid(upstreamMachine);
    expect(text).toContain(
      '    [*] --> waitingForClient\n    state "waitingForClient" as waitingForClient\n    state "connecting" as connecting {\n      [*] --> connecting_choosing\n',
    );
    expect(text).toContain('        state "idle" as connected_ready_idle\n');
    expect(text).toContain('  upstream --> retired : upstream.retire\n');
    expect(text).toContain('  connecting_http --> connecting_sse : error\u2236 connectStreamableHttp [mayFallBack]\n');
    expect(text).toContain('  connecting_choosing --> connecting_http : always\n');
    expect(text).toContain('  reconnecting --> connecting : after reconnectDelay\n');
    expect(toMermaid(callMachine)).toContain('\n  done --> [*]\n');
    expect(toMermaid(upstreamMachine)).toBe(text);
  });

  it('makes odd names valid ids, and draws the root when it has arrows of its own', () => {
    const text = toMermaid(oddMachine);
    const { declared } = parseMermaid(text);
    expect(declared).toEqual(
      expect.arrayContaining(['odd', 's_default', 's_default_left_a_b', 's_state', 's_end_state']),
    );
    expect(text).toContain('state "a<b" as s_default_left_a_b');
    expect(text).toMatch(/\n {6}--\n/); // between the parallel regions
    expect(text).toContain('s_default_left_done --> [*]');
    expect(text).toContain('  odd --> s_end_state : stop\n');
  });
});

describe('renderStatechartHtml', () => {
  it('marks the active state and its ancestors, and nothing else', () => {
    const html = renderStatechartHtml(upstreamMachine, ['connected.ready.idle']);
    const active = [...html.matchAll(/class="([^"]*\bactive\b[^"]*)" data-state="([^"]*)"/g)].map((match) => match[2]);
    expect(active).toEqual(['connected', 'connected.ready', 'connected.ready.idle']);
    expect(renderStatechartHtml(upstreamMachine, ['nowhere'])).not.toMatch(/\bactive\b/);
  });

  it('nests the boxes, marks the initial child and lists the transitions', () => {
    const html = renderStatechartHtml(upstreamMachine, []);
    expect(html).toMatch(/<div class="sc-state sc-atomic sc-initial" data-state="waitingForClient">/);
    expect(html).toMatch(
      /data-state="connecting">\s*<div class="sc-name">connecting<\/div>\s*<div class="sc-children">\s*<div class="sc-state sc-atomic sc-initial" data-state="connecting.choosing">/,
    );
    expect(html).toContain(
      '<li><span class="sc-event">error: connectStreamableHttp</span> <span class="sc-guard">[mayFallBack]</span> → <span class="sc-target">connecting.sse</span></li>',
    );
    expect(html).toContain(
      '<span class="sc-event">after reconnectDelay</span> → <span class="sc-target">connecting</span>',
    );
    expect(html).not.toContain('request.forward</span> →</li>');
    expect(html).not.toMatch(/<script|style=|src=|href=/);
    expect(renderStatechartHtml(callMachine, ['done'])).toContain(
      '<div class="sc-state sc-final active" data-state="done">',
    );
  });

  it('escapes every label', () => {
    const html = renderStatechartHtml(oddMachine, ['default.left.a<b']);
    expect(html).toContain('data-state="default.left.a&lt;b"');
    expect(html).toContain('<span class="sc-event">&lt;script&gt;</span> <span class="sc-guard">[a&amp;b]</span>');
    expect(html).not.toContain('a<b');
    expect(html).not.toContain('<script>');
    expect(html).toMatch(/class="sc-state sc-atomic sc-initial active" data-state="default\.left\.a&lt;b"/);
  });
});
