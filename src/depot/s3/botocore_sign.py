#!/usr/bin/python3
# Signs a fixed set of S3 requests with botocore (the SigV4 code awscli and boto3 run) and prints
# each as one JSON line: {"name", "method", "target", "headers": [[name, value], ...]}.
# sigv4_verifier_test.cc feeds them to depot's verifier. No network: botocore only signs.
import json
import sys
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDENTIALS = Credentials("DEPOTKEY", "depot/secret+key")
HOST = "127.0.0.1:9000"


def emit(name, request):
    url = urlsplit(request.url)
    target = url.path + ("?" + url.query if url.query else "")
    headers = [["Host", HOST]] + [[k, v] for k, v in request.headers.items()]
    print(json.dumps({"name": name, "method": request.method, "target": target,
                      "headers": headers}))


def signed(name, method, path, body=b"", headers=None):
    request = AWSRequest(method=method, url=f"http://{HOST}{path}", data=body,
                         headers=headers or {})
    S3SigV4Auth(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    emit(name, request)


def presigned(name, method, path):
    request = AWSRequest(method=method, url=f"http://{HOST}{path}")
    S3SigV4QueryAuth(CREDENTIALS, "s3", "us-east-1", expires=300).add_auth(request)
    emit(name, request)


signed("list buckets", "GET", "/")
signed("put with metadata", "PUT", "/bucket/a%20key/%2B~%C3%BC",
       body=b"hello", headers={"Content-Type": "text/plain", "x-amz-meta-name": "two  spaces"})
signed("create multipart", "POST", "/bucket/big.bin?uploads")
signed("list with prefix", "GET", "/bucket?list-type=2&prefix=a%20b%26c&delimiter=%2F")
signed("ranged get", "GET", "/bucket/k", headers={"Range": "bytes=0-9"})
presigned("presigned get", "GET", "/bucket/a%20key")
presigned("presigned put", "PUT", "/bucket/new")
sys.stdout.flush()
