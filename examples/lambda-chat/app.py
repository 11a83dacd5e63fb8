"""AWS's WebSocket chat sample (simple-websockets-chat-app), as Python Lambda
handlers: three functions, unchanged from how they run on AWS Lambda but for
the table, which is a JSON file here instead of DynamoDB (`Table` below has
the three calls the sample makes). sockgate runs each under AWS's runtime
interface client, awslambdaric; see sockgate.toml and the README's "Run your
Lambda functions".

  $connect     on_connect      remember the connection
  $disconnect  on_disconnect   forget it
  sendmessage  send_message    post {"data": ...} to every connection
"""

import fcntl
import json
import os

import boto3

TABLE_FILE = os.environ.get("TABLE_FILE", "connections.json")


class Table:
    """The sample's DynamoDB table of connection ids, in a file that every
    worker process shares (a lock around each change)."""

    def __init__(self, path):
        self.path = path

    def _change(self, update):
        with open(self.path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            ids = set(json.loads(f.read() or "[]"))
            update(ids)
            f.seek(0)
            f.truncate()
            f.write(json.dumps(sorted(ids)))

    def put_item(self, connection_id):
        self._change(lambda ids: ids.add(connection_id))

    def delete_item(self, connection_id):
        self._change(lambda ids: ids.discard(connection_id))

    def scan(self):
        try:
            with open(self.path) as f:
                fcntl.flock(f, fcntl.LOCK_SH)
                return json.loads(f.read() or "[]")
        except FileNotFoundError:
            return []


table = Table(TABLE_FILE)


def on_connect(event, context):
    table.put_item(event["requestContext"]["connectionId"])
    return {"statusCode": 200, "body": "Connected."}


def on_disconnect(event, context):
    table.delete_item(event["requestContext"]["connectionId"])
    return {"statusCode": 200, "body": "Disconnected."}


def send_message(event, context):
    rc = event["requestContext"]
    # The callback endpoint, as the sample builds it from the event.
    api = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://{rc['domainName']}/{rc['stage']}",
    )
    data = json.loads(event["body"])["data"]
    for connection_id in table.scan():
        try:
            api.post_to_connection(ConnectionId=connection_id, Data=data.encode())
        except api.exceptions.GoneException:
            table.delete_item(connection_id)
    return {"statusCode": 200, "body": "Data sent."}
