/**
 * Which upstream owns each task the client knows of. Task ids are the upstreams' own and mean nothing elsewhere:
 * a request about a task goes to the upstream recorded here, and an id not recorded here is refused, never guessed.
 *
 * The client sees an upstream's id unchanged, unless another upstream already owns a live task of that id (ids are
 * only unique per upstream): then it sees `<id>@<upstream>` (made unique), and every answer is translated back.
 *
 * Bounds: a route lives as long as its task (the `ttl` the upstream gave it, from when the proxy saw it; at most
 * MAX_ROUTE_MS, also when the task has no ttl). A terminal status does not end it, since the client may fetch the
 * result (`tasks/result`, `tasks/get`) until the ttl runs out; an upstream that no longer knows the task (it answers
 * `tasks/get` or `tasks/result` with the spec's invalid params) ends it at once. At most MAX_ROUTES are kept:
 * beyond, the oldest terminal one goes first, then the oldest. Expired routes are swept on lookup and when the map
 * is full: no timers.
 */
import { TERMINAL_STATUSES, type WireTask } from './wire.js';

/** The longest a route is kept, whatever the task's ttl (null means "as long as the upstream likes"). */
export const MAX_ROUTE_MS = 24 * 60 * 60_000;
export const MAX_ROUTES = 10_000;

export interface TaskRoute {
  readonly upstream: string;
  /** The id the upstream knows the task by. */
  readonly upstreamId: string;
  expiresAt: number;
  terminal: boolean;
}

export class TaskRoutes {
  /** By the id the client sees; in insertion order (oldest first), which eviction relies on. */
  readonly #byExposed = new Map<string, TaskRoute>();
  /** `${upstream}\n${upstreamId}` → the id the client sees. */
  readonly #exposedOf = new Map<string, string>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly limit = MAX_ROUTES,
  ) {}

  get size(): number {
    return this.#byExposed.size;
  }

  /** Records a task an upstream reported (created, listed, or told us about); returns the id the client sees. */
  remember(upstream: string, task: WireTask): string {
    const key = routeKey(upstream, task.taskId);
    const known = this.#exposedOf.get(key);
    const route = known === undefined ? undefined : this.lookup(known);
    if (known !== undefined && route) {
      this.#settle(route, task.status);
      return known;
    }
    if (this.#byExposed.size >= this.limit) this.#makeRoom();
    const exposed = this.#freeId(upstream, task.taskId);
    const ttl = typeof task.ttl === 'number' && task.ttl >= 0 ? Math.min(task.ttl, MAX_ROUTE_MS) : MAX_ROUTE_MS;
    const added: TaskRoute = { upstream, upstreamId: task.taskId, expiresAt: this.now() + ttl, terminal: false };
    this.#settle(added, task.status);
    this.#byExposed.set(exposed, added);
    this.#exposedOf.set(key, exposed);
    return exposed;
  }

  /** The route of an id the client sent; undefined when unknown or expired. */
  lookup(exposedId: string): TaskRoute | undefined {
    const route = this.#byExposed.get(exposedId);
    if (route && route.expiresAt <= this.now()) {
      this.forget(exposedId);
      return undefined;
    }
    return route;
  }

  /** The id the client knows an upstream's task by, if it knows it. */
  exposedId(upstream: string, upstreamId: string): string | undefined {
    const exposed = this.#exposedOf.get(routeKey(upstream, upstreamId));
    return exposed !== undefined && this.lookup(exposed) ? exposed : undefined;
  }

  forget(exposedId: string): void {
    const route = this.#byExposed.get(exposedId);
    if (!route) return;
    this.#byExposed.delete(exposedId);
    this.#exposedOf.delete(routeKey(route.upstream, route.upstreamId));
  }

  #settle(route: TaskRoute, status: string): void {
    if (TERMINAL_STATUSES.has(status)) route.terminal = true;
  }

  /** The upstream's id if no other live task has it, else `<id>@<upstream>`, numbered until free. */
  #freeId(upstream: string, upstreamId: string): string {
    if (!this.lookup(upstreamId)) return upstreamId;
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? `${upstreamId}@${upstream}` : `${upstreamId}@${upstream}#${n}`;
      if (!this.lookup(candidate)) return candidate;
    }
  }

  #makeRoom(): void {
    const now = this.now();
    for (const [exposed, route] of this.#byExposed) if (route.expiresAt <= now) this.forget(exposed);
    if (this.#byExposed.size < this.limit) return;
    let victim: string | undefined;
    for (const [exposed, route] of this.#byExposed) {
      if (route.terminal) {
        victim = exposed;
        break;
      }
    }
    this.forget(victim ?? this.#byExposed.keys().next().value!);
  }
}

function routeKey(upstream: string, upstreamId: string): string {
  return `${upstream}\n${upstreamId}`;
}
