"""Load a page in headless Chromium (Debian's ``chromium``) and report what it shows.

A probe page, written beside nothing of the report, frames the page and
reads back, after everything has loaded, each image's state (complete, with
a natural size) and every stylesheet or script element; Chromium's
``--dump-dom`` prints the probe's answer.  Chromium's own log is kept too,
for "file not found" errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--virtual-time-budget=10000",
    "--enable-logging=stderr",
    "--v=0",
]

PROBE = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="{url}"></iframe>
<script>
const f = document.getElementById('f');
f.onload = () => {{
  let out;
  try {{
    const d = f.contentDocument;
    out = {{
      title: d.title,
      images: [...d.images].map(i => ({{src: i.getAttribute('src'), complete: i.complete,
                                        width: i.naturalWidth, height: i.naturalHeight}})),
      external: [...d.querySelectorAll('link[href], script[src], iframe, object, embed')].length,
      text: d.body.innerText.length,
    }};
  }} catch (e) {{ out = {{error: String(e)}}; }}
  document.getElementById('out').textContent = JSON.stringify(out);
}};
</script></body></html>"""


def chromium() -> str | None:
    """The Chromium executable, or ``None`` where it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def load(page: Path) -> tuple[dict[str, Any], str]:
    """``(what the page shows, Chromium's log)`` for ``page`` loaded from disk."""
    exe = chromium()
    assert exe is not None
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(PROBE.format(url=page.resolve().as_uri()), encoding="utf-8")
        profile = Path(tmp) / "profile"
        run = subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr[-2000:]
    start = run.stdout.index('<pre id="out">') + len('<pre id="out">')
    answer = run.stdout[start : run.stdout.index("</pre>", start)]
    import html

    return json.loads(html.unescape(answer)), run.stderr
