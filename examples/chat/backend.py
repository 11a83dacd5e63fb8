"""A chat room behind sockgate, written as Lambda proxy handlers.

sockgate POSTs each event (the exact JSON API Gateway hands a Lambda) to one of three
paths and reads a Lambda proxy result back:

  /connect     $connect     accept (2xx) or refuse (any other statusCode) the upgrade
  /sendmessage sendmessage  a two-way route: the result's body is the frame sent back
  /disconnect  $disconnect  fired exactly once per accepted connection

It pushes to the other members through the @connections API with boto3, exactly as
a Lambda would. Standard library plus boto3; run it with:

  python3 examples/chat/backend.py [--port 3000]

and sockgate with examples/chat/sockgate.toml. Walk-through: the README's
"Your first backend".
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

# connectionId -> name. A real app keeps this in a database (AWS's samples use
# DynamoDB), since a Lambda keeps no state between calls.
members = {}
members_lock = threading.Lock()
clients = {}


def management_client(endpoint):
    """A boto3 client for the @connections API at `endpoint`.

    On AWS the endpoint is https://{domainName}/{stage}; sockgate serves the API on
    its own listener and names it in the X-Sockgate-Management-Endpoint header of
    every backend request. boto3 signs every call, so it needs a region and some
    credentials: sockgate checks them only when [management] access_keys are set
    (then use one of those keys; here, SOCKGATE_KEY_ID and SOCKGATE_SECRET)."""
    if endpoint not in clients:
        clients[endpoint] = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=os.environ.get("SOCKGATE_KEY_ID", "local"),
            aws_secret_access_key=os.environ.get("SOCKGATE_SECRET", "local"),
            config=Config(retries={"max_attempts": 2}),
        )
    return clients[endpoint]


def broadcast(endpoint, payload, skip=None):
    """Posts `payload` to every member but `skip`; returns how many got it."""
    api = management_client(endpoint)
    with members_lock:
        targets = [cid for cid in members if cid != skip]
    delivered = 0
    for cid in targets:
        try:
            api.post_to_connection(ConnectionId=cid, Data=json.dumps(payload).encode())
            delivered += 1
        except api.exceptions.GoneException:
            # 410: the connection ended and its $disconnect is on its way.
            with members_lock:
                members.pop(cid, None)
    return delivered


def on_connect(event, endpoint):
    query = event.get("queryStringParameters") or {}
    name = query.get("name", "").strip()
    if not name:
        # Any statusCode outside 2xx refuses the upgrade with that HTTP status.
        return {"statusCode": 400, "body": "name is required"}
    cid = event["requestContext"]["connectionId"]
    broadcast(endpoint, {"joined": name})
    with members_lock:
        members[cid] = name
    return {"statusCode": 200}


def on_message(event, endpoint):
    cid = event["requestContext"]["connectionId"]
    body = json.loads(event["body"])
    with members_lock:
        name = members.get(cid, "?")
    delivered = broadcast(endpoint, {"from": name, "text": body.get("text", "")}, skip=cid)
    # A two-way route: this body becomes the frame sent back to the sender.
    return {"statusCode": 200, "body": json.dumps({"delivered": delivered})}


def on_disconnect(event, endpoint):
    cid = event["requestContext"]["connectionId"]
    with members_lock:
        name = members.pop(cid, None)
    if name is not None:
        broadcast(endpoint, {"left": name})
    return {"statusCode": 200}


HANDLERS = {"/connect": on_connect, "/sendmessage": on_message, "/disconnect": on_disconnect}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        handler = HANDLERS.get(self.path)
        if handler is None:
            self.send_error(404)
            return
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        endpoint = self.headers["X-Sockgate-Management-Endpoint"]
        result = json.dumps(handler(event, endpoint)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(result)))
        self.end_headers()
        self.wfile.write(result)

    def log_message(self, *args):
        pass  # quiet: sockgate logs every failed call itself


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000, help="0 picks a free port")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
