#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write an uncompressed newc initramfs holding /init and /dev/console.

    mkinitramfs.py OUT.cpio INIT [PROGRAM...]

Each PROGRAM goes to /bin/<its name>.

No root, no mknod, no cpio(1): the archive is written directly, with
fixed owners and times so that it is reproducible.
"""
import os
import stat
import sys


def entry(ino, name, mode, data=b"", rdev=(0, 0)):
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
        len(name_b), 0))
    out = hdr.encode() + name_b
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def main():
    out, init, progs = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(init, "rb") as f:
        init_data = f.read()
    parts = [
        entry(1, "dev", stat.S_IFDIR | 0o755),
        entry(2, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        entry(3, "proc", stat.S_IFDIR | 0o755),
        entry(4, "sys", stat.S_IFDIR | 0o755),
        entry(5, "init", stat.S_IFREG | 0o755, init_data),
        entry(6, "bin", stat.S_IFDIR | 0o755),
    ]
    for ino, prog in enumerate(progs, 7):
        with open(prog, "rb") as f:
            parts.append(entry(ino, "bin/" + os.path.basename(prog),
                               stat.S_IFREG | 0o755, f.read()))
    parts.append(entry(0, "TRAILER!!!", 0))
    data = b"".join(parts)
    data += b"\0" * (-len(data) % 512)
    with open(out + ".tmp", "wb") as f:
        f.write(data)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
