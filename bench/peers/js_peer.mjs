// The official JavaScript SDK (@azure/storage-blob) doing each benchmark workload
// the way its documentation recommends, with 8 workers where it parallelises.
//
// Usage: node js_peer.mjs COMMAND ARGS... with AZURE_STORAGE_CONNECTION_STRING set.

import { BlobServiceClient } from "@azure/storage-blob";
import { promises as fs, existsSync, statSync } from "node:fs";
import path from "node:path";

const WORKERS = 8;
const service = () => BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING);

async function pool(items, worker) {
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const item = items[next++];
      await worker(item);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, run));
}

async function walk(root) {
  const files = [];
  for (const entry of await fs.readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) files.push(path.join(entry.parentPath ?? entry.path, entry.name));
  }
  return files;
}

const commands = {
  async "up-file"(container, blob, file) {
    await service().getContainerClient(container).getBlockBlobClient(blob).uploadFile(file, { concurrency: WORKERS });
  },
  async "down-file"(container, blob, file) {
    await service().getContainerClient(container).getBlobClient(blob).downloadToFile(file);
  },
  async "up-tree"(container, prefix, root) {
    const client = service().getContainerClient(container);
    const files = await walk(root);
    await pool(files, (file) =>
      client.getBlockBlobClient(prefix + path.relative(root, file).split(path.sep).join("/")).uploadFile(file),
    );
  },
  async "down-tree"(container, prefix, root) {
    const client = service().getContainerClient(container);
    const names = [];
    for await (const blob of client.listBlobsFlat({ prefix })) names.push(blob.name);
    await pool(names, async (name) => {
      const file = path.join(root, name.slice(prefix.length));
      await fs.mkdir(path.dirname(file), { recursive: true });
      await client.getBlobClient(name).downloadToFile(file);
    });
  },
  async list(container, prefix) {
    let count = 0;
    for await (const _ of service().getContainerClient(container).listBlobsFlat({ prefix })) count++;
    console.log(count);
  },
  async track(container, blob, file, seconds) {
    const client = service().getContainerClient(container).getAppendBlobClient(blob);
    await client.createIfNotExists();
    let sent = 0;
    let idle = 0;
    const deadline = Date.now() + Number(seconds) * 1000;
    for (;;) {
      const size = existsSync(file) ? statSync(file).size : 0;
      if (size > sent) {
        const handle = await fs.open(file);
        const data = Buffer.alloc(size - sent);
        await handle.read(data, 0, data.length, sent);
        await handle.close();
        for (let i = 0; i < data.length; i += 4 * 1024 * 1024) {
          const chunk = data.subarray(i, i + 4 * 1024 * 1024);
          await client.appendBlock(chunk, chunk.length);
        }
        sent = size;
        idle = 0;
      } else if (Date.now() > deadline && ++idle > 1) {
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  },
};

await commands[process.argv[2]](...process.argv.slice(3));
