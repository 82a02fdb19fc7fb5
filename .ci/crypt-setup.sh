#!/usr/bin/env bash
# Installs what tests/integration/test_encryption.py needs: gocryptfs and fusermount (fuse3).
# Idempotent and non-interactive; one line per action. Usage: .ci/crypt-setup.sh
set -euo pipefail

if command -v gocryptfs >/dev/null && { command -v fusermount3 >/dev/null || command -v fusermount >/dev/null; }; then
    echo "crypt-setup: gocryptfs and fusermount present"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"  # CI runs as root; elsewhere this fails clearly instead of prompting
fi
echo "crypt-setup: gocryptfs or fusermount missing; running apt-get update"
$SUDO apt-get update -qq
echo "crypt-setup: installing gocryptfs and fuse3 with apt-get"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gocryptfs fuse3 >/dev/null
command -v gocryptfs >/dev/null || { echo "crypt-setup: gocryptfs still missing after install" >&2; exit 1; }
echo "crypt-setup: $(gocryptfs -version | head -1)"
