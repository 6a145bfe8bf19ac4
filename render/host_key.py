"""SSH host keys for the VMs this program creates, so no connection has to trust a first key.

The key is an Ed25519 key derived from 32 random bytes the program keeps (secret) in its state:
the same seed always gives the same key files, so the VM's user-data does not change between
runs. The private key goes to the VM through cloud-init; the public key is pinned wherever the
program connects (the docker provider's ssh and the readiness command).
"""

from __future__ import annotations

import base64
import hashlib

KEY_TYPE = "ssh-ed25519"


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def host_key_pair(seed_b64: str, comment: str) -> tuple[str, str]:
    """(OpenSSH private key file, public key line) from a base64 32-byte seed, byte for byte stable.

    The private file is OpenSSH's unencrypted "openssh-key-v1" format. Its check integers are
    random in ssh-keygen's output; here they come from the seed, so the file is stable.
    """
    # Imported here: only stacks that create a VM need it, not every program start.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = base64.b64decode(seed_b64)
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    public = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    public_blob = _string(KEY_TYPE.encode()) + _string(public)
    check = hashlib.sha256(b"aurigraph-host-key-check" + seed).digest()[:4]
    private = (
        check
        + check
        + _string(KEY_TYPE.encode())
        + _string(public)
        + _string(seed + public)
        + _string(comment.encode())
    )
    private += bytes(range(1, 1 + (-len(private) % 8)))  # padding to the cipher block size (8 for none)
    body = (
        b"openssh-key-v1\0"
        + _string(b"none")
        + _string(b"none")
        + _string(b"")
        + (1).to_bytes(4, "big")
        + _string(public_blob)
        + _string(private)
    )
    text = base64.b64encode(body).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    private_file = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"
    return private_file, f"{KEY_TYPE} {base64.b64encode(public_blob).decode()}"


def known_hosts_options(public_key: str) -> list[str]:
    """ssh options that accept exactly this host key and no other.

    KnownHostsCommand (OpenSSH 8.5+) prints the key as a known_hosts line for %H, the name ssh is
    looking up: the host, or `[host]:port` off port 22 (ssh builds that itself). Only the key's
    type and data go into the line: a comment could hold a `%`, which ssh would expand as a
    token. The user's own known_hosts files are not read. HostKeyAlgorithms names what the key
    signs with: an RSA key's SHA-2 algorithms (current OpenSSH refuses SHA-1 `ssh-rsa`).
    """
    kind, data = public_key.split()[:2]
    algorithms = "rsa-sha2-512,rsa-sha2-256" if kind == "ssh-rsa" else kind
    return [
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        f"KnownHostsCommand=/bin/echo %H {kind} {data}",
        "-o",
        f"HostKeyAlgorithms={algorithms}",
    ]
