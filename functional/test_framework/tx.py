"""Bitcoin transaction building blocks for functional tests.

Serialization (BIP144 witness format), BIP143 segwit v0 signature hashes,
script construction and regtest bech32 addresses. Enough to build, sign
and spend P2WPKH/P2WSH outputs from Python without a wallet.
"""

import hashlib
import struct
from dataclasses import dataclass, field

from .ecdsa_test_only import PrivateKey

SIGHASH_ALL = 1
MAX_SEQUENCE = 0xFFFFFFFF

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_1 = 0x51
OP_RETURN = 0x6A
OP_DROP = 0x75
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CHECKMULTISIG = 0xAE
OP_CHECKLOCKTIMEVERIFY = 0xB1
OP_CHECKSEQUENCEVERIFY = 0xB2

COIN = 100_000_000


def sha256(data):
    return hashlib.sha256(data).digest()


def hash256(data):
    return sha256(sha256(data))


def hash160(data):
    return hashlib.new("ripemd160", sha256(data)).digest()


def ser_compact_size(n):
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def ser_bytes(data):
    return ser_compact_size(len(data)) + data


# --- scripts ----------------------------------------------------------------

def script_num(n):
    """Minimal CScriptNum encoding (as pushed by CScript() << n)."""
    if n == 0:
        return b""
    negative = n < 0
    value = abs(n)
    out = bytearray()
    while value:
        out.append(value & 0xFF)
        value >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if negative else 0x00)
    elif negative:
        out[-1] |= 0x80
    return bytes(out)


def push_data(data):
    if len(data) < OP_PUSHDATA1:
        return bytes([len(data)]) + data
    if len(data) <= 0xFF:
        return bytes([OP_PUSHDATA1, len(data)]) + data
    return bytes([OP_PUSHDATA2]) + struct.pack("<H", len(data)) + data


def push_int(n):
    """Push a number the way Core's CScript << int64 does (OP_0, OP_1..16 or data)."""
    if n == 0:
        return bytes([OP_0])
    if 1 <= n <= 16:
        return bytes([OP_1 + n - 1])
    return push_data(script_num(n))


def script(*items):
    """Build a script: ints are opcodes, bytes are pushed as data."""
    out = bytearray()
    for item in items:
        if isinstance(item, int):
            out.append(item)
        else:
            out += push_data(bytes(item))
    return bytes(out)


def p2wpkh_script(pubkey):
    return bytes([OP_0, 20]) + hash160(pubkey)


def p2wsh_script(witness_script):
    return bytes([OP_0, 32]) + sha256(witness_script)


def multisig_2of2_script(pubkey_a, pubkey_b):
    """2-of-2 CHECKMULTISIG with keys in lexicographic order (as BOLT 3 funding)."""
    first, second = sorted([pubkey_a, pubkey_b])
    return bytes([OP_1 + 1]) + push_data(first) + push_data(second) + bytes([OP_1 + 1, OP_CHECKMULTISIG])


def csv_script(blocks, pubkey):
    """<blocks> OP_CHECKSEQUENCEVERIFY OP_DROP <pubkey> OP_CHECKSIG"""
    return push_int(blocks) + bytes([OP_CHECKSEQUENCEVERIFY, OP_DROP]) + push_data(pubkey) + bytes([OP_CHECKSIG])


def cltv_script(height, pubkey):
    """<height> OP_CHECKLOCKTIMEVERIFY OP_DROP <pubkey> OP_CHECKSIG"""
    return push_int(height) + bytes([OP_CHECKLOCKTIMEVERIFY, OP_DROP]) + push_data(pubkey) + bytes([OP_CHECKSIG])


# --- bech32 regtest addresses (BIP173 v0 / BIP350 v1+) ---------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
REGTEST_HRP = "bcrt"


def _polymod(values):
    generators = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= generators[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp):
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data, from_bits, to_bits, pad):
    acc = bits = 0
    out = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to_bits - bits)) & maxv)
    elif not pad and (bits >= from_bits or (acc << (to_bits - bits)) & maxv):
        return None
    return out


def segwit_address(script_pubkey, hrp=REGTEST_HRP):
    """Encode a witness output script (OP_n <program>) as a bech32/bech32m address."""
    version = 0 if script_pubkey[0] == OP_0 else script_pubkey[0] - OP_1 + 1
    program = script_pubkey[2:]
    data = [version] + _convert_bits(program, 8, 5, True)
    const = _BECH32_CONST if version == 0 else _BECH32M_CONST
    mod = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def address_to_script(address, hrp=REGTEST_HRP):
    """Decode a regtest segwit address to its output script (None if invalid)."""
    address = address.lower()
    sep = address.rfind("1")
    if address[:sep] != hrp:
        return None
    try:
        data = [_CHARSET.index(c) for c in address[sep + 1:]]
    except ValueError:
        return None
    version = data[0]
    const = _BECH32_CONST if version == 0 else _BECH32M_CONST
    if _polymod(_hrp_expand(hrp) + data) != const:
        return None
    program = _convert_bits(data[1:-6], 5, 8, False)
    if program is None:
        return None
    return bytes([OP_0 if version == 0 else OP_1 + version - 1, len(program)]) + bytes(program)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated data")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def compact_size(self):
        first = self.read(1)[0]
        if first < 0xFD:
            return first
        return int.from_bytes(self.read({0xFD: 2, 0xFE: 4, 0xFF: 8}[first]), "little")


# --- transactions --------------------------------------------------------------

@dataclass
class TxIn:
    txid: str  # display hex
    vout: int
    script_sig: bytes = b""
    sequence: int = MAX_SEQUENCE
    witness: list = field(default_factory=list)

    def serialize_outpoint(self):
        return bytes.fromhex(self.txid)[::-1] + struct.pack("<I", self.vout)


@dataclass
class TxOut:
    value: int  # satoshis
    script_pubkey: bytes


@dataclass
class Tx:
    version: int = 2
    vin: list = field(default_factory=list)
    vout: list = field(default_factory=list)
    locktime: int = 0

    def has_witness(self):
        return any(i.witness for i in self.vin)

    def serialize(self, with_witness=True):
        out = bytearray(struct.pack("<i", self.version))
        witness = with_witness and self.has_witness()
        if witness:
            out += b"\x00\x01"
        out += ser_compact_size(len(self.vin))
        for i in self.vin:
            out += i.serialize_outpoint() + ser_bytes(i.script_sig) + struct.pack("<I", i.sequence)
        out += ser_compact_size(len(self.vout))
        for o in self.vout:
            out += struct.pack("<q", o.value) + ser_bytes(o.script_pubkey)
        if witness:
            for i in self.vin:
                out += ser_compact_size(len(i.witness))
                for item in i.witness:
                    out += ser_bytes(item)
        out += struct.pack("<I", self.locktime)
        return bytes(out)

    def hex(self):
        return self.serialize().hex()

    @classmethod
    def deserialize(cls, raw):
        """Parses a transaction in witness (BIP144) or legacy serialization."""
        reader = _Reader(raw)
        tx = cls(version=struct.unpack("<i", reader.read(4))[0])
        has_witness = raw[4:6] == b"\x00\x01"
        if has_witness:
            reader.read(2)
        for _ in range(reader.compact_size()):
            txid = reader.read(32)[::-1].hex()
            vout = struct.unpack("<I", reader.read(4))[0]
            script_sig = reader.read(reader.compact_size())
            tx.vin.append(TxIn(txid, vout, script_sig, struct.unpack("<I", reader.read(4))[0]))
        for _ in range(reader.compact_size()):
            value = struct.unpack("<q", reader.read(8))[0]
            tx.vout.append(TxOut(value, reader.read(reader.compact_size())))
        if has_witness:
            for txin in tx.vin:
                txin.witness = [reader.read(reader.compact_size()) for _ in range(reader.compact_size())]
        tx.locktime = struct.unpack("<I", reader.read(4))[0]
        if reader.pos != len(raw):
            raise ValueError("trailing bytes after transaction")
        return tx

    def txid(self):
        return hash256(self.serialize(with_witness=False))[::-1].hex()

    def wtxid(self):
        return hash256(self.serialize())[::-1].hex()

    def vsize(self):
        base = len(self.serialize(with_witness=False))
        total = len(self.serialize())
        return (base * 3 + total + 3) // 4

    def segwit_v0_sighash(self, index, script_code, amount, hashtype=SIGHASH_ALL):
        """BIP143 signature hash for input `index` (SIGHASH_ALL only)."""
        if hashtype != SIGHASH_ALL:
            raise ValueError("only SIGHASH_ALL is implemented")
        hash_prevouts = hash256(b"".join(i.serialize_outpoint() for i in self.vin))
        hash_sequence = hash256(b"".join(struct.pack("<I", i.sequence) for i in self.vin))
        hash_outputs = hash256(b"".join(struct.pack("<q", o.value) + ser_bytes(o.script_pubkey) for o in self.vout))
        txin = self.vin[index]
        preimage = (struct.pack("<i", self.version) + hash_prevouts + hash_sequence
                    + txin.serialize_outpoint() + ser_bytes(script_code) + struct.pack("<q", amount)
                    + struct.pack("<I", txin.sequence) + hash_outputs + struct.pack("<I", self.locktime)
                    + struct.pack("<I", hashtype))
        return hash256(preimage)

    def sign_p2wsh(self, index, witness_script, amount, key: PrivateKey):
        """DER signature + SIGHASH_ALL byte for a P2WSH input."""
        digest = self.segwit_v0_sighash(index, witness_script, amount)
        return key.sign_der(digest) + bytes([SIGHASH_ALL])

    def sign_p2wpkh(self, index, amount, key: PrivateKey):
        """Sets the witness of a P2WPKH input spending to `key`."""
        pubkey = key.pubkey().serialize()
        script_code = bytes([OP_DUP, OP_HASH160, 20]) + hash160(pubkey) + bytes([OP_EQUALVERIFY, OP_CHECKSIG])
        digest = self.segwit_v0_sighash(index, script_code, amount)
        self.vin[index].witness = [key.sign_der(digest) + bytes([SIGHASH_ALL]), pubkey]


def btc_to_sat(value):
    """Converts an RPC amount (float or str) to satoshis without float drift."""
    return int(round(float(value) * COIN))


def find_output(tx_json, script_pubkey_hex):
    """Index of the output paying `script_pubkey_hex` in a decoded tx (verbose JSON)."""
    for out in tx_json["vout"]:
        if out["scriptPubKey"]["hex"] == script_pubkey_hex:
            return out["n"]
    raise KeyError(f"no output pays {script_pubkey_hex}")
