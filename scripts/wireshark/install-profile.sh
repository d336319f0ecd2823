#!/bin/sh
# Install the qoslab Wireshark profile (the HTTP inside TLS on TCP 1080 is
# OSP; TCP reassembles a merged capture's interleaved segments) and the Lua
# dissector (COPS client-type 0x5153; TCP 1080 as HTTP or TLS) for the
# current user. Start Wireshark with `wireshark -C qoslab`, or pick the "qoslab"
# profile in the status bar.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conf=${XDG_CONFIG_HOME:-$HOME/.config}/wireshark
plugins=${XDG_LOCAL_LIB:-$HOME/.local/lib}/wireshark/plugins
mkdir -p "$conf/profiles/qoslab" "$plugins"
cp "$here/decode_as_entries" "$conf/profiles/qoslab/decode_as_entries"
cp "$here/preferences" "$conf/profiles/qoslab/preferences"
cp "$here/qoslab_cops.lua" "$plugins/qoslab_cops.lua"
echo "installed: $conf/profiles/qoslab/decode_as_entries, $plugins/qoslab_cops.lua"
echo "run: wireshark -C qoslab capture/lab.pcapng   (or tshark -C qoslab -r ...)"
