"""Opens the keystores `zg-da-server keygen` wrote with stock Python tools.

eth_account decrypts the Web3 Secret Storage file; the EIP-2335 BLS keystore is
decrypted from the specification with hashlib's scrypt and pycryptodome's AES-CTR, and
py_ecc derives its public key. Prints one JSON line: the address and the BLS public key.
"""

import hashlib
import json
import os
import sys
import unicodedata

from Crypto.Cipher import AES
from Crypto.Util import Counter
from eth_account import Account
from py_ecc.bls import G2ProofOfPossession as bls

directory, password = sys.argv[1], os.environ["ZG_KEY_PASSWORD"]

with open(os.path.join(directory, "eth.json")) as f:
    eth_key = Account.decrypt(json.load(f), password)
address = Account.from_key(eth_key).address


def eip2335_password(p: str) -> bytes:
    p = unicodedata.normalize("NFKD", p)
    return "".join(c for c in p if not (ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F)).encode()


with open(os.path.join(directory, "bls.json")) as f:
    ks = json.load(f)
assert ks["version"] == 4, ks["version"]
kdf = ks["crypto"]["kdf"]
assert kdf["function"] == "scrypt", kdf["function"]
p = kdf["params"]
dk = hashlib.scrypt(
    eip2335_password(password),
    salt=bytes.fromhex(p["salt"]),
    n=p["n"],
    r=p["r"],
    p=p["p"],
    maxmem=2**30,
    dklen=p["dklen"],
)
cipher_message = bytes.fromhex(ks["crypto"]["cipher"]["message"])
checksum = hashlib.sha256(dk[16:32] + cipher_message).hexdigest()
assert checksum == ks["crypto"]["checksum"]["message"], "EIP-2335 checksum differs"
iv = bytes.fromhex(ks["crypto"]["cipher"]["params"]["iv"])
ctr = Counter.new(128, initial_value=int.from_bytes(iv, "big"))
secret = AES.new(dk[:16], AES.MODE_CTR, counter=ctr).decrypt(cipher_message)
pubkey = bls.SkToPk(int.from_bytes(secret, "big")).hex()
assert pubkey == ks["pubkey"], "the BLS key does not match the keystore's pubkey"
print(json.dumps({"address": address, "bls": pubkey}))
