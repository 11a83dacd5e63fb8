"""Drives sockgate's @connections API with boto3's apigatewaymanagementapi client,
exactly as a Lambda backend would.

Usage: boto3_client.py ENDPOINT_URL CONNECTION_ID [SECRET [forbidden]]
With "forbidden", every call must fail with ForbiddenException (wrong secret)."""
import json
import sys

import boto3
from botocore.config import Config

endpoint, conn_id = sys.argv[1], sys.argv[2]
secret = sys.argv[3] if len(sys.argv) > 3 else "dummysecret"
expect_forbidden = len(sys.argv) > 4 and sys.argv[4] == "forbidden"
client = boto3.client(
    "apigatewaymanagementapi",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key=secret,
    config=Config(retries={"max_attempts": 1}),
)

if expect_forbidden:
    for call in (
        lambda: client.post_to_connection(ConnectionId=conn_id, Data=b"x"),
        lambda: client.get_connection(ConnectionId=conn_id),
        lambda: client.delete_connection(ConnectionId=conn_id),
    ):
        try:
            call()
        except client.exceptions.ForbiddenException as e:
            print("forbidden ok", e.response["ResponseMetadata"]["HTTPStatusCode"])
        else:
            sys.exit("expected ForbiddenException")
    sys.exit(0)

client.post_to_connection(ConnectionId=conn_id, Data=json.dumps({"hello": "from boto3"}).encode())
client.post_to_connection(ConnectionId=conn_id, Data=b"\x00\x9f\x92\x96")
print("post ok")

info = client.get_connection(ConnectionId=conn_id)
assert info["ConnectedAt"] <= info["LastActiveAt"], info
print("get ok", info["Identity"]["SourceIp"])

client.delete_connection(ConnectionId=conn_id)
print("delete ok")

try:
    client.post_to_connection(ConnectionId=conn_id, Data=b"late")
except client.exceptions.GoneException as e:
    print("gone ok", e.response["Error"]["Code"])
else:
    sys.exit("expected GoneException")
