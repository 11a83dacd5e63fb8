"""Lambda handlers written with the libraries real apps use behind API Gateway,
served to sockgate as aws_proxy backends (tests/events_frameworks.rs).

Every event is first validated with Powertools for AWS Lambda's parser models
(the HTTP API's 2.0 and 1.0 shapes, the WebSocket API's CONNECT, MESSAGE and
DISCONNECT); an event that does not validate is answered 500 with the errors,
so the test sees them. Then the event goes to one app, written once, run
through Mangum (FastAPI) or apig-wsgi (Flask): both answer what the request
looked like to the app, so the test can compare payload formats and protocols.

Usage: python3 lambda_apps.py  -> prints "PORT <n>" and serves until killed.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from apig_wsgi import make_lambda_handler
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from fastapi import FastAPI, Query, Request
from flask import Flask, jsonify, request
from mangum import Mangum

fast = FastAPI()


@fast.get("/{full:path}")
def fast_info(full: str, req: Request, tag: list[str] = Query([])):
    return {
        "url": str(req.url),
        "client": req.client.host,
        "tag": tag,
        "cookies": dict(req.cookies),
        "name": req.headers.get("x-name"),
    }


flask = Flask(__name__)


@flask.route("/<path:full>")
def flask_info(full):
    return jsonify(
        url=request.url,
        client=request.remote_addr,
        tag=request.args.getlist("tag"),
        cookies=dict(request.cookies),
        name=request.headers.get("x-name"),
    )


HANDLERS = {
    "/mangum": Mangum(fast, lifespan="off"),
    "/wsgi": make_lambda_handler(flask),
}

WS_MODELS = {
    "CONNECT": APIGatewayWebSocketConnectEventModel,
    "MESSAGE": APIGatewayWebSocketMessageEventModel,
    "DISCONNECT": APIGatewayWebSocketDisconnectEventModel,
}


class Context:
    function_name = "sockgate-test"
    aws_request_id = "test"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sockgate-test"


def validate(event):
    """The Powertools model this event must satisfy."""
    ws = event.get("requestContext", {}).get("eventType")
    if ws:
        model = WS_MODELS[ws]
    elif event.get("version") == "2.0":
        model = APIGatewayProxyEventV2Model
    else:
        model = APIGatewayProxyEventModel
    parse(event=event, model=model)
    return model.__name__


# Every event's model and whether it validated, for GET /seen.
SEEN = []


class Serve(BaseHTTPRequestHandler):
    def do_GET(self):
        self.answer(200, SEEN)

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["content-length"])))
        try:
            model = validate(event)
        except ValidationError as e:
            SEEN.append({"event": event, "error": str(e)})
            return self.answer(500, {"invalid": str(e)})
        SEEN.append({"model": model})
        if self.path == "/validate":
            return self.answer(200, {"statusCode": 200, "body": model})
        return self.answer(200, HANDLERS[self.path](event, Context()))

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    # One request at a time: Mangum runs the app on this thread's event loop.
    server = HTTPServer(("127.0.0.1", 0), Serve)
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdout.close()
    server.serve_forever()
