"""0G's compute user flow with stock Python clients: web3.py for the ledger and serving
contracts, the `openai` package for inference through the broker. Only the endpoints
and keys come from the environment; nothing here knows about zg-da.

Env: ZG_RPC, ZG_PROVIDER, ZG_USER_KEY. Prints one JSON line with what it saw.
"""
import base64
import json
import os
import secrets
import sys
import time

import openai
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from web3 import Web3

LEDGER = "0x0000000000000000000000000000000000001005"
SERVING = "0x0000000000000000000000000000000000001006"

LEDGER_ABI = [
    {"type": "function", "name": "addLedger", "stateMutability": "payable",
     "inputs": [{"name": "additionalInfo", "type": "string"}],
     "outputs": [{"name": "", "type": "uint256"}, {"name": "", "type": "uint256"}]},
    {"type": "function", "name": "transferFund", "stateMutability": "nonpayable",
     "inputs": [{"name": "provider", "type": "address"}, {"name": "serviceName", "type": "string"},
                {"name": "amount", "type": "uint256"}], "outputs": []},
    {"type": "function", "name": "getLedger", "stateMutability": "view",
     "inputs": [{"name": "user", "type": "address"}],
     "outputs": [{"name": "", "type": "tuple", "components": [
         {"name": "user", "type": "address"}, {"name": "availableBalance", "type": "uint256"},
         {"name": "totalBalance", "type": "uint256"}, {"name": "additionalInfo", "type": "string"}]}]},
    {"type": "function", "name": "getServiceInfo", "stateMutability": "view",
     "inputs": [{"name": "serviceAddress", "type": "address"}],
     "outputs": [{"name": "", "type": "tuple", "components": [
         {"name": "serviceAddress", "type": "address"}, {"name": "serviceContract", "type": "address"},
         {"name": "serviceType", "type": "string"}, {"name": "version", "type": "string"},
         {"name": "fullName", "type": "string"}, {"name": "description", "type": "string"},
         {"name": "isRecommended", "type": "bool"}, {"name": "registeredAt", "type": "uint256"}]}]},
]

SERVICE = {"name": "", "type": "tuple", "components": [
    {"name": "provider", "type": "address"}, {"name": "serviceType", "type": "string"},
    {"name": "url", "type": "string"}, {"name": "inputPrice", "type": "uint256"},
    {"name": "outputPrice", "type": "uint256"}, {"name": "updatedAt", "type": "uint256"},
    {"name": "model", "type": "string"}, {"name": "verifiability", "type": "string"},
    {"name": "additionalInfo", "type": "string"}, {"name": "teeSignerAddress", "type": "address"},
    {"name": "teeSignerAcknowledged", "type": "bool"}]}
ACCOUNT = {"name": "", "type": "tuple", "components": [
    {"name": "user", "type": "address"}, {"name": "provider", "type": "address"},
    {"name": "nonce", "type": "uint256"}, {"name": "balance", "type": "uint256"},
    {"name": "pendingRefund", "type": "uint256"},
    {"name": "refunds", "type": "tuple[]", "components": [
        {"name": "index", "type": "uint256"}, {"name": "amount", "type": "uint256"},
        {"name": "createdAt", "type": "uint256"}, {"name": "processed", "type": "bool"}]},
    {"name": "additionalInfo", "type": "string"}, {"name": "acknowledged", "type": "bool"},
    {"name": "validRefundsLength", "type": "uint256"}, {"name": "generation", "type": "uint256"},
    {"name": "revokedBitmap", "type": "uint256"}]}
SERVING_ABI = [
    {"type": "function", "name": "getService", "stateMutability": "view",
     "inputs": [{"name": "provider", "type": "address"}], "outputs": [SERVICE]},
    {"type": "function", "name": "getAccount", "stateMutability": "view",
     "inputs": [{"name": "user", "type": "address"}, {"name": "provider", "type": "address"}],
     "outputs": [ACCOUNT]},
]


def send(w3, acct, fn, value=0):
    tx = fn.build_transaction({
        "from": acct.address, "value": value,
        "nonce": w3.eth.get_transaction_count(acct.address),
    })
    signed = acct.sign_transaction(tx)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    r = w3.eth.wait_for_transaction_receipt(h, timeout=60)
    assert r.status == 1, r


def api_key(acct, provider, generation):
    # 0G's SDK token: JSON with exactly these keys, personal_sign over keccak256(JSON).
    now = int(time.time() * 1000)
    token = {"address": acct.address, "provider": provider, "timestamp": now,
             "expiresAt": now + 3600 * 1000, "nonce": secrets.token_hex(16),
             "generation": generation, "tokenId": 255}
    raw = json.dumps(token, separators=(",", ":"))
    sig = Account.sign_message(encode_defunct(primitive=keccak(text=raw)), acct.key).signature
    sig_hex = "0x" + sig.hex().removeprefix("0x")
    return "app-sk-" + base64.b64encode(f"{raw}|{sig_hex}".encode()).decode()


def main():
    w3 = Web3(Web3.HTTPProvider(os.environ["ZG_RPC"]))
    acct = Account.from_key(os.environ["ZG_USER_KEY"])
    provider = Web3.to_checksum_address(os.environ["ZG_PROVIDER"])
    ledger = w3.eth.contract(address=LEDGER, abi=LEDGER_ABI)
    serving = w3.eth.contract(address=SERVING, abi=SERVING_ABI)

    name = ledger.functions.getServiceInfo(SERVING).call()[4]
    send(w3, acct, ledger.functions.addLedger(""), Web3.to_wei(5, "ether"))
    send(w3, acct, ledger.functions.transferFund(provider, name, Web3.to_wei(2, "ether")))
    ledger_after = ledger.functions.getLedger(acct.address).call()

    svc = serving.functions.getService(provider).call()
    url, model = svc[2], svc[6]
    account = serving.functions.getAccount(acct.address, provider).call()
    key = api_key(acct, provider, account[9])

    client = openai.OpenAI(base_url=url + "/v1/proxy", api_key=key, max_retries=0)
    resp = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello from python"}])
    streamed = "".join(
        (c.choices[0].delta.content or "") if c.choices else ""
        for c in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "stream me"}], stream=True))

    refused = None
    try:
        openai.OpenAI(base_url=url + "/v1/proxy", api_key="app-sk-bm90IGEgdG9rZW4=",
                      max_retries=0).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}])
    except openai.AuthenticationError as e:
        refused = e.status_code

    print(json.dumps({
        "service": name,
        "available": ledger_after[1],
        "content": resp.choices[0].message.content,
        "prompt_tokens": resp.usage.prompt_tokens,
        "completion_tokens": resp.usage.completion_tokens,
        "streamed": streamed,
        "refused": refused,
    }))


if __name__ == "__main__":
    sys.exit(main())
