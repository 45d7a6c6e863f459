// Uploads a file with 0G's TypeScript SDK to our chain and storage node, downloads it
// back with the SDK, writes a key through the SDK's KV Batcher and reads it back with its
// KvClient, and prints one JSON line: {root, txHash, same, size, kv}.
// Configured only with our endpoints: ZG_CHAIN_RPC, ZG_STORAGE_NODE, ZG_FLOW, ZG_KEY,
// ZG_SIZE (bytes), ZG_KV_STREAM (a stream the node replays).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Batcher, Downloader, KvClient, MemData, StorageNode, Uploader, getFlowContract } from '@0glabs/0g-ts-sdk';
import { ethers } from 'ethers';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const rpc = env('ZG_CHAIN_RPC');
const nodeUrl = env('ZG_STORAGE_NODE');
const size = Number(env('ZG_SIZE'));

const provider = new ethers.JsonRpcProvider(rpc, undefined, { pollingInterval: 250 });
const signer = new ethers.Wallet(env('ZG_KEY'), provider);
const flow = getFlowContract(env('ZG_FLOW'), signer);

const data = new Uint8Array(size);
for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) % 256;
const file = new MemData(data);
const [tree, terr] = await file.merkleTree();
if (terr) throw terr;

// The SDK logs its progress on stdout; our result goes last, on its own line.
const node = new StorageNode(nodeUrl);
const uploader = new Uploader([node], rpc, flow);
const opts = { tags: '0x', finalityRequired: true, taskSize: 1, expectedReplica: 1, skipTx: false, fee: 0n };
const [res, err] = await uploader.uploadFile(file, opts);
if (err) throw err;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zg-sdk-'));
const out = path.join(dir, 'file.bin');
const derr = await new Downloader([node]).downloadFile(tree.rootHash(), out, false);
if (derr) throw derr;
const back = fs.readFileSync(out);
fs.rmSync(dir, { recursive: true, force: true });
const same = Buffer.compare(back, Buffer.from(data)) === 0;

// KV: one write through the SDK's Batcher (version 1: the key is new), read back.
const stream = env('ZG_KV_STREAM');
const key = Buffer.from(`sdk-key-${size}`);
const value = Buffer.from(`sdk-value-${size}`);
const batcher = new Batcher(1, [node], flow, rpc);
batcher.streamDataBuilder.set(stream, key, value);
const [, kerr] = await batcher.exec({ ...opts });
if (kerr) throw kerr;
const kv = new KvClient(nodeUrl);
let kvOk = false;
for (let i = 0; i < 300 && !kvOk; i++) {
  const got = await kv.getValue(stream, ethers.encodeBase64(key));
  kvOk = got !== null && got.data === value.toString('base64');
  if (!kvOk) await new Promise((r) => setTimeout(r, 100));
}
console.log('ZG_RESULT ' + JSON.stringify({ root: tree.rootHash(), txHash: res.txHash, same, size: back.length, kv: kvOk }));
