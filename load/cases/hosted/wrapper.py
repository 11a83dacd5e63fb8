"""The baseline of the hosted case: the same handler wrapped in a minimal
aiohttp server (one process), which sockgate calls through aws_proxy: what a
team must write today to put a Lambda handler behind a self-hosted gateway."""

import uuid

from aiohttp import web

from handler import handler


class Context:
    """The parts of Lambda's context a handler reads."""

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "echo"


async def invoke(request):
    event = await request.json()
    return web.json_response(handler(event, Context()))


app = web.Application()
app.router.add_post("/", invoke)
web.run_app(app, host="127.0.0.1", port=28302, access_log=None, print=None)
