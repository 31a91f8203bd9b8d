"""The official Python SDK (azure-storage-blob) doing each benchmark workload the
way its documentation recommends, with 8 workers where it parallelises.

Usage: py_peer.py COMMAND ARGS... with AZURE_STORAGE_CONNECTION_STRING set.
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from azure.storage.blob import BlobServiceClient

WORKERS = 8


def service():
    return BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])


def up_file(container, blob, path):
    with open(path, "rb") as data:
        service().get_blob_client(container, blob).upload_blob(data, overwrite=True, max_concurrency=WORKERS)


def down_file(container, blob, path):
    with open(path, "wb") as out:
        service().get_blob_client(container, blob).download_blob(max_concurrency=WORKERS).readinto(out)


def up_tree(container, prefix, root):
    client = service().get_container_client(container)
    files = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            files.append((path, prefix + os.path.relpath(path, root).replace(os.sep, "/")))

    def one(item):
        path, blob = item
        with open(path, "rb") as data:
            client.upload_blob(blob, data, overwrite=True)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, files))


def down_tree(container, prefix, root):
    client = service().get_container_client(container)
    names = list(client.list_blob_names(name_starts_with=prefix))

    def one(name):
        path = os.path.join(root, name[len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            client.download_blob(name).readinto(out)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, names))


def list_names(container, prefix):
    count = sum(1 for _ in service().get_container_client(container).list_blob_names(name_starts_with=prefix))
    print(count)


def track(container, blob, path, seconds):
    """Appends what the file gained every second, until it stops growing."""
    client = service().get_blob_client(container, blob)
    if not client.exists():
        client.create_append_blob()
    sent, idle = 0, 0
    deadline = time.time() + float(seconds)
    while True:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size > sent:
            with open(path, "rb") as f:
                f.seek(sent)
                data = f.read(size - sent)
            for i in range(0, len(data), 4 * 1024 * 1024):
                client.append_block(data[i : i + 4 * 1024 * 1024])
            sent = size
            idle = 0
        elif time.time() > deadline:
            idle += 1
            if idle > 1:
                return
        time.sleep(1)


COMMANDS = {
    "up-file": up_file,
    "down-file": down_file,
    "up-tree": up_tree,
    "down-tree": down_tree,
    "list": list_names,
    "track": track,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
