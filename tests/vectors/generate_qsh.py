#!/usr/bin/env python3
"""Writes qsh.json: canonical requests and query string hashes computed by the
independent `atlassian-jwt` package (pip install atlassian-jwt), for aarc's
qsh test. Run from this folder: python3 generate_qsh.py"""
import json

from atlassian_jwt.url_utils import canonicalize_request, hash_url

CASES = [
    ("POST", "/webhooks/atlassian", ""),
    ("POST", "/webhooks/atlassian", "jwt=abc.def.ghi"),
    ("POST", "/webhooks/atlassian", "foo=bar&jwt=abc.def.ghi"),
    ("POST", "/webhooks/atlassian", "b=2&a=1"),
    ("POST", "/webhooks/atlassian", "a=2&a=1"),
    ("POST", "/webhooks/atlassian", "a=z&a=y&b=x&a=x"),
    ("POST", "/webhooks/atlassian", "q=hello%20world"),
    ("POST", "/webhooks/atlassian", "q=hello+world"),
    ("POST", "/webhooks/atlassian", "q=a%2Ab%7Ec"),
    ("POST", "/webhooks/atlassian", "q=%21%27%28%29%2C%2F%3A%40%3F%3D"),
    ("POST", "/webhooks/atlassian", "q=caf%C3%A9&r=%E2%9C%93"),
    ("POST", "/webhooks/atlassian", "empty="),
    ("POST", "/webhooks/atlassian", "flag"),
    ("POST", "/webhooks/atlassian", "flag&b=1"),
    ("post", "/webhooks/atlassian", "x=1"),
    ("GET", "/", ""),
    ("GET", "/wiki/api/v2/data-policies/metadata", ""),
    ("GET", "/api/v2/data-policies/metadata", ""),
    ("GET", "/rest/api/3/data-policy", ""),
    ("GET", "/rest/api/3/data-policy/", ""),
    ("GET", "/path/to/service", "zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202"),
    ("GET", "/a&b/c", "k=v"),
    ("PUT", "/rest/api/3/issue/10042", "expand=names%2Crenderedfields&fields=summary"),
    ("DELETE", "/wiki/rest/api/content/12345", "status=current"),
    ("POST", "/webhooks/atlassian", "Z=1&a=2&_=3&-=4"),
    ("POST", "/webhooks/atlassian", "key%20with%20space=v&key=w"),
    ("POST", "/webhooks/atlassian", "v=%7Ez&v=%21a&v=b"),
    ("GET", "//double//", "a=1"),
]

vectors = []
for method, path, query in CASES:
    url = path + ("?" + query if query else "")
    vectors.append({
        "method": method,
        "path": path,
        "query": query,
        "canonical": canonicalize_request(method, url),
        "qsh": hash_url(method, url),
    })

with open("qsh.json", "w") as out:
    json.dump(vectors, out, indent=1)
    out.write("\n")
print(f"wrote {len(vectors)} vectors")
