"""boto3, the AWS SDK for Python, doing each S3 workload the way its documentation recommends:
its transfer manager (s3transfer, the classic one of Python threads) with 8 workers, and a
paginator for listings.

Usage: s3_peer.py COMMAND BUCKET ARGS... with AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION set.

Its checksums are botocore's defaults (request_checksum_calculation=when_supported): a CRC-32
of every PutObject and UploadPart, and ChecksumMode=ENABLED on GetObject, checked where the
answer carries a checksum of what it sends (not on the ranges of a multipart download).
"""

import os
import sys

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config

WORKERS = 8
# The classic manager, which is what `auto` picks everywhere but on EC2's largest instance types.
TRANSFER = TransferConfig(max_concurrency=WORKERS, preferred_transfer_client="classic")


def client():
    return boto3.client("s3", config=Config(max_pool_connections=WORKERS))


def up_file(bucket, key, path):
    client().upload_file(path, bucket, key, Config=TRANSFER)


def down_file(bucket, key, path):
    client().download_file(bucket, key, path, Config=TRANSFER)


def up_tree(bucket, prefix, root):
    with create_transfer_manager(client(), TRANSFER) as manager:
        futures = []
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                key = prefix + os.path.relpath(path, root).replace(os.sep, "/")
                futures.append(manager.upload(path, bucket, key))
        for future in futures:
            future.result()


def keys(s3, bucket, prefix):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


def down_tree(bucket, prefix, root):
    s3 = client()
    with create_transfer_manager(s3, TRANSFER) as manager:
        futures = []
        for key in keys(s3, bucket, prefix):
            path = os.path.join(root, key[len(prefix):])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            futures.append(manager.download(bucket, key, path))
        for future in futures:
            future.result()


def list_names(bucket, prefix):
    print(sum(1 for _ in keys(client(), bucket, prefix)))


COMMANDS = {
    "up-file": up_file,
    "down-file": down_file,
    "up-tree": up_tree,
    "down-tree": down_tree,
    "list": list_names,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
