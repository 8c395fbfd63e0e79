#!/usr/bin/env node
// Render jobs with sharp (libvips), as Tachyon's src/lib.ts drives it, for benchmarks only.
//
//   node benchmarks/sharp/render.mjs jobs.json   →  JSON on stdout: [{bytes, width, height, pages}, ...]
//
// jobs.json: [{"input": "a.png", "out": "a-300.png", "width": 300, "height": null,
//              "fit": "inside", "format": "png", "options": {"palette": true}}, ...]
// The ICC profile is kept and EXIF dropped (the metadata our default keeps), the
// image is turned upright first (Tachyon's image.rotate()), never enlarged.
// One thread, no cache, so figures compare with one Python process.
//
// Optional per job: "animated": true reads every frame (GIF, WebP; Tachyon passes it
// for animations); "repeats": N also times N renders after one warm-up and reports
// "cpu_ms", the median user+system CPU of one render (process.cpuUsage).
process.env.VIPS_CONCURRENCY = process.env.VIPS_CONCURRENCY || '1';
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '1';

import { readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';

sharp.concurrency(1);
sharp.cache(false);

async function render(buffer, job) {
  let image = sharp(buffer, { failOnError: false, animated: Boolean(job.animated) }).keepIccProfile().rotate();
  if (job.width || job.height) {
    image = image.resize({
      width: job.width || undefined,
      height: job.height || undefined,
      fit: job.fit || 'inside',
      withoutEnlargement: true,
    });
  }
  return image.toFormat(job.format, job.options || {}).toBuffer({ resolveWithObject: true });
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = [];
for (const job of jobs) {
  const buffer = readFileSync(job.input);
  let { data, info } = await render(buffer, job);
  const result = {};
  if (job.repeats) {
    const cpu = [];
    for (let i = 0; i < job.repeats; i++) {
      const start = process.cpuUsage();
      ({ data, info } = await render(buffer, job));
      const used = process.cpuUsage(start);
      cpu.push((used.user + used.system) / 1000);
    }
    result.cpu_ms = median(cpu);
  }
  if (job.out) writeFileSync(job.out, data);
  results.push({ bytes: data.length, width: info.width, height: info.pageHeight || info.height,
    pages: info.pages || 1, ...result });
}
process.stdout.write(JSON.stringify(results));
