"""A stand-in for AWS Lambda's Invoke API that checks every request's
signature with botocore's own SigV4 signer, then answers as Lambda does.

Usage: fake_lambda.py KEYS_JSON   ({"AKID": "secret", ...}; region any)
Prints "PORT n" once listening. GET /__calls lists what it was asked.

Functions, by name (the last part of a name or ARN, qualifier apart):
  echo        {"statusCode": 200, "body": <the event, as JSON text>}
  crash       a function error (X-Amz-Function-Error: Unhandled)
  busy        429 TooManyRequestsException
  broken      500 ServiceException
  authorizer  allows "let-me-in" in the x-token header, else raises
              Exception("Unauthorized") as Lambda authorizers do
  slow        answers after 3 s
  anything else: 404 ResourceNotFoundException
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit, parse_qs

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEYS = json.loads(sys.argv[1])
CALLS = []
LOCK = threading.Lock()
PREFIX = "/2015-03-31/functions/"


def verify(handler, body):
    """(ok, access key id, region): the signature botocore computes for the
    request as received, compared with the one sent."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False, None, None
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key_id, date, region, service, term = fields["Credential"].split("/")
    secret = KEYS.get(key_id)
    if secret is None or service != "lambda" or term != "aws4_request":
        return False, key_id, region
    signed = fields["SignedHeaders"].split(";")
    headers = {name: handler.headers[name] for name in signed if handler.headers[name] is not None}
    if len(headers) != len(signed) or "host" not in headers or "x-amz-date" not in headers:
        return False, key_id, region
    url = "http://" + headers["host"] + handler.path
    request = AWSRequest(method=handler.command, url=url, data=body, headers=headers)
    request.context["timestamp"] = headers["x-amz-date"]
    token = headers.get("x-amz-security-token")
    signer = SigV4Auth(Credentials(key_id, secret, token), "lambda", region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return expected == fields["Signature"] and date == headers["x-amz-date"][:8], key_id, region


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "fake-request-id")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/__calls":
            with LOCK:
                self.answer(200, CALLS)
        else:
            self.answer(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = urlsplit(self.path)
        ok, key_id, region = verify(self, body)
        name = unquote(parts.path[len(PREFIX):-len("/invocations")]) if parts.path.startswith(PREFIX) else ""
        call = {
            "name": name,
            "verified": ok,
            "key": key_id,
            "region": region,
            "token": self.headers.get("x-amz-security-token"),
            "invocation_type": self.headers.get("X-Amz-Invocation-Type"),
            "qualifier": parse_qs(parts.query).get("Qualifier", [None])[0],
        }
        with LOCK:
            CALLS.append(call)
        if not ok:
            return self.answer(403, {"message": "The request signature we calculated does not match the signature you provided."},
                               [("x-amzn-ErrorType", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/")])
        if call["invocation_type"] != "RequestResponse":
            return self.answer(400, {"message": "expected RequestResponse"}, [("x-amzn-ErrorType", "InvalidParameterValueException")])
        event = json.loads(body)
        function = name.split(":function:")[-1].split(":")[0]
        if function == "echo":
            return self.answer(200, {"statusCode": 200, "body": json.dumps(event)})
        if function == "crash":
            return self.answer(200, {"errorMessage": "boom", "errorType": "Exception", "stackTrace": []},
                               [("X-Amz-Function-Error", "Unhandled")])
        if function == "busy":
            return self.answer(429, {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."},
                               [("x-amzn-ErrorType", "TooManyRequestsException")])
        if function == "broken":
            return self.answer(500, {"message": "internal"}, [("x-amzn-ErrorType", "ServiceException")])
        if function == "authorizer":
            if (event.get("headers") or {}).get("x-token") == "let-me-in":
                return self.answer(200, {"isAuthorized": True, "context": {"who": "lambda"}})
            return self.answer(200, {"errorMessage": "Unauthorized", "errorType": "Exception"},
                               [("X-Amz-Function-Error", "Unhandled")])
        if function == "slow":
            time.sleep(3)
            return self.answer(200, {"statusCode": 200, "body": "late"})
        return self.answer(404, {"Type": "User", "message": "Function not found"}, [("x-amzn-ErrorType", "ResourceNotFoundException")])


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
