"""Pure-Python secp256k1 ECDSA for functional tests only.

Slow and not constant-time: never use it for real keys. Signatures follow
what Bitcoin Core produces: RFC 6979 deterministic nonces (HMAC-SHA256, no
extra entropy), low-S normalised, DER-encoded.
"""

import hashlib
import hmac

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def _point_add(a, b):
    """Affine point addition; None is the point at infinity."""
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0]:
        if (a[1] + b[1]) % P == 0:
            return None
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (slope * slope - a[0] - b[0]) % P
    return (x, (slope * (a[0] - x) - a[1]) % P)


def _point_mul(k, point=G):
    result = None
    addend = point
    while k:
        if k & 1:
            result = _point_add(result, addend)
        addend = _point_add(addend, addend)
        k >>= 1
    return result


def _bits2int_modn(data):
    return int.from_bytes(data, "big") % N


def rfc6979_nonce(secret, msg32):
    """RFC 6979 section 3.2 with HMAC-SHA256 (qlen = hlen = 256)."""
    x = secret.to_bytes(32, "big")
    h1 = _bits2int_modn(msg32).to_bytes(32, "big")
    v = b"\x01" * 32
    k = b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        candidate = int.from_bytes(v, "big")
        if 1 <= candidate < N:
            return candidate
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


def _der_int(value):
    raw = value.to_bytes(32, "big").lstrip(b"\x00") or b"\x00"
    if raw[0] & 0x80:
        raw = b"\x00" + raw
    return b"\x02" + bytes([len(raw)]) + raw


def der_encode(r, s):
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


class PrivateKey:
    def __init__(self, secret):
        if isinstance(secret, (bytes, bytearray)):
            secret = int.from_bytes(secret, "big")
        if not 1 <= secret < N:
            raise ValueError("private key out of range")
        self.secret = secret
        self._pub = None

    @classmethod
    def from_seed(cls, seed):
        """Deterministic test key from any label, e.g. PrivateKey.from_seed(b"alice")."""
        if isinstance(seed, str):
            seed = seed.encode()
        return cls(_bits2int_modn(hashlib.sha256(seed).digest()) or 1)

    def pubkey(self):
        if self._pub is None:
            self._pub = PublicKey(_point_mul(self.secret))
        return self._pub

    def sign(self, msg32):
        """ECDSA signature (r, s) with RFC 6979 nonce and low S."""
        if len(msg32) != 32:
            raise ValueError("message must be a 32-byte hash")
        z = _bits2int_modn(msg32)
        k = rfc6979_nonce(self.secret, msg32)
        r = _point_mul(k)[0] % N
        s = pow(k, -1, N) * (z + r * self.secret) % N
        if s > N // 2:
            s = N - s
        return r, s

    def sign_der(self, msg32):
        return der_encode(*self.sign(msg32))


class PublicKey:
    def __init__(self, point):
        self.point = point

    def serialize(self, compressed=True):
        x, y = self.point
        if compressed:
            return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
        return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")

    def verify(self, msg32, r, s):
        if not (1 <= r < N and 1 <= s < N):
            return False
        z = _bits2int_modn(msg32)
        w = pow(s, -1, N)
        point = _point_add(_point_mul(z * w % N), _point_mul(r * w % N, self.point))
        return point is not None and point[0] % N == r
