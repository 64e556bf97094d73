#!/bin/sh
# Publish one PDF through Kyso Gateway with curl: the signed file on 200, reasons on 422, retry on 503.
#   examples/portal_publish.sh FILE.pdf [KIND]     (URL and token from KYSO_URL / KYSO_TOKEN_FILE)
set -eu
file=${1:?usage: $0 FILE.pdf [issued|attachment|copy|correspondence]}
kind=${2:-correspondence}
url=${KYSO_URL:-http://127.0.0.1:8080}
token=$(cat "${KYSO_TOKEN_FILE:-var/secrets/http-dev-token}")
out="${file%.pdf}.signed.pdf"
tries=0
while :; do
  tries=$((tries + 1))
  # Raw body: the PDF streamed by curl; metadata in X-Kyso-* headers (percent-encode non-ASCII values).
  status=$(curl -sS -o "$out.part" -D "$out.headers" -w '%{http_code}' \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/pdf' -H "X-Kyso-Kind: $kind" \
    --data-binary "@$file" "$url/v1/documents:sign")
  case $status in
    200) mv "$out.part" "$out"; grep -i '^x-kyso-' "$out.headers"; echo "-> $out"; rm -f "$out.headers"; exit 0 ;;
    422) echo "KHÔNG ĐĂNG / NOT PUBLISHED:"; cat "$out.part"; echo; rm -f "$out.part" "$out.headers"; exit 3 ;;
    503) wait=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$out.headers"); wait=${wait:-30}
         [ "$tries" -ge 5 ] && { echo "gave up after $tries tries"; rm -f "$out.part" "$out.headers"; exit 4; }
         echo "503, retry in ${wait}s"; sleep "$wait" ;;
    *)   echo "HTTP $status"; cat "$out.part"; rm -f "$out.part" "$out.headers"; exit 2 ;;
  esac
done
