#!/usr/bin/env python3
"""Fills each viewer's default cart with its three SKUs, one unit each, so the
cart scenarios read and write carts of a fixed shape (three priced lines)
whatever ran before them. Viewer i (the i-th token, from 0) owns
SKU-(3i % COUNT), SKU-(3i+1 % COUNT), SKU-(3i+2 % COUNT); graphql.lua's adds
pick among the same three, so the carts keep three lines.

usage: fill.py BASE_URL TOKENS_FILE SKU_COUNT
"""
import http.client, json, sys, urllib.parse

base, token_file, skus = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
query = ("mutation($lines: [CartLineInput!]!) { addCartLines(input: {lines: $lines}) "
         "{ cart { version } userErrors { code } } }")
with open(token_file) as f:
    tokens = [line.strip() for line in f if line.strip()]
for i, token in enumerate(tokens):
    lines = [{"sku": f"SKU-{(3 * i + k) % skus}", "quantity": 1} for k in range(3)]
    body = json.dumps({"query": query, "variables": {"lines": lines}})
    conn.request("POST", "/graphql", body, {
        "content-type": "application/json",
        "authorization": f"Bearer {token}",
    })
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200 or b'"userErrors":[]' not in answer:
        sys.exit(f"filling cart {i} failed: {response.status} {answer[:300]!r}")
print(f"  filled {len(tokens)} carts with 3 lines each")
