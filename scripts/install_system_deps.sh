#!/usr/bin/env bash
# Install the system packages the cluster tests and the cluster launcher need:
#   openssh-server (sshd for the single-machine `ray up` test) and rsync (`ray up`,
#   `ray submit`, `ray rsync-down` copy files with it).
# Idempotent and quiet: does nothing when both are already installed. Needs root
# (CI runs as root); as any other user it only prints what to install and exits 0.
set -euo pipefail

missing=()
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
  missing+=(openssh-server)
fi
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install_system_deps: not root, skipping; the cluster tests need: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_deps: no apt-get on this system; install ${missing[*]} yourself" >&2
  exit 0
fi

echo "install_system_deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# --no-install-recommends keeps it small (no xauth, ncurses-term, ...); policy-rc.d-free
# containers may print a warning that the ssh service could not be started: harmless,
# the tests start their own sshd.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_system_deps: done" >&2
