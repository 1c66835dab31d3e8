/**
 * How much memory the agent's heap may hold beyond what it uses.
 *
 * V8 sizes its heap for throughput: while entries stream in (a 100,000-event
 * backlog read at start, and again by each reconcile) it lets the garbage
 * of decoding them pile up, and the agent's resident memory reached 444 MB
 * with a live heap of 75 MB (heap snapshot). Resident memory also costs
 * time: each conduit is started with fork(), whose price grows with the
 * parent's mapped memory, and it blocks the agent's only thread.
 *
 * `--optimize-for-size` makes V8 collect before growing the heap. On the
 * same backlog it kept the peak at 151 MB and the run rate was no lower
 * (bench/, backlog figures). It is a V8 option read when the heap decides
 * to grow, so setting it at start, before the queue is read, takes effect;
 * Node cannot take it in NODE_OPTIONS, and a flag on the command line
 * would not reach an agent started as `node dist/agent/main.js`.
 */
import v8 from 'node:v8';

export function favourSmallHeap(): void {
  v8.setFlagsFromString('--optimize-for-size');
}
