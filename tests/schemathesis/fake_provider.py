"""The OAuth providers' token endpoints for the schemathesis run, on loopback.

Schemathesis follows the API's links: a connect hands out a real state, and a
callback then brings it with a code the generator made up. A real provider
refuses such a code with `400 invalid_grant`; this server does the same for
every token request (Slack's way for Slack), so the callback's answer to a refused code is what gets
tested (and nothing leaves the machine). Revocations succeed; provider API
calls are refused as unauthorised.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Provider(BaseHTTPRequestHandler):
    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(min(length, 1 << 20))
        if self.path == "/slack/token":
            # Slack answers 200 with ok=false.
            self._answer(200, {"ok": False, "error": "invalid_code"})
        elif self.path.endswith("/token"):
            self._answer(400, {"error": "invalid_grant", "error_description": "unknown code"})
        elif self.path.startswith("/revoke"):
            self._answer(200, {"ok": True})
        else:
            self._answer(401, {"error": "invalid_token"})

    def do_GET(self):  # noqa: N802
        self._answer(401, {"error": "invalid_token"})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    ThreadingHTTPServer(("127.0.0.1", port), Provider).serve_forever()
