#!/usr/bin/env python3
"""A small command line over Microsoft's official Azure Storage Blob SDK.

Interop tests use it to check that what batchout writes, the SDK reads, and the
reverse. It connects with the connection string in AZURE_STORAGE_CONNECTION_STRING
and prints one JSON value on stdout. On failure it prints the exception on stderr
and exits 1 (2 for bad usage). With BLOB_SDK_RETRIES=N set, the SDK retries a
failed request N times without waiting (rather than its default policy, which
waits about 15 seconds before a retry).

    list CONTAINER PREFIX             blobs under PREFIX: name, size, blob_type
    download CONTAINER BLOB OUTFILE   writes the blob to OUTFILE
    upload-block CONTAINER BLOB INFILE [--keep-metadata]
                                      uploads INFILE as a block blob (overwrites),
                                      keeping the old blob's metadata if asked
    metadata CONTAINER BLOB           the blob's metadata (name to value)
    append CONTAINER BLOB TEXT...     creates an append blob if missing, appends each TEXT
    blob-type CONTAINER BLOB          BlockBlob, AppendBlob or PageBlob
    create-container CONTAINER        creates it; no error if it exists
"""

import argparse
import json
import os
import sys

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, BlobType, LinearRetry


def blob_type_name(blob_type):
    """'BlockBlob' for BlobType.BLOCKBLOB (an enum) or 'BlockBlob' (a string)."""
    return getattr(blob_type, "value", blob_type)


def cmd_list(service, args):
    container = service.get_container_client(args.container)
    return [
        {"name": b.name, "size": b.size, "blob_type": blob_type_name(b.blob_type)}
        for b in container.list_blobs(name_starts_with=args.prefix or None)
    ]


def cmd_download(service, args):
    blob = service.get_blob_client(args.container, args.blob)
    data = blob.download_blob().readall()
    with open(args.outfile, "wb") as out:
        out.write(data)
    return {"size": len(data)}


def cmd_upload_block(service, args):
    blob = service.get_blob_client(args.container, args.blob)
    with open(args.infile, "rb") as infile:
        data = infile.read()
    options = {}
    if args.keep_metadata:
        options["metadata"] = blob.get_blob_properties().metadata
    if args.metadata:
        options["metadata"] = dict(pair.split("=", 1) for pair in args.metadata)
    blob.upload_blob(data, overwrite=True, blob_type=BlobType.BLOCKBLOB, **options)
    return {"size": len(data)}


def cmd_metadata(service, args):
    blob = service.get_blob_client(args.container, args.blob)
    return dict(blob.get_blob_properties().metadata)


def cmd_append(service, args):
    blob = service.get_blob_client(args.container, args.blob)
    if not blob.exists():
        blob.create_append_blob()
    for text in args.text:
        blob.append_block(text.encode("utf-8"))
    return {"size": blob.get_blob_properties().size}


def cmd_blob_type(service, args):
    blob = service.get_blob_client(args.container, args.blob)
    return {"blob_type": blob_type_name(blob.get_blob_properties().blob_type)}


def cmd_create_container(service, args):
    try:
        service.create_container(args.container)
        return {"created": True}
    except ResourceExistsError:
        return {"created": False}


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list")
    s.add_argument("container")
    s.add_argument("prefix", nargs="?", default="")
    s.set_defaults(run=cmd_list)
    s = sub.add_parser("download")
    s.add_argument("container")
    s.add_argument("blob")
    s.add_argument("outfile")
    s.set_defaults(run=cmd_download)
    s = sub.add_parser("upload-block")
    s.add_argument("container")
    s.add_argument("blob")
    s.add_argument("infile")
    s.add_argument("--keep-metadata", action="store_true")
    s.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    s.set_defaults(run=cmd_upload_block)
    s = sub.add_parser("metadata")
    s.add_argument("container")
    s.add_argument("blob")
    s.set_defaults(run=cmd_metadata)
    s = sub.add_parser("append")
    s.add_argument("container")
    s.add_argument("blob")
    s.add_argument("text", nargs="+")
    s.set_defaults(run=cmd_append)
    s = sub.add_parser("blob-type")
    s.add_argument("container")
    s.add_argument("blob")
    s.set_defaults(run=cmd_blob_type)
    s = sub.add_parser("create-container")
    s.add_argument("container")
    s.set_defaults(run=cmd_create_container)
    return p


def main(argv):
    args = parser().parse_args(argv)
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if not connection_string:
        print("blob_sdk.py: AZURE_STORAGE_CONNECTION_STRING is not set", file=sys.stderr)
        return 2
    try:
        options = {}
        retries = os.environ.get("BLOB_SDK_RETRIES")
        if retries is not None:
            options["retry_policy"] = LinearRetry(
                backoff=0, retry_total=int(retries), random_jitter_range=0
            )
        service = BlobServiceClient.from_connection_string(connection_string, **options)
        result = args.run(service, args)
    except Exception as e:  # noqa: BLE001 - any SDK failure is reported the same way
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
