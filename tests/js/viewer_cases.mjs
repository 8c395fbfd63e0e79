// Runs edge/viewer/function.js for the tests: one JSON case a line on stdin, one JSON answer a line.
// {"query": "..."} → canonicalQuery; {"accept": "..."} → normaliseAccept; {"uri": "..."} → isImage;
// {"event": {...}} → handler(event); {"time": query, "n": N} → microseconds per canonicalQuery.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const source = readFileSync(process.argv[2], 'utf8');
const fn = new Function(source + '\nreturn { handler, canonicalQuery, normaliseAccept, isImage, KEPT, CHOICES, COLOURS, IMAGE };')();
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const c = JSON.parse(line);
  let out;
  if ('time' in c) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < c.n; i++) fn.canonicalQuery(c.time);
    out = Number(process.hrtime.bigint() - start) / 1000 / c.n;
  } else if ('query' in c) out = fn.canonicalQuery(c.query);
  else if ('accept' in c) out = fn.normaliseAccept(c.accept);
  else if ('uri' in c) out = fn.isImage(c.uri);
  else if ('event' in c) out = fn.handler(c.event);
  else if ('tables' in c) out = { KEPT: fn.KEPT, CHOICES: fn.CHOICES, COLOURS: fn.COLOURS, IMAGE: fn.IMAGE };
  process.stdout.write(JSON.stringify(out) + '\n');
}
