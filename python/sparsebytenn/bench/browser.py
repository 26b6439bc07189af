"""Drive a page in headless Chromium (Debian's `chromium`) without any npm package:
a loopback-only HTTP server serves the page, the ES module, the .wasm files and
the inputs; the page POSTs its results back to the same server; the browser is
started for one page and ended (its own process group) when the page says
`/done` or the time runs out. Used by the ES module's tests and the browser
benchmark. Node runs the same page scripts against the same server (node 20 has
fetch), so one driver script serves both."""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTENT_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".html": "text/html",
                 ".wasm": "application/wasm", ".json": "application/json"}


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class LoopbackServer:
    """GET: the files and byte strings put into `routes` (path -> Path | bytes).
    POST: bodies are kept in `posted[path]`; a POST to /done ends the wait.
    Commands: `ask(msg)` queues a JSON message that the page long-polls with
    GET /cmd and answers with POST /reply (the benchmark page's loop).
    Every response carries COOP/COEP headers, so the page is cross-origin isolated
    and performance.now() has its fine (5 us, not 100 us) resolution."""

    def __init__(self):
        self.routes: dict[str, Path | bytes] = {}
        self.posted: dict[str, bytes] = {}
        self.done = threading.Event()
        self.commands: queue.Queue = queue.Queue()
        self.replies: queue.Queue = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def end_headers(self):
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/cmd":
                    body, ctype = json.dumps(outer.commands.get()).encode(), "application/json"
                else:
                    item = outer.routes.get(path)
                    if item is None:
                        self.send_error(404)
                        return
                    body = item.read_bytes() if isinstance(item, Path) else item
                    ctype = CONTENT_TYPES.get(Path(path).suffix, "application/octet-stream")
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                path = self.path.split("?", 1)[0]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if path == "/reply":
                    outer.replies.put(json.loads(body))
                else:
                    outer.posted[path] = body
                self.send_response(204)
                self.end_headers()
                if path == "/done":
                    outer.done.set()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def ask(self, msg: dict, timeout: float = 300) -> dict:
        """Send one command to the page's /cmd loop; its reply (raises on {"error": ...})."""
        self.commands.put(msg)
        try:
            reply = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the page did not answer {msg.get('cmd')!r} within {timeout:.0f} s") from None
        if "error" in reply:
            raise RuntimeError(f"page: {reply['error']}")
        return reply

    def summary(self) -> dict:
        return json.loads(self.posted.get("/done", b"{}") or b"{}")

    def wait_done(self, proc: subprocess.Popen, timeout: float, what: str) -> dict:
        """Wait for /done (or the process ending first); the page's summary."""
        step = 0.1
        waited = 0.0
        while not self.done.wait(step):
            waited += step
            if proc.poll() is not None and not self.done.is_set():
                out = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"{what} exited ({proc.returncode}) before the page finished: {out[-2000:]}")
            if waited > timeout:
                raise TimeoutError(f"{what}: the page did not finish within {timeout:.0f} s")
        return self.summary()


def start_chromium(url: str, profile: str) -> subprocess.Popen:
    """Headless Chromium on one page (as root it needs --no-sandbox), in its own
    session so that end_group ends it with its zygote and renderers."""
    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
           "--disable-extensions", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--mute-audio", f"--user-data-dir={profile}", url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def chromium_version() -> str:
    exe = chromium_path()
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip() if exe else ""


def run_page_in_chromium(server: LoopbackServer, page: str, timeout: float = 120) -> dict:
    """Open server.base + page in headless Chromium; returns the page's /done summary.
    Raises when Chromium is missing, exits early or the page times out."""
    with tempfile.TemporaryDirectory(prefix="sbnn-chromium-") as profile:
        proc = start_chromium(server.base + page, profile)
        try:
            return server.wait_done(proc, timeout, "chromium")
        finally:
            end_group(proc)


def run_script_in_node(server: LoopbackServer, script: Path, args: list[str], node_flags: list[str] = (),
                       timeout: float = 120) -> dict:
    """node [flags] script server.base [args...]; returns the /done summary it posted."""
    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("node is not installed (scripts/setup.sh installs nodejs)")
    proc = subprocess.Popen([node, "--no-warnings", *node_flags, str(script), server.base, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        summary = server.wait_done(proc, timeout, "node")
        proc.wait(30)
        return summary
    finally:
        end_group(proc)


def end_group(proc: subprocess.Popen) -> None:
    """End the browser / node we started: its own session's process group, by id."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
    else:
        try:  # children (Chromium's zygote, renderers) may outlive the main process
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
