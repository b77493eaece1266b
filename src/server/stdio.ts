/**
 * The stdio transport to the client. It differs from the SDK's `StdioServerTransport` in three ways, and writes
 * through it for everything else:
 * - the end of stdin does not close it: `onInputEnd` tells the caller, which answers what is still open first
 *   (the SDK's transport closes at once, and the requests still running are never answered);
 * - a line that is not JSON-RPC is answered (-32700 Parse error, or -32600 Invalid Request) and reported in one
 *   stderr line that never quotes it (the SDK's reader drops it silently, and the client waits forever);
 * - it knows which requests are open (`requests`), and can answer them all with an error when the proxy stops;
 *   and what the proxy asked the client and will never hear back about once stdin has ended fails then.
 * Lines come from node:readline and are parsed by the SDK's `deserializeMessage`: no JSON-RPC framing of our own.
 */
import { createInterface, type Interface } from 'node:readline';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import {
  deserializeMessage,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  type JSONRPCMessage,
  PARSE_ERROR,
  type RequestId,
  STDIO_DEFAULT_MAX_BUFFER_SIZE,
  type Transport,
} from '@modelcontextprotocol/server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { OpenRequests, requestIdOf, responseIdOf } from './open-requests.js';

export interface ClientStdioOptions {
  stdin?: Readable;
  stdout?: Writable;
  /** Where the one line about a bad input line goes (stderr, through the logger). */
  warn: (line: string) => void;
}

export class ClientStdioTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onerror?: (error: Error) => void;
  onclose?: () => void;
  /** stdin has ended (or failed): every line it held has been delivered. Called once. */
  onInputEnd?: () => void;
  /** stdout cannot be written any more (EPIPE and the like): nobody will read another answer. */
  onOutputBroken?: (error: Error) => void;
  readonly requests = new OpenRequests();
  /** Requests the proxy sent the client (elicitation, sampling, roots) and has no answer to yet. */
  private readonly askedOfClient = new Set<RequestId>();

  private readonly stdin: Readable;
  private readonly stdout: Writable;
  private readonly warn: (line: string) => void;
  // The SDK's transport does the writing; it is given an input of its own that never carries anything.
  private readonly writer: StdioServerTransport;
  private lines?: Interface;
  private lineNumber = 0;
  private unterminatedBytes = 0;
  private inputEnded = false;
  private closed = false;
  private corked = false;
  /** Messages waiting for stdout to drain, in order (see `write`). */
  private waiting: Promise<void> = Promise.resolve();
  private waitingCount = 0;
  private drained?: Promise<void>;

  constructor(options: ClientStdioOptions) {
    this.stdin = options.stdin ?? process.stdin;
    this.stdout = options.stdout ?? process.stdout;
    this.warn = options.warn;
    this.writer = new StdioServerTransport(new PassThrough(), this.stdout);
    this.writer.onerror = (error) => {
      if (isBrokenOutput(error)) this.onOutputBroken?.(error);
      this.onerror?.(error);
    };
    // The writer closes itself when stdout fails; then nothing more can be said to the client.
    this.writer.onclose = () => void this.close();
  }

  /** Whether stdin has already ended (the caller may install `onInputEnd` after that). */
  get hasInputEnded(): boolean {
    return this.inputEnded;
  }

  async start(): Promise<void> {
    await this.writer.start();
    this.lines = createInterface({ input: this.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    this.lines.on('line', (line) => this.readLine(line));
    this.lines.on('close', () => this.endInput());
    this.stdin.on('data', this.guardLineSize);
    // readline ends on 'end' only; a stdin destroyed or failed without it has ended too.
    this.stdin.on('close', () => this.endInput());
    this.stdin.on('error', (error) => {
      this.onerror?.(error);
      this.endInput();
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (!this.requests.mayWrite(message)) return;
    const askedId = requestIdOf(message);
    if (askedId !== undefined) this.askedOfClient.add(askedId);
    try {
      await this.write(message);
    } finally {
      this.requests.written(message);
    }
  }

  /**
   * Answers every open request with a JSON-RPC internal error saying why the proxy stops; a real answer that
   * arrives later is dropped. Resolves when the answers are written (or failed to be).
   */
  async failOpenRequests(reason: string): Promise<void> {
    const ids = this.requests.takeAll();
    await Promise.allSettled(
      ids.map((id) =>
        this.write({ jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: `Proxy shutting down: ${reason}` } }),
      ),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lines?.close();
    await this.writer.close();
    this.onclose?.();
  }

  /**
   * readline buffers a line without bound; the SDK's reader stops at 10 MB, and so does this one: a client that
   * sends that much without a newline is not speaking JSON-RPC, and its input ends there (what it sent before is
   * still answered).
   */
  private readonly guardLineSize = (chunk: Buffer | string) => {
    const newline = chunk.lastIndexOf('\n');
    this.unterminatedBytes = newline === -1 ? this.unterminatedBytes + chunk.length : chunk.length - newline - 1;
    if (this.unterminatedBytes <= STDIO_DEFAULT_MAX_BUFFER_SIZE) return;
    this.warn(
      `stdin line ${this.lineNumber + 1} is longer than ${STDIO_DEFAULT_MAX_BUFFER_SIZE} bytes; reading no more`,
    );
    this.stdin.off('data', this.guardLineSize);
    this.stdin.pause();
    this.lines?.close();
  };

  private readLine(line: string): void {
    this.lineNumber++;
    if (this.closed || line.trim() === '') return;
    let message: JSONRPCMessage;
    try {
      message = deserializeMessage(line);
    } catch (error) {
      this.answerBadLine(line, error instanceof SyntaxError);
      return;
    }
    const answeredId = responseIdOf(message);
    if (answeredId !== undefined) this.askedOfClient.delete(answeredId);
    this.requests.received(message);
    this.onmessage?.(message);
  }

  /** JSON-RPC 2.0 §5.1: -32700 with a null id for invalid JSON, -32600 with the id (if readable) for the rest. */
  private answerBadLine(line: string, notJson: boolean): void {
    const [code, text] = notJson ? [PARSE_ERROR, 'Parse error'] : [INVALID_REQUEST, 'Invalid Request'];
    this.warn(`stdin line ${this.lineNumber} is not JSON-RPC (${text}); answered ${code}`);
    const id = notJson ? null : readableId(line);
    // The SDK's message type has no null id, which JSON-RPC requires here.
    const answer = { jsonrpc: '2.0', id, error: { code, message: text } } as unknown as JSONRPCMessage;
    this.write(answer).catch((error: Error) => this.onerror?.(error));
  }

  private endInput(): void {
    if (this.inputEnded || this.closed) return;
    this.inputEnded = true;
    // No answer can come any more: what the proxy asked the client fails now, so that the calls waiting on it
    // answer now rather than at their timeout.
    for (const id of this.askedOfClient) {
      const message = 'The client closed its input (stdin) before answering';
      this.onmessage?.({ jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message } });
    }
    this.askedOfClient.clear();
    this.onInputEnd?.();
  }

  /**
   * While stdout needs draining, messages wait here in order and go out once it has drained. The SDK's `send` hangs
   * an `error` and a `drain` listener on stdout for every message written while it is full: under a flood of
   * notifications that is thousands of listeners (MaxListenersExceededWarning) for what one wait does.
   */
  private write(message: JSONRPCMessage): Promise<void> {
    if (this.waitingCount === 0 && !this.stdout.writableNeedDrain) return this.writeNow(message);
    this.waitingCount++;
    const sent = this.waiting.then(async () => {
      while (this.stdout.writableNeedDrain && !this.closed) await this.drain();
      return this.writeNow(message);
    });
    this.waiting = sent
      .catch(() => {})
      .finally(() => {
        this.waitingCount--;
      });
    return sent;
  }

  /** One shared wait for stdout's `drain` (or its end: a closed stdout never drains). */
  private drain(): Promise<void> {
    this.drained ??= new Promise<void>((resolve) => {
      const done = () => {
        this.stdout.off('drain', done);
        this.stdout.off('close', done);
        this.drained = undefined;
        resolve();
      };
      this.stdout.on('drain', done);
      this.stdout.on('close', done);
    });
    return this.drained;
  }

  /**
   * Answers that become ready in the same turn of the event loop are written in one batch: a pipe write is a
   * blocking system call on Linux (waking the reader), and under load one write per answer cost more than the rest
   * of the answer. Each upstream answer arrives in a task of its own, so a tick would batch one answer; the turn's
   * end (setImmediate, right after the I/O it read) batches all those read together, and adds no wait at
   * concurrency 1.
   */
  private writeNow(message: JSONRPCMessage): Promise<void> {
    if (!this.corked) {
      this.corked = true;
      this.stdout.cork();
      setImmediate(() => {
        this.corked = false;
        this.stdout.uncork();
      });
    }
    return this.writer.send(message);
  }
}

/** The `id` of a line that is JSON but not a JSON-RPC message, when it has a usable one. */
function readableId(line: string): RequestId | null {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null || !('id' in value)) return null;
  const { id } = value as { id: unknown };
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

function isBrokenOutput(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

export function createStdioTransport(options: ClientStdioOptions): ClientStdioTransport {
  return new ClientStdioTransport(options);
}
