-- qoslab_cops.lua: Wireshark/tshark dissector for qoslab's private COPS
-- client-type 0x5153 ("QS", the SIP proxy <-> policy server leg, TCP 3288).
--
-- Wireshark decodes the COPS common header and objects itself but shows the
-- private client-type's ClientSI (REQ) and client-specific decision data
-- (DEC) as raw bytes. This script runs Wireshark's own COPS dissector on
-- every COPS message of TCP 3288 and adds a "qoslab session" tree with the
-- session information in the encoding documented in
-- protocol/cops/session.go (version 1): call id, side, caller, callee,
-- media 5-tuples, DiffServ class, bandwidth, OSP token, result and reason,
-- plus the docs/FLOW.md name of the message ("REQ AAA", "DEC Install", ...).
--
-- It also decodes TCP 1080 (OSP's port) as what it carries: HTTP, or TLS
-- when the clearinghouse runs with tls: "on" (the first bytes of the
-- connection tell which), and the HTTP inside that TLS. Wireshark takes
-- port 1080 for SOCKS by default and OSP would be invisible; forcing it to
-- HTTP would hide TLS. To see inside the TLS, give Wireshark the key logs
-- the policy servers write: -o tls.keylog_file:nodes/pol1/tls-keylog.txt
-- (see pcaps/README.md).
--
-- Use:  tshark -X lua_script:qoslab_cops.lua -r lab.pcapng -Y qoslab
--       wireshark -X lua_script:qoslab_cops.lua lab.pcapng
-- or copy it to ~/.local/lib/wireshark/plugins/ (see README.md).

local CLIENT_TYPE = 0x5153
local COPS_PORT = 3288
local OSP_PORT = 1080

local p = Proto("qoslab", "qoslab COPS session (client-type 0x5153)")

local sides = { [1] = "originating (caller's proxy)", [2] = "terminating (callee's proxy)" }
local dirs = { [1] = "caller->callee", [2] = "callee->caller" }

local f = p.fields
f.kind      = ProtoField.string("qoslab.kind", "docs/FLOW.md message")
f.version   = ProtoField.uint8("qoslab.version", "Session encoding version")
f.callid    = ProtoField.string("qoslab.callid", "Call-ID")
f.side      = ProtoField.uint8("qoslab.side", "Side", base.DEC, sides)
f.caller    = ProtoField.string("qoslab.caller", "Caller")
f.callee    = ProtoField.string("qoslab.callee", "Callee")
f.media     = ProtoField.string("qoslab.media", "Media flow")
f.media_dir = ProtoField.uint8("qoslab.media.dir", "Direction", base.DEC, dirs)
f.media_proto = ProtoField.uint8("qoslab.media.proto", "IP protocol")
f.media_src = ProtoField.string("qoslab.media.src", "Source")
f.media_dst = ProtoField.string("qoslab.media.dst", "Destination")
f.class     = ProtoField.string("qoslab.class", "DiffServ class")
f.bandwidth = ProtoField.uint64("qoslab.bandwidth", "Bandwidth (bit/s)")
f.token     = ProtoField.bytes("qoslab.token", "OSP token")
f.token_len = ProtoField.uint16("qoslab.token_len", "OSP token length")
f.result    = ProtoField.uint16("qoslab.result", "Result")
f.reason    = ProtoField.string("qoslab.reason", "Reason")
f.alerting  = ProtoField.uint8("qoslab.alerting", "Alerting (LDP asked on a 18x)")
f.released  = ProtoField.uint8("qoslab.released_by", "Released by (whose BYE)", base.DEC, { [1] = "caller (originating)", [2] = "callee (terminating)" })
f.unknown   = ProtoField.bytes("qoslab.unknown", "Unknown TLV")

local e_malformed = ProtoExpert.new("qoslab.malformed", "Malformed qoslab session information", expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_malformed }

local cops = Dissector.get("cops")

local function addr(tvb, off, n)
    if n == 4 then
        return tostring(tvb(off, 4):ipv4())
    end
    return tostring(tvb(off, 16):ipv6())
end

-- dissect_session adds the TLVs of one session object body.
local function dissect_session(body, pinfo, tree)
    local t = tree:add(p, body)
    t:set_text("qoslab session information (client-type 0x5153)")
    if body:len() < 4 then
        t:add_proto_expert_info(e_malformed, "session shorter than its 4-octet header")
        return nil
    end
    t:add(f.version, body(0, 1))
    if body(0, 1):uint() ~= 1 then
        t:add_proto_expert_info(e_malformed, "unknown session encoding version")
        return nil
    end
    local callid
    local off = 4
    while off < body:len() do
        if body:len() - off < 3 then
            t:add_proto_expert_info(e_malformed, "truncated TLV header")
            return callid
        end
        local tag = body(off, 1):uint()
        local n = body(off + 1, 2):uint()
        local v = off + 3
        if v + n > body:len() then
            t:add_proto_expert_info(e_malformed, "TLV longer than the object")
            return callid
        end
        local r = body(v, n)
        if n == 0 then
            -- empty value: nothing to show
        elseif tag == 1 then
            t:add(f.callid, r)
            callid = r:string()
        elseif tag == 2 then
            t:add(f.side, r)
        elseif tag == 3 then
            t:add(f.caller, r)
        elseif tag == 4 then
            t:add(f.callee, r)
        elseif tag == 5 and (n == 14 or n == 38) then
            local al = (n - 6) / 2
            local src = addr(body, v + 6, al) .. ":" .. body(v + 2, 2):uint()
            local dst = addr(body, v + 6 + al, al) .. ":" .. body(v + 4, 2):uint()
            local m = t:add(f.media, r, (dirs[body(v, 1):uint()] or "?") .. " " .. src .. " -> " .. dst)
            m:add(f.media_dir, body(v, 1))
            m:add(f.media_proto, body(v + 1, 1))
            m:add(f.media_src, r, src)
            m:add(f.media_dst, r, dst)
        elseif tag == 6 then
            t:add(f.class, r)
        elseif tag == 7 and n == 8 then
            t:add(f.bandwidth, r)
        elseif tag == 8 then
            t:add(f.token_len, body(off + 1, 2))
            t:add(f.token, r)
        elseif tag == 9 and n >= 2 then
            t:add(f.result, body(v, 2))
            if n > 2 then
                t:add(f.reason, body(v + 2, n - 2))
            end
        elseif tag == 10 and n == 1 then
            t:add(f.alerting, r)
        elseif tag == 11 and n == 1 then
            t:add(f.released, r)
        else
            t:add(f.unknown, r)
        end
        off = v + n
    end
    return callid
end

local req_kinds = { ["1/1"] = "REQ AAA", ["2/2"] = "REQ LDP", ["2/3"] = "REQ noLDP" }
local dec_cmds = { [0] = "DEC Null", [1] = "DEC Install", [2] = "DEC Remove" }

-- dissect_message walks the objects of one COPS message (RFC 2748 2.2).
local function dissect_message(tvb, pinfo, tree)
    cops:call(tvb, pinfo, tree)
    if tvb:len() < 8 or tvb(2, 2):uint() ~= CLIENT_TYPE then
        return
    end
    local op = tvb(1, 1):uint()
    local kind
    local callid
    local sessions = {}
    local off = 8
    while off + 4 <= tvb:len() do
        local n = tvb(off, 2):uint()
        local cnum, ctype = tvb(off + 2, 1):uint(), tvb(off + 3, 1):uint()
        if n < 4 or off + n > tvb:len() then
            break
        end
        if cnum == 2 and n == 8 and op == 1 then -- Context of a REQ
            kind = req_kinds[tvb(off + 4, 2):uint() .. "/" .. tvb(off + 6, 2):uint()]
        elseif cnum == 6 and ctype == 1 and n >= 8 and op == 2 then -- Decision flags
            kind = dec_cmds[tvb(off + 4, 2):uint()]
        elseif (cnum == 9 and ctype == 1) or (cnum == 6 and ctype == 4) then
            sessions[#sessions + 1] = tvb(off + 4, n - 4)
        end
        off = off + n + (4 - n % 4) % 4
    end
    if kind then
        tree:add(f.kind, kind):set_generated()
    end
    for _, body in ipairs(sessions) do
        callid = dissect_session(body:tvb(), pinfo, tree) or callid
    end
    if kind or callid then
        pinfo.cols.info:append(" [qoslab " .. (kind or "") .. (callid and (" " .. callid) or "") .. "]")
    end
end

local function pdu_len(tvb, pinfo, off)
    return tvb(off + 4, 4):uint()
end

function p.dissector(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, 8, pdu_len, dissect_message)
    return tvb:len()
end

local tcp = DissectorTable.get("tcp.port")
tcp:add(COPS_PORT, p)

-- The OSP leg: HTTP, or HTTP in TLS, decided once per connection by its
-- first bytes (a TLS record starts with a content type 20-23 and version
-- 3.x; an HTTP request with a letter).
local http = Dissector.get("http-over-tcp") or Dissector.get("http")
local tls = Dissector.get("tls")
local osp = Proto("qoslab_osp", "qoslab OSP leg (HTTP, or HTTP in TLS)")
local osp_kind = {}

local function conversation(pinfo)
    local a = tostring(pinfo.src) .. ":" .. pinfo.src_port
    local b = tostring(pinfo.dst) .. ":" .. pinfo.dst_port
    if a < b then
        return a .. "-" .. b
    end
    return b .. "-" .. a
end

function osp.dissector(tvb, pinfo, tree)
    local key = conversation(pinfo)
    local kind = osp_kind[key]
    if kind == nil and tvb:len() >= 3 then
        local t, major = tvb(0, 1):uint(), tvb(1, 1):uint()
        if t >= 20 and t <= 23 and major == 3 then
            kind = "tls"
        else
            kind = "http"
        end
        osp_kind[key] = kind
    end
    -- Calling a dissector takes one level of "may ask TCP for more
    -- bytes" away; give it back, so that TLS and HTTP can reassemble
    -- records and messages that span segments.
    if pinfo.can_desegment > 0 then
        pinfo.can_desegment = pinfo.can_desegment + 1
    end
    if kind == "tls" then
        return tls:call(tvb, pinfo, tree)
    end
    return http:call(tvb, pinfo, tree)
end

tcp:add(OSP_PORT, osp)
DissectorTable.get("tls.port"):add(OSP_PORT, Dissector.get("http-over-tls") or http)
