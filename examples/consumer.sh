#!/usr/bin/env bash
# Mirror redis-cdc streams into Redis hashes `<db>.<table>:<key>` with redis-cli and jq:
# the shell twin of examples/consumer.py (same consumer group semantics, same hashes).
#
#   REDIS_CLI="redis-cli -p 16379" PREFIX=cdc: examples/consumer.sh
#
# Each entry is applied and acknowledged in one MULTI/EXEC (DEL the hash, HSET the new row
# image, XACK), so it is applied exactly once even if the script is killed at any point; on
# restart it first re-reads its own pending entries. Reads the `flat`, `debezium-extended` and
# `debezium` layouts (Debezium schema-change events are acknowledged and skipped). Needs redis-cli 7.0+ (--json) and jq. IDLE_EXIT=N stops after N seconds
# without new entries (for scripts and tests).
set -euo pipefail

REDIS_CLI=${REDIS_CLI:-redis-cli}
PREFIX=${PREFIX:-cdc:}
OFFSET_KEY=${OFFSET_KEY:-cdc:offset}
GROUP=${GROUP:-mirror-sh}
CONSUMER=${CONSUMER:-mirror-sh-1}
IDLE_EXIT=${IDLE_EXIT:-0}

command -v jq >/dev/null || { echo "consumer.sh needs jq" >&2; exit 2; }
read -r -a CLI <<<"$REDIS_CLI"

# The flat layout's whole-table entries (docs/events.md): `t` deletes the table's hashes; the
# hashes written between `resync-begin` and `resync-end` are noted in a set
# `<group>:resync:<db>.<table>`, and `resync-end` deletes the table's other hashes. Lua, so that
# each runs inside the entry's MULTI; ARGV[1] is the hashes' prefix `<db>.<table>:`.
LUA_SCAN='local p = ARGV[1]:gsub("[%*%?%[%]\\]", "\\%0") .. "*"
local function each(f) local c = "0" repeat
  local r = redis.call("SCAN", c, "MATCH", p, "COUNT", 1000) c = r[1]
  for _, k in ipairs(r[2]) do f(k) end until c == "0" end'
LUA_TRUNCATE="$LUA_SCAN
each(function(k) redis.call(\"DEL\", k) end) return 0"
LUA_RESYNC_END="$LUA_SCAN
if redis.call(\"EXISTS\", KEYS[1]) == 1 then
  each(function(k) if redis.call(\"SISMEMBER\", KEYS[1], k) == 0 then redis.call(\"DEL\", k) end end)
  redis.call(\"DEL\", KEYS[1]) end return 0"
LUA_NOTE='if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("SADD", KEYS[1], ARGV[1]) end return 0'

# XREADGROUP reply (RESP2 JSON) -> one MULTI ... EXEC block of redis-cli commands per entry.
# Strings are written as JSON string literals, which redis-cli's line parser reads back.
JQ_APPLY='
def pairs: [range(0; length; 2) as $i | {key: .[$i], value: .[$i+1]}] | from_entries;
def parse:
  if has("op") and (.op == "t" or .op == "resync-begin" or .op == "resync-end") then
    {op, db, table, whole: true}
  elif has("op") then
    {op, db, table, key: (.key | fromjson),
     row: ((.after // .before) | fromjson), flat: true}
  else
    (if has("value") then {k: .key, v: .value} else (to_entries[0] | {k: .key, v: .value}) end) as $kv
    | ($kv.v | fromjson) as $e
    | if ($e | has("op") | not) then {ddl: true} else
      {op: $e.op, db: $e.source.db, table: $e.source.table,
       key: (if $kv.k == "default" then null else ($kv.k | fromjson) end),
       row: ($e.after // $e.before)} end
  end;
.[]? | .[0] as $stream | .[1][] | .[0] as $id | (.[1] | pairs) as $f
| if ($f | length) == 0 or ($f | parse | .ddl) then
    "XACK \($stream | @json) \($group | @json) \($id | @json)"
  else
    ($f | parse) as $c
    | "\($c.db).\($c.table):" as $prefix
    | "\($group):resync:\($c.db).\($c.table)" as $noted
    | if $c.whole then
        "MULTI",
        (if $c.op == "t" then "EVAL \($truncate | @json) 0 \($prefix | @json)"
         elif $c.op == "resync-begin" then "DEL \($noted | @json)", "SADD \($noted | @json) \"\""
         else "EVAL \($resync_end | @json) 1 \($noted | @json) \($prefix | @json)" end),
        "XACK \($stream | @json) \($group | @json) \($id | @json)",
        "EXEC"
      else
        ($prefix + (if $c.key then ($c.key | [.[] | tostring] | join(":"))
                    else ($c.row | tojson | @base64) end)) as $target
        | "MULTI",
          "DEL \($target | @json)",
          (if ($c.op != "d") and ($c.row != null) then
             "HSET \($target | @json) " + ($c.row | to_entries | map(select(.value != null))
               | map("\(.key | @json) \(if (.value | type) == "string" then .value else (.value | tojson) end | @json)")
               | join(" ")),
             (if $c.flat then "EVAL \($note | @json) 1 \($noted | @json) \($target | @json)" else empty end)
           else empty end),
          "XACK \($stream | @json) \($group | @json) \($id | @json)",
          "EXEC"
      end
  end'

streams=()
cursor=0
last_new=$(date +%s)
while true; do
  while read -r key; do
    [[ -z "$key" || "$key" == "$OFFSET_KEY" ]] && continue
    [[ "$("${CLI[@]}" TYPE "$key")" == "stream" ]] || continue
    if [[ " ${streams[*]-} " != *" $key "* ]]; then
      "${CLI[@]}" XGROUP CREATE "$key" "$GROUP" 0 MKSTREAM >/dev/null 2>&1 || true
      streams+=("$key")
    fi
  done < <("${CLI[@]}" --scan --pattern "${PREFIX}*")
  if ((${#streams[@]} == 0)); then
    sleep 0.5
  else
    ids=()
    for _ in "${streams[@]}"; do ids+=("$([[ $cursor == 0 ]] && echo 0 || echo '>')"); done
    block=()
    [[ $cursor == 0 ]] || block=(BLOCK 1000)
    reply=$("${CLI[@]}" -2 --json XREADGROUP GROUP "$GROUP" "$CONSUMER" COUNT 500 "${block[@]}" \
      STREAMS "${streams[@]}" "${ids[@]}")
    commands=$(jq -r --arg group "$GROUP" --arg truncate "$LUA_TRUNCATE" \
      --arg resync_end "$LUA_RESYNC_END" --arg note "$LUA_NOTE" "$JQ_APPLY" <<<"${reply:-null}")
    if [[ -n "$commands" ]]; then
      "${CLI[@]}" >/dev/null <<<"$commands"
      n=$(grep -c '^XACK ' <<<"$commands" || true)
      echo "applied $n entries"
      last_new=$(date +%s)
    elif [[ $cursor == 0 ]]; then
      cursor='>'
    fi
  fi
  if ((IDLE_EXIT > 0)) && (($(date +%s) - last_new > IDLE_EXIT)); then
    exit 0
  fi
done
