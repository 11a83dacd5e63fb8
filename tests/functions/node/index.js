// AWS's WebSocket chat sample's shape in Node: the handler calls back through
// the endpoint it computes from the event, with the AWS SDK v3, over https.
// Run unchanged under aws-lambda-ric by sockgate (tests/hosted_functions.rs).
const {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} = require("@aws-sdk/client-apigatewaymanagementapi");

exports.handler = async (event, context) => {
  const rc = event.requestContext;
  if (event.body === "hang") {
    await new Promise((resolve) => setTimeout(resolve, 30000));
  }
  const client = new ApiGatewayManagementApiClient({
    endpoint: `https://${rc.domainName}/${rc.stage}`,
  });
  const said = `node:${event.body}:${process.pid}:${context.functionName}`;
  await client.send(
    new PostToConnectionCommand({ ConnectionId: rc.connectionId, Data: Buffer.from(said) }),
  );
  return { statusCode: 200 };
};
