"""Runs a Lambda handler as sockgate's aws_proxy backend.

sockgate POSTs each event (the exact JSON API Gateway hands a Lambda) to this
server; it calls the handler with it and answers the handler's return value as
JSON, which sockgate reads as API Gateway reads a Lambda's result. Standard
library only:

  python3 examples/http-api/serve.py [--port 3000] [--handler handler.lambda_handler]

and sockgate with examples/http-api/sockgate.toml. A handler's exception is a
failed invocation: the server answers 502, and sockgate answers the client
500 {"message":"Internal Server Error"}, as API Gateway does.
"""
import argparse
import importlib
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Context:
    """The parts of the Lambda context object handlers commonly read."""

    function_name = "local"
    memory_limit_in_mb = 128
    aws_request_id = ""

    def get_remaining_time_in_millis(self):
        return 30_000


def load(spec):
    module, _, function = spec.rpartition(".")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    return getattr(importlib.import_module(module), function)


def make_server(port, handler):
    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            event = json.loads(self.rfile.read(length))
            context = Context()
            context.aws_request_id = event.get("requestContext", {}).get("requestId", "")
            try:
                result = handler(event, context)
                status, body = 200, json.dumps(result).encode()
            except Exception:  # the invocation failed, as a Lambda's would
                traceback.print_exc()
                status, body = 502, b'{"errorMessage":"handler failed"}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Invoke)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--handler", default="handler.lambda_handler")
    args = parser.parse_args()
    server = make_server(args.port, load(args.handler))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
