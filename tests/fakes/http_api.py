"""An API Gateway HTTP API event, payload format 1.0, as the developer guide documents it ("Working with
AWS Lambda proxy integrations for HTTP APIs"): header names lowercase, `resource` the matched route's
pattern, requestContext.resourcePath the concrete path, the $default stage."""

from __future__ import annotations

import base64
from typing import Any


def http_api_event(
    method: str,
    route: str,
    path_parameters: dict[str, str],
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    path = route.format(**path_parameters)
    sent = {
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "Mozilla/5.0 (compatible; webhook sender)",
        "x-amzn-trace-id": "Root=1-6676a652-37da23fe0f44ae8e4e6ea464",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **({"content-length": str(len(body))} if body is not None else {}),
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    if body is None:
        payload = None
    elif base64_body:
        payload = base64.b64encode(body).decode()
    else:
        payload = body.decode()
    return {
        "version": "1.0",
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"claims": None, "scopes": None},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "extendedRequestId": "Q2xW8h3yIAMEVdA=",
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": "203.0.113.7",
                "user": None,
                "userAgent": sent["user-agent"],
                "userArn": None,
            },
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": "Q2xW8h3yIAMEVdA=",
            "requestTime": "23/Nov/2026:09:00:03 +0000",
            "requestTimeEpoch": 1795424403000,
            "resourceId": None,
            "resourcePath": path,
            "stage": "$default",
        },
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "body": payload,
        "isBase64Encoded": base64_body,
    }
