"""Our server as the benchmark runs it: one uvicorn worker, uvloop and httptools, 127.0.0.1.

Settings come from the DEVINSIGHTS_* environment, as for `devinsights serve`; the port is
picked by the kernel and written to ``--port-file`` once the socket listens.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn


def serve(app: Any, port_file: Path, **config: Any) -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(sock.getsockname()[1]), encoding="utf-8")
    tmp.replace(port_file)  # whole or absent: the bench never reads half a number
    config.setdefault("http", "httptools")
    server = uvicorn.Server(uvicorn.Config(
        app, loop="uvloop", workers=1, lifespan="on", access_log=False, **config))
    server.run(sockets=[sock])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the API for the benchmark.")
    parser.add_argument("--port-file", type=Path, required=True,
                        help="where to write the port once listening")
    args = parser.parse_args(argv)
    from server import create_app
    from web.logs import configure_logging
    from web.protocol import http_protocol
    from web.settings import from_env

    settings = from_env(os.environ)
    configure_logging(settings.log_level)
    # httptools with the connection limits, as `devinsights serve` runs it.
    serve(create_app(settings), args.port_file, log_config=None, proxy_headers=False,
          http=http_protocol(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
