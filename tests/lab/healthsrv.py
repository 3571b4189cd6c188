"""A tiny HTTP health endpoint for lab machines: 200 while FLAG exists, 503 otherwise.

Usage: python tests/lab/healthsrv.py PORT FLAG   (runs inside a lab namespace on 127.0.0.1)
"""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    port, flag = int(sys.argv[1]), sys.argv[2]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = 200 if os.path.exists(flag) else 503
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
