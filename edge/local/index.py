"""The page at ``/`` of ``tachyon-edge dev``: each original beside a few of its derivatives.

Every thumbnail is an ordinary ``<img>`` through the local CloudFront's own
URLs (``/photo.jpg?w=300``), so loading the page *is* the demo: the first
load renders, a reload is served from the cache. A small inline script reads
each image's pixel size once it has loaded and asks ``HEAD`` of the same URL
(answered from the cache) for its bytes, ``x-tachyon`` outcome and ``x-cache``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import web

from edge.local.seed import is_image

#: The derivatives shown per original: (label, query string).
DERIVATIVES: tuple[tuple[str, str], ...] = (
    ("resize=150,150", "resize=150,150"),
    ("w=300", "w=300"),
    ("fit=300,300&webp=1", "fit=300,300&webp=1"),
    ("w=200&grayscale=1", "w=200&grayscale=1"),
)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}
h1{font-size:1.4rem}code{background:#eee;padding:0 .3em;border-radius:3px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:1.5rem 0;padding:1rem}
.row{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
figure{margin:0;max-width:320px}figure img{max-width:320px;max-height:320px;display:block;
background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 0/16px 16px}
figcaption{font-size:12px;color:#555;margin-top:.3rem;word-break:break-all}
.meta{font-family:ui-monospace,monospace}
"""

_SCRIPT = """
for (const img of document.querySelectorAll('img[data-probe]')) {
  const meta = img.closest('figure').querySelector('.meta');  // the img sits in a link, not the figure
  const show = async () => {
    let text = img.naturalWidth + '\\u00d7' + img.naturalHeight + ' px';
    try {
      const r = await fetch(img.src, {method: 'HEAD'});
      const bytes = Number(r.headers.get('content-length') || 0);
      const dot = ' \\u00b7 ';
      text += dot + (bytes / 1024).toFixed(1) + ' KiB' + dot + (r.headers.get('content-type') || '?');
      text += dot + (r.headers.get('x-tachyon') || '-') + dot + (r.headers.get('x-cache') || '');
    } catch (e) { text += ' \\u00b7 ' + e; }
    meta.textContent = text;
  };
  if (img.complete && img.naturalWidth) show(); else img.addEventListener('load', show);
  img.addEventListener('error', () => { meta.textContent = 'failed to load'; });
}
"""


def _figure(url: str, label: str) -> str:
    return (
        f'<figure><a href="{escape(url)}"><img data-probe src="{escape(url)}" alt="{escape(label)}"'
        f' loading="lazy"></a><figcaption><code>{escape(label)}</code><br>'
        f'<span class="meta">loading…</span></figcaption></figure>'
    )


def render_index(keys: list[str], *, bucket: str, prefix: str) -> str:
    """The HTML page for these original keys (derivatives under ``prefix`` are left out)."""
    images = [k for k in keys if is_image(k) and not k.startswith(prefix)]
    others = [k for k in keys if not is_image(k) and not k.startswith(prefix)]
    sections = []
    for key in images:
        path = "/" + quote(key, safe="/")
        figures = [_figure(path, "original")]
        figures += [_figure(f"{path}?{query}", label) for label, query in DERIVATIVES]
        sections.append(
            f"<section><h2><code>{escape(key)}</code></h2><div class=row>{''.join(figures)}</div></section>"
        )
    if not images:
        sections.append(f"<p>No images in bucket <code>{escape(bucket)}</code> yet.</p>")
    other_links = "".join(f'<li><a href="/{escape(quote(k, safe="/"))}">{escape(k)}</a></li>' for k in others)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tachyon Edge — local</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><style>{_STYLE}</style></head>
<body><h1>Tachyon Edge — local CloudFront</h1>
<p>Bucket <code>{escape(bucket)}</code>. Every image below goes through the local CloudFront and the edge
functions: the first load renders (<code>x-cache: Miss</code>), a reload comes from the cache
(<code>Hit</code>). Animated and large originals are rendered by the worker: their first answer is the
original with a short lifetime, so reload after a few seconds. Try your own arguments on any URL,
e.g. <code>?w=300</code>, <code>?resize=150,150</code>, <code>?fit=300,300&amp;webp=1</code>.</p>
{"".join(sections)}
{f"<section><h2>Other files (passed through)</h2><ul>{other_links}</ul></section>" if others else ""}
<script>{_SCRIPT}</script></body></html>
"""


def index_route(list_keys: Callable[[], list[str]], *, bucket: str, prefix: str) -> Any:
    """An aiohttp handler serving the page; ``list_keys`` lists the bucket (run in a thread)."""

    async def index(_request: web.Request) -> web.Response:
        keys = await asyncio.to_thread(list_keys)
        html = render_index(keys, bucket=bucket, prefix=prefix)
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    return index


def bucket_lister(client: Any, bucket: str, prefix: str, limit: int = 200) -> Callable[[], list[str]]:
    """A function listing up to ``limit`` original keys of ``bucket`` (skipping derivatives)."""

    def list_keys() -> list[str]:
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].startswith(prefix)]
            if len(keys) >= limit:
                break
        return keys[:limit]

    return list_keys
