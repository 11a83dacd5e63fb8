"""The handler both sides of the hosted case run: a two-way route's echo."""


def handler(event, context):
    return {"statusCode": 200, "body": event.get("body")}
