#!/usr/bin/env node
// Reference renders with sharp (libvips), the way Human Made's Tachyon drives it
// (src/lib.ts), single-threaded, with the CPU time of each render.
//
//   node render.mjs --input in.gif --query 'w=128' --format gif [--quality 82] [--repeats 3] [--out out.gif]
//   node render.mjs --jobs jobs.json      # [{input, query, format, quality, repeats, out, options}, ...]
//
// Prints JSON: {versions, results: [{cpu_ms, cpu_ms_all, bytes, width, height, pages, out}]}.
// cpu_ms is the median over repeats of user+system CPU (process.cpuUsage), after one warm-up.
// query: Tachyon's size arguments w, h, crop=1, resize=W,H, fit=W,H (zoom=1). options: extra
// encoder options passed to sharp's format call, e.g. {"effort": 10}.
process.env.VIPS_CONCURRENCY ||= '1'; // read by libvips at init: one thread, like one Lambda vCPU
process.env.UV_THREADPOOL_SIZE ||= '1';

import { readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';

sharp.concurrency(1);
sharp.cache(false); // every repeat decodes again, as a fresh request does

function sizes(value) {
  return String(value).split(',').map((v) => Math.round(Number(v)) || undefined);
}

function resizeOptions(query) {
  const args = Object.fromEntries(new URLSearchParams(query));
  if (args.resize) {
    const [width, height] = sizes(args.resize);
    return { width, height, withoutEnlargement: true };
  }
  if (args.fit) {
    const [width, height] = sizes(args.fit);
    return { width, height, fit: 'inside', withoutEnlargement: true };
  }
  if (args.w || args.h) {
    return { width: Number(args.w) || undefined, height: Number(args.h) || undefined,
      fit: args.crop ? 'cover' : 'inside', withoutEnlargement: true };
  }
  return null;
}

async function renderOnce(buffer, job) {
  const image = sharp(buffer, { failOnError: false, animated: true }).rotate();
  const resize = resizeOptions(job.query || '');
  if (resize) image.resize(resize);
  const options = { ...(job.format === 'gif' || job.format === 'png' ? {} : { quality: job.quality ?? 82 }),
    ...(job.options || {}) };
  image.toFormat(job.format, options);
  return image.toBuffer({ resolveWithObject: true });
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function run(job) {
  const buffer = readFileSync(job.input);
  const cpu = [];
  let last;
  const repeats = job.repeats ?? 3;
  for (let i = 0; i <= repeats; i++) {
    const start = process.cpuUsage();
    last = await renderOnce(buffer, job);
    const used = process.cpuUsage(start);
    if (i > 0) cpu.push((used.user + used.system) / 1000);
  }
  if (job.out) writeFileSync(job.out, last.data);
  return { cpu_ms: median(cpu), cpu_ms_all: cpu, bytes: last.data.length, width: last.info.width,
    height: last.info.pageHeight || last.info.height, pages: last.info.pages || 1, out: job.out || null };
}

const argv = process.argv.slice(2);
const opts = {};
for (let i = 0; i < argv.length; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];
const jobs = opts.jobs ? JSON.parse(readFileSync(opts.jobs, 'utf8'))
  : [{ input: opts.input, query: opts.query, format: opts.format, out: opts.out,
    quality: opts.quality ? Number(opts.quality) : undefined, repeats: opts.repeats ? Number(opts.repeats) : undefined }];
if (!jobs.every((job) => job.input && job.format)) {
  console.error('usage: node render.mjs --input FILE --format gif|webp|png|jpeg|avif [--query w=300] '
    + '[--quality 82] [--repeats 3] [--out FILE]  |  --jobs jobs.json');
  process.exit(2);
}
const results = [];
for (const job of jobs) {
  try { results.push(await run(job)); } catch (error) { results.push({ error: String(error) }); }
}
process.stdout.write(JSON.stringify({ versions: { ...sharp.versions, node: process.versions.node }, results }) + '\n');
