#!/bin/sh
# Install the qoslab Wireshark profile (decode TCP 1080 as HTTP) and the
# Lua dissector for the private COPS client-type 0x5153 for the current
# user. Start Wireshark with `wireshark -C qoslab`, or pick the "qoslab"
# profile in the status bar.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conf=${XDG_CONFIG_HOME:-$HOME/.config}/wireshark
plugins=${XDG_LOCAL_LIB:-$HOME/.local/lib}/wireshark/plugins
mkdir -p "$conf/profiles/qoslab" "$plugins"
cp "$here/decode_as_entries" "$conf/profiles/qoslab/decode_as_entries"
cp "$here/qoslab_cops.lua" "$plugins/qoslab_cops.lua"
echo "installed: $conf/profiles/qoslab/decode_as_entries, $plugins/qoslab_cops.lua"
echo "run: wireshark -C qoslab capture/lab.pcapng   (or tshark -C qoslab -r ...)"
