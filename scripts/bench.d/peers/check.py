#!/usr/bin/env python3
"""Reads every viewer's cart after a run and checks what the writes left:
each cart holds its viewer's three SKUs (fill.py's, in that order), each
line's total is its quantity times the catalog price, the subtotal and
total quantity add up, and every add was one unit and one version
(totalQuantity - 3 == version - 1, fill.py's add being version 1). Prints
how many adds the carts hold, against the ones wrk counted as answered.

usage: check.py BASE_URL TOKENS_FILE CATALOG_JSON [ADDS_ANSWERED]
Exits 1 when a cart is wrong (the run's numbers then do not count).
"""
import http.client, json, sys, urllib.parse
from decimal import Decimal

base, token_file, catalog_file = sys.argv[1], sys.argv[2], sys.argv[3]
answered = int(sys.argv[4]) if len(sys.argv) > 4 else None
prices = {p["sku"]: Decimal(p["price"]) for p in json.load(open(catalog_file))}
skus = len(prices)
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
query = ("{ cart { version totalQuantity subtotal { amount } "
         "lines { sku quantity unitPrice { amount } lineTotal { amount } } } }")
with open(token_file) as f:
    tokens = [line.strip() for line in f if line.strip()]

wrong = []
stored_adds = 0
for i, token in enumerate(tokens):
    conn.request("POST", "/graphql", json.dumps({"query": query}), {
        "content-type": "application/json", "authorization": f"Bearer {token}"})
    response = conn.getresponse()
    answer = response.read()
    try:
        cart = json.loads(answer)["data"]["cart"]
        lines = cart["lines"]
        want = [f"SKU-{(3 * i + k) % skus}" for k in range(3)]
        problems = []
        if [line["sku"] for line in lines] != want:
            problems.append(f"lines {[line['sku'] for line in lines]}, expected {want}")
        subtotal = Decimal(0)
        for line in lines:
            unit = Decimal(line["unitPrice"]["amount"])
            total = Decimal(line["lineTotal"]["amount"])
            if unit != prices[line["sku"]] or total != unit * line["quantity"]:
                problems.append(f"line {line}")
            subtotal += total
        quantity = sum(line["quantity"] for line in lines)
        if Decimal(cart["subtotal"]["amount"]) != subtotal or cart["totalQuantity"] != quantity:
            problems.append(f"subtotal {cart['subtotal']['amount']} / totalQuantity {cart['totalQuantity']}")
        if quantity - 3 != cart["version"] - 1:
            problems.append(f"version {cart['version']} for {quantity} units")
        stored_adds += cart["version"] - 1
    except (KeyError, TypeError, ValueError) as error:
        problems = [f"{response.status} {answer[:200]!r} ({error})"]
    if problems:
        wrong.append(f"cart {i}: " + "; ".join(problems))

if wrong:
    print(f"  store check: {len(wrong)} of {len(tokens)} carts WRONG, first: {wrong[0]}")
    sys.exit(1)
tail = f" (wrk counted {answered} answered)" if answered is not None else ""
print(f"  store check: {len(tokens)} carts right; they hold {stored_adds} adds{tail}")
