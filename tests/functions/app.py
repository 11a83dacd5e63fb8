"""A Lambda handler as teams write them, run unchanged under awslambdaric
by sockgate's hosted functions (tests/hosted_functions.rs). What it does is
chosen by the message or the request path's last segment."""

import json
import os
import time


def handler(event, context):
    rc = event.get("requestContext", {})
    # WebSocket: the message; HTTP (payload 2.0): the path's last segment.
    what = event.get("body") if "connectionId" in rc else event.get("rawPath", "").rsplit("/", 1)[-1]
    if what == "raise":
        raise ValueError("the handler failed")
    if what == "slow":
        time.sleep(2)
    if what == "hang":
        time.sleep(30)
    if what == "exit":
        os._exit(3)
    if what == "b64":
        import base64
        body = base64.b64encode(bytes([0, 1, 2, 255])).decode()
        return {"statusCode": 200, "isBase64Encoded": True, "body": body}
    facts = {
        "echo": what,
        "requestId": context.aws_request_id,
        "functionArn": context.invoked_function_arn,
        "functionName": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remainingMs": context.get_remaining_time_in_millis(),
        "routeKey": rc.get("routeKey"),
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
            "LAMBDA_TASK_ROOT", "GREETING", "SOCKGATE_SECRET", "AWS_LAMBDA_RUNTIME_API",
            "_X_AMZN_TRACE_ID")},
        "pid": os.getpid(),
    }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "cookies": ["a=1", "b=2"],
        "body": json.dumps(facts),
    }


def other(event, context):
    """What a worker may not do: answer an invocation it does not hold, or
    answer with more than Lambda's 6 MB."""
    import urllib.error
    import urllib.request
    what = event.get("rawPath", "").rsplit("/", 1)[-1]
    if what == "huge":
        return {"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    if what == "garbage":
        # Garbage as this invocation's answer, before the client's own.
        url = f"http://{api}/2018-06-01/runtime/invocation/{context.aws_request_id}/response"
        urllib.request.urlopen(urllib.request.Request(url, data=b"\x00not json{", method="POST"))
        return {"statusCode": 200, "body": "too late"}
    url = f"http://{api}/2018-06-01/runtime/invocation/not-{context.aws_request_id}/response"
    try:
        status = urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST")).status
    except urllib.error.HTTPError as e:
        status = e.code
    return {"statusCode": 200, "body": json.dumps({"status": status})}


def chat(event, context):
    """AWS's WebSocket chat sample's shape: the handler calls back through
    the endpoint it computes from the event, with boto3, over https."""
    import boto3
    rc = event["requestContext"]
    endpoint = f"https://{rc['domainName']}/{rc['stage']}"
    client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    data = ("echo:" + (event.get("body") or "")).encode()
    client.post_to_connection(ConnectionId=rc["connectionId"], Data=data)
    info = client.get_connection(ConnectionId=rc["connectionId"])
    client.post_to_connection(ConnectionId=rc["connectionId"], Data=info["Identity"]["SourceIp"].encode())
    return {"statusCode": 200}


def authorize(event, context):
    """A request authorizer (payload 2.0, simple responses), hosted."""
    headers = event.get("headers") or {}
    allowed = headers.get("x-user") == "alice"
    return {"isAuthorized": allowed, "context": {"user": headers.get("x-user", "")}}
