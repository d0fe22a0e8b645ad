#!/usr/bin/env python3
"""Gives the benchmark shop two automatic discounts that combine (5 % off the
order, 10 % off every line), so scenario (h) reads carts whose cost stacks
two discounts. Run after the scenarios that should price without them.

usage: pricing.py BASE_URL ADMIN_TOKEN
"""
import http.client, json, sys, urllib.parse

base, admin = sys.argv[1], sys.argv[2]
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
query = ("mutation($input: DiscountInput!) { upsertDiscount(input: $input) "
         "{ discount { id } userErrors { code field message } } }")
every = {"lineDiscounts": True, "orderDiscounts": True, "shippingDiscounts": True}
for discount in [
    {"title": "Bench 5 % off the order", "target": "ORDER", "percentage": "5", "combinesWith": every},
    {"title": "Bench 10 % off lines", "target": "LINES", "percentage": "10", "combinesWith": every},
]:
    body = json.dumps({"query": query, "variables": {"input": discount}})
    conn.request("POST", "/graphql", body, {
        "content-type": "application/json",
        "authorization": f"Bearer {admin}",
    })
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200 or b'"userErrors":[]' not in answer:
        sys.exit(f"creating a discount failed: {response.status} {answer[:300]!r}")
print("  two automatic discounts set (5 % order, 10 % lines)")
