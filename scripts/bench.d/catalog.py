#!/usr/bin/env python3
"""Writes a catalog file for the load benchmark: COUNT one-variant products
(SKU-0 … SKU-{COUNT-1}) with untracked stock, so no scenario runs out.

usage: catalog.py COUNT > catalog.json
"""
import json, sys

count = int(sys.argv[1])
print(json.dumps([{"sku": f"SKU-{i}", "title": f"Product {i}", "price": "9.99", "stock": None}
                  for i in range(count)]))
