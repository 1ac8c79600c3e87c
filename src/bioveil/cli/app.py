"""``bioveil app``: start the local web app on loopback and open it in the browser."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import webbrowser
from typing import Any

from bioveil.errors import MissingDependencyError

log = logging.getLogger(__name__)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "app", help="the toolkit in a local web page: scan, mask and cloak photos and videos in your browser",
        description="Start bioveil's web app on this machine (127.0.0.1 only), print its address and open it. "
                    "Files you drop on the page are copied to a private workspace that is deleted when the app stops "
                    "(Ctrl-C); your originals are never changed and nothing is sent anywhere.",
        epilog="Exit codes: 0 stopped cleanly, 2 could not start (port taken, a missing package).")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="print the address but do not open a browser")
    parser.add_argument("--max-upload-mb", type=int, default=4096, metavar="MB",
                        help="largest file the page accepts, in MiB (default 4096)")
    parser.set_defaults(run=run_app)


def run_app(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("bioveil app", 'pip install "bioveil[app]"') from exc
    from bioveil.app.server import create_app, new_secret
    from bioveil.app.workspace import Workspace

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", args.port))
    except OSError as exc:
        print(f"bioveil: error: cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); choose another --port",
              file=sys.stderr)
        return 2
    port = listener.getsockname()[1]
    secret = new_secret()
    with Workspace(max_upload_bytes=args.max_upload_mb << 20) as workspace:
        app, state = create_app(workspace, secret, port)
        url = f"http://127.0.0.1:{port}/?token={secret}"
        print(f"bioveil app: open {url}\n(Ctrl-C stops it and deletes its workspace, {workspace.path})", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        try:
            uvicorn.Server(config).run(sockets=[listener])
        except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again: that is the normal way out
            pass
        finally:
            state.jobs.shutdown()
    print("bioveil app: stopped; its workspace is deleted", flush=True)
    return 0
