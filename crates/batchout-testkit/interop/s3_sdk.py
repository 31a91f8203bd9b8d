#!/usr/bin/env python3
"""A small command line over boto3, the AWS SDK for Python.

Interop tests use it to check that what batchout writes to an S3 bucket, boto3
reads at the same keys, and the reverse. It connects with the standard AWS
variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION), path-style, and prints one JSON value on stdout. On failure it
prints the exception on stderr and exits 1 (2 for bad usage).

    list BUCKET PREFIX             objects under PREFIX: key, size
    download BUCKET KEY OUTFILE    writes the object to OUTFILE; its checksum
    upload BUCKET KEY INFILE       uploads INFILE (boto3's transfer manager:
                                   multipart above 8 MiB), with a CRC-64/NVME
    head BUCKET KEY                content type, length, CRC-64/NVME, metadata
"""

import argparse
import json
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def client():
    return boto3.client(
        "s3",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            request_checksum_calculation="when_supported",
            response_checksum_validation="when_supported",
        ),
    )


def cmd_list(s3, args):
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=args.bucket, Prefix=args.prefix
    )
    return [
        {"key": o["Key"], "size": o["Size"]}
        for page in pages
        for o in page.get("Contents", [])
    ]


def cmd_download(s3, args):
    answer = s3.get_object(Bucket=args.bucket, Key=args.key, ChecksumMode="ENABLED")
    data = answer["Body"].read()
    with open(args.outfile, "wb") as out:
        out.write(data)
    return {"size": len(data), "crc64nvme": answer.get("ChecksumCRC64NVME")}


def cmd_upload(s3, args):
    s3.upload_file(
        args.infile,
        args.bucket,
        args.key,
        ExtraArgs={"ChecksumAlgorithm": "CRC64NVME"},
        Config=TransferConfig(multipart_threshold=8 * 1024 * 1024),
    )
    return {"key": args.key}


def cmd_head(s3, args):
    answer = s3.head_object(Bucket=args.bucket, Key=args.key, ChecksumMode="ENABLED")
    return {
        "content_type": answer.get("ContentType"),
        "size": answer["ContentLength"],
        "crc64nvme": answer.get("ChecksumCRC64NVME"),
        "metadata": answer.get("Metadata", {}),
    }


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list")
    p.add_argument("bucket")
    p.add_argument("prefix")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("download")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("outfile")
    p.set_defaults(run=cmd_download)
    p = sub.add_parser("upload")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("infile")
    p.set_defaults(run=cmd_upload)
    p = sub.add_parser("head")
    p.add_argument("bucket")
    p.add_argument("key")
    p.set_defaults(run=cmd_head)
    args = parser.parse_args()
    try:
        result = args.run(client(), args)
    except Exception as e:  # noqa: BLE001 - shown to the test, whatever it is
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
