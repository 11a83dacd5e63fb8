"""A to-do API written as an AWS Lambda handler for an HTTP API (payload 2.0).

Nothing here knows about sockgate: this is the code you would deploy behind an
Amazon API Gateway HTTP API, and it runs behind sockgate unchanged (serve.py
hands it each event). It reads routeKey, pathParameters, queryStringParameters,
the body (base64 when API Gateway says so) and returns either the full result
form ({statusCode, headers, cookies, body}) or, for the list, plain JSON, which
API Gateway turns into a 200 application/json response.
"""
import base64
import itertools
import json
import threading

todos = {}
ids = itertools.count(1)
lock = threading.Lock()


def respond(status, body=None, headers=None, cookies=None):
    result = {"statusCode": status, "headers": {"content-type": "application/json"}}
    result["headers"].update(headers or {})
    if body is not None:
        result["body"] = json.dumps(body)
    if cookies:
        result["cookies"] = cookies
    return result


def request_body(event):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return json.loads(body) if body else {}


def lambda_handler(event, context):
    route = event["routeKey"]
    params = event.get("pathParameters") or {}
    if route == "GET /todos":
        done = (event.get("queryStringParameters") or {}).get("done")
        with lock:
            items = list(todos.values())
        if done is not None:
            items = [t for t in items if str(t["done"]).lower() == done]
        # No statusCode: API Gateway answers 200 with this as a JSON body.
        return {"todos": items}
    if route == "POST /todos":
        try:
            data = request_body(event)
        except (ValueError, UnicodeDecodeError):
            return respond(400, {"message": "the body must be JSON"})
        if not isinstance(data.get("title"), str) or not data["title"]:
            return respond(400, {"message": "title is required"})
        with lock:
            todo = {"id": str(next(ids)), "title": data["title"], "done": False}
            todos[todo["id"]] = todo
        stage = event["requestContext"]["stage"]
        prefix = "" if stage == "$default" else "/" + stage
        return respond(
            201,
            todo,
            headers={"location": f"{prefix}/todos/{todo['id']}"},
            cookies=[f"last_created={todo['id']}; Path=/; HttpOnly"],
        )
    if route == "GET /todos/{id}":
        with lock:
            todo = todos.get(params.get("id"))
        return respond(200, todo) if todo else respond(404, {"message": "no such todo"})
    if route == "DELETE /todos/{id}":
        with lock:
            gone = todos.pop(params.get("id"), None)
        return respond(204) if gone else respond(404, {"message": "no such todo"})
    return respond(404, {"message": f"no handler for {route}"})
