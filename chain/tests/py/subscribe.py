"""web3.py against zg-chain over WebSocket: subscribe to newHeads and logs, create a
contract that logs, receive both notifications, then verify an eth_getProof of the
sender's account against the finalized block's state root (a Merkle-Patricia proof
walk written here; web3.py does not verify proofs). Prints one JSON line."""

import asyncio
import json
import os

import rlp
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from web3 import AsyncWeb3, WebSocketProvider

WS = os.environ["ZG_WS"]
KEY = os.environ["ZG_KEY"]


def nibbles(b):
    out = []
    for x in b:
        out += [x >> 4, x & 15]
    return out


def verify_proof(root, key, proof):
    """The value at `key` in the trie with `root`, from `proof` (None if absent)."""
    path = nibbles(keccak(key))
    expected = root
    for node_bytes in proof:
        if len(node_bytes) >= 32:
            assert keccak(node_bytes) == expected, "a proof node does not hash to its reference"
        else:
            assert node_bytes == expected, "an inline node differs"
        node = rlp.decode(node_bytes)
        if len(node) == 17:
            if not path:
                return node[16] or None
            expected = node[path[0]]
            path = path[1:]
            if expected == b"":
                return None
        elif len(node) == 2:
            encoded = nibbles(node[0])
            flag = encoded[0]
            rest = encoded[2:] if flag in (0, 2) else encoded[1:]
            if flag in (2, 3):  # leaf
                return node[1] if path == rest else None
            if path[: len(rest)] != rest:
                return None
            path = path[len(rest):]
            expected = node[1]
        else:
            raise AssertionError("a proof node is neither a branch nor a short node")
    raise AssertionError("the proof ends before the value")


async def main():
    async with AsyncWeb3(WebSocketProvider(WS)) as w3:
        acct = w3.eth.account.from_key(KEY)
        nonce = await w3.eth.get_transaction_count(acct.address)
        created = to_checksum_address(keccak(rlp.encode([bytes.fromhex(acct.address[2:]), nonce]))[12:])
        heads = await w3.eth.subscribe("newHeads")
        logs = await w3.eth.subscribe("logs", {"address": created})
        tx = acct.sign_transaction({
            "nonce": nonce,
            "gas": 100_000,
            "maxFeePerGas": 100 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "data": bytes.fromhex("602a60005260206000a000"),
            "value": 0,
            "chainId": await w3.eth.chain_id,
        })
        await w3.eth.send_raw_transaction(tx.raw_transaction)
        head_numbers, log = [], None
        async for msg in w3.socket.process_subscriptions():
            if msg["subscription"] == heads:
                head_numbers.append(msg["result"]["number"])
            elif msg["subscription"] == logs:
                log = msg["result"]
            if head_numbers and log is not None:
                break
        assert log["address"] == created, log
        assert await w3.eth.unsubscribe(heads)

        finalized = await w3.eth.get_block("finalized")
        # AsyncEth has no get_proof: the raw request, as a client library sends it.
        answer = await w3.provider.make_request("eth_getProof", [acct.address, [], hex(finalized["number"])])
        raw = answer["result"]
        h = lambda x: bytes.fromhex(x[2:])
        proof = {
            "nonce": int(raw["nonce"], 16),
            "balance": int(raw["balance"], 16),
            "storageHash": h(raw["storageHash"]),
            "codeHash": h(raw["codeHash"]),
            "accountProof": [h(p) for p in raw["accountProof"]],
        }
        value = verify_proof(bytes(finalized["stateRoot"]), bytes.fromhex(acct.address[2:]),
                             proof["accountProof"])
        assert value is not None, "the account is missing from the proof"
        n, balance, storage_root, code_hash = rlp.decode(value)
        assert int.from_bytes(n, "big") == proof["nonce"]
        assert int.from_bytes(balance, "big") == proof["balance"]
        assert storage_root == bytes(proof["storageHash"])
        assert code_hash == bytes(proof["codeHash"])
        # A forged balance does not verify.
        forged = list(proof["accountProof"])
        last = bytearray(forged[-1])
        last[-1] ^= 1
        forged[-1] = bytes(last)
        try:
            verify_proof(bytes(finalized["stateRoot"]), bytes.fromhex(acct.address[2:]),
                         [bytes(p) for p in forged])
            raise SystemExit("a forged proof verified")
        except AssertionError:
            pass
        print(json.dumps({
            "heads": head_numbers,
            "log_block": log["blockNumber"],
            "finalized": finalized["number"],
            "nonce": proof["nonce"],
            "balance": str(proof["balance"]),
        }))


asyncio.run(main())
