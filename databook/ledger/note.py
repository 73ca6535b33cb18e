"""C2SP signed-note, tlog-checkpoint and tlog-cosignature with Ed25519.

The same byte formats as Go's ``golang.org/x/mod/sumdb/note`` (checked against its
"PeterNeumann" test key and note in tests/data/note), so anyone can check the ledger's tree
heads with standard tools and only the public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
DASH = "\u2014 "  # the em dash and space that start every signature line


class NoteError(Exception):
    """A note, key or signature is malformed or does not verify."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64") from None


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" for c in name)


def key_id(name: str, alg: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    name: str
    alg: int
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public)

    def vkey(self) -> str:
        """``<name>+<8 hex key id>+<base64(alg || public key)>``, Go's verifier key format."""
        blob = base64.b64encode(bytes([self.alg]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def check(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_vkey(vkey: str) -> Verifier:
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not _valid_name(parts[0]) or len(parts[1]) != 8:
        raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
    blob = _b64decode(parts[2], "the verifier key")
    if len(blob) != 33 or blob[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError("the verifier key is not an Ed25519 key")
    verifier = Verifier(parts[0], blob[0], blob[1:])
    if verifier.key_id.hex() != parts[1].lower():
        raise NoteError("the verifier key's id does not match its name and key")
    return verifier


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey
    alg: int = ALG_ED25519

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.alg, _raw(self.private.public_key()))

    def skey(self) -> str:
        """Go's private key format, ``PRIVATE+KEY+<name>+<id>+<base64(alg || seed)>``."""
        seed = self.private.private_bytes_raw()
        blob = base64.b64encode(bytes([self.alg]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{blob}"


def parse_skey(skey: str) -> Signer:
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _valid_name(parts[2]):
        raise NoteError("a signing key is PRIVATE+KEY+<name>+<id>+<base64 key>")
    blob = _b64decode(parts[4], "the signing key")
    if len(blob) != 33 or blob[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError("the signing key is not an Ed25519 key")
    signer = Signer(parts[2], Ed25519PrivateKey.from_private_bytes(blob[1:]), blob[0])
    if signer.verifier.key_id.hex() != parts[3].lower():
        raise NoteError("the signing key's id does not match its name and key")
    return signer


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    blob: bytes  # what follows the key id: the signature (and a cosignature's timestamp)

    def line(self) -> str:
        return f"{DASH}{self.name} {base64.b64encode(self.key_id + self.blob).decode()}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def sign(text: str, signer: Signer) -> str:
    """The signed note: text, a blank line, one signature line."""
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("note text must end in a newline and hold no blank line")
    sig = signer.private.sign(text.encode())
    return Note(text, (Signature(signer.name, signer.verifier.key_id, sig),)).render()


def parse(note: str) -> Note:
    """Split a note into its text and signature lines, checking only the syntax."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n") or not text:
        raise NoteError("a signed note is text, a blank line, then signature lines")
    signatures = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(DASH):
            raise NoteError("a signature line starts with an em dash")
        name, space, blob_text = line[len(DASH):].partition(" ")
        if not space or not _valid_name(name):
            raise NoteError("a signature line is '— <name> <base64>'")
        blob = _b64decode(blob_text, "a signature")
        if len(blob) < 5:
            raise NoteError("a signature is too short")
        signatures.append(Signature(name, blob[:4], blob[4:]))
    return Note(text + "\n", tuple(signatures))


def verify(note: str, verifier: Verifier) -> Note:
    """The note, if it carries a valid signature by ``verifier``; NoteError otherwise."""
    parsed = parse(note)
    for sig in parsed.signatures:
        if (sig.name == verifier.name and sig.key_id == verifier.key_id
                and verifier.alg == ALG_ED25519
                and verifier.check(parsed.text.encode(), sig.blob)):
            return parsed
    raise NoteError(f"no valid signature by {verifier.name} on the note")


def checkpoint_text(origin: str, size: int, root_hash: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root_hash).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not lines[0]:
        raise NoteError("a checkpoint is origin, size and root hash lines")
    size_text, root_text = lines[1], lines[2]
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise NoteError("a checkpoint's size is a decimal number")
    root_hash = _b64decode(root_text, "the checkpoint's root hash")
    if len(root_hash) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(lines[0], int(size_text), root_hash)


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(note: str, signer: Signer, timestamp: int) -> Signature:
    """A C2SP tlog-cosignature of the checkpoint in ``note`` (its signatures are not signed)."""
    if signer.alg != ALG_COSIGNATURE_V1:
        raise NoteError("a cosigner's key uses algorithm 0x04")
    text = parse(note).text
    sig = signer.private.sign(_cosigned_message(text, timestamp))
    return Signature(signer.name, signer.verifier.key_id, struct.pack(">Q", timestamp) + sig)


def verify_cosignature(note: str, verifier: Verifier) -> int:
    """The timestamp of a valid cosignature by ``verifier`` on the note; NoteError otherwise."""
    parsed = parse(note)
    for sig in parsed.signatures:
        if (sig.name == verifier.name and sig.key_id == verifier.key_id
                and verifier.alg == ALG_COSIGNATURE_V1 and len(sig.blob) == 72):
            timestamp = struct.unpack(">Q", sig.blob[:8])[0]
            if verifier.check(_cosigned_message(parsed.text, timestamp), sig.blob[8:]):
                return int(timestamp)
    raise NoteError(f"no valid cosignature by {verifier.name} on the checkpoint")


def cosigner(name: str, private_key: bytes) -> Signer:
    """A witness's key, for C2SP ``tlog-cosignature`` lines, from its 32 private bytes."""
    return Signer(name, Ed25519PrivateKey.from_private_bytes(private_key), ALG_COSIGNATURE_V1)


def new_signer(name: str, alg: int = ALG_ED25519) -> Signer:
    if not _valid_name(name):
        raise NoteError("a key name has no spaces and no '+'")
    return Signer(name, Ed25519PrivateKey.generate(), alg)
