#!/usr/bin/env node
// Render jobs with sharp (libvips), as Tachyon's src/lib.ts drives it, for benchmarks only.
//
//   node benchmarks/sharp/render.mjs jobs.json   →  JSON on stdout: [{bytes, width, height}, ...]
//
// jobs.json: [{"input": "a.png", "out": "a-300.png", "width": 300, "height": null,
//              "fit": "inside", "format": "png", "options": {"palette": true}}, ...]
// The ICC profile is kept and EXIF dropped (the metadata our default keeps), the
// image is turned upright first (Tachyon's image.rotate()), never enlarged.
// One thread, no cache, so figures compare with one Python process.
process.env.VIPS_CONCURRENCY = process.env.VIPS_CONCURRENCY || '1';

import { readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';

sharp.concurrency(1);
sharp.cache(false);

const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = [];
for (const job of jobs) {
  let image = sharp(readFileSync(job.input), { failOnError: false }).keepIccProfile().rotate();
  if (job.width || job.height) {
    image = image.resize({
      width: job.width || undefined,
      height: job.height || undefined,
      fit: job.fit || 'inside',
      withoutEnlargement: true,
    });
  }
  const { data, info } = await image.toFormat(job.format, job.options || {}).toBuffer({ resolveWithObject: true });
  if (job.out) writeFileSync(job.out, data);
  results.push({ bytes: data.length, width: info.width, height: info.height });
}
process.stdout.write(JSON.stringify(results));
