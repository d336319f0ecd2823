#!/usr/bin/env bash
# Installs the Debian packages qoslab's tests and interop checks use, if any
# is missing. Idempotent and quick when everything is there. qoslab itself
# needs only the Go toolchain and root; these are the independent peers:
#   tshark      cross-checks what qoslab writes on the wire (COPS/PCMM, OSP)
#   sip-tester  sipp, a SIP implementation nobody here wrote
#   baresip-core  baresip, a SIP user agent nobody here wrote (libre's stack)
#   openssl     verifies OSP tokens with `openssl cms -verify`
#   sqlite3     lets people query the usage records
#   nftables    Debian's nft (1.0.6 on Debian 12): the router tests list the
#               routers' tables with it, as people inspecting a router do
#   gcc, libssl-dev, libutf8proc-dev  build the OSP Toolkit (a peer kept as
#               source in ../shared/peers) for the e2e interop suite
#   iproute2, ethtool, iputils-ping  to poke at a lab by hand; the e2e suite
#               runs `ip netns add/del` beside a lab
set -euo pipefail
pkgs=(tshark sip-tester baresip-core openssl sqlite3 nftables iproute2 ethtool iputils-ping ca-certificates make
  gcc libc6-dev libssl-dev libutf8proc-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
