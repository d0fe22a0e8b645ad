#!/usr/bin/env python3
"""Mints HS256 customer tokens for the load benchmark, one per line.

usage: tokens.py SECRET COUNT [PREFIX]  (stdlib only: the benchmark needs no pip)
With PREFIX `admin`, the tokens carry the admin role (for setting up pricing).
"""
import base64, hashlib, hmac, json, sys, time


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(secret: bytes, subject: str, now: int, roles: list) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": subject, "iss": "cartql", "iat": now, "nbf": now,
              "exp": now + 6 * 3600, "kind": "customer", "roles": roles}
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def main() -> None:
    secret, count = sys.argv[1].encode(), int(sys.argv[2])
    prefix = sys.argv[3] if len(sys.argv) > 3 else "bench"
    now = int(time.time())
    roles = ["admin"] if prefix == "admin" else []
    for i in range(count):
        print(token(secret, f"{prefix}-{i}", now, roles))


if __name__ == "__main__":
    main()
