#!/usr/bin/env bash
# The mesh CA: `ca init/issue` files and modes, `ca serve` in its own netns
# issuing workload certificates over mTLS only for workloads the policy
# places on the asking node, proxies that take their identities from it and
# renew them at half-life, and a root rotation (add, activate, retire), all
# under continuous traffic with no failed connection.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init ca
CASES=(ca/init-files ca/cli-without-openssl ca/issue-cert ca/nothing-secret-printed ca/fetch-placed
	ca/refuse-other-node ca/refuse-non-node ca/proxies-from-ca ca/renewal-no-failures
	ca/held-connection-survives-renewal ca/rotation-no-failures ca/rotated-root-in-use)
. "$T_LIB/mesh.sh"
mesh_require "${CASES[@]}"
mesh_world

# --- files ---------------------------------------------------------------------
modes=$(stat -c '%a %n' "$CA_DIR"/root-1.key "$CA_DIR"/root-1.pem | awk '{print $1}' | tr '\n' ' ')
check_eq ca/init-files "$modes$(cat "$CA_DIR/trust-domain")" "600 644 cluster.local" "key/cert modes, trust domain"
# `sluice ca` ran sluice-ca above; the CLI itself maps no OpenSSL, and
# without sluice-ca beside it says so instead of failing obscurely.
mkdir "$T_TMP/lone"
cp "$SLUICE" "$T_TMP/lone/"
"$T_TMP/lone/$(basename "$SLUICE")" ca init --dir "$T_TMP/lone-ca" >"$T_TMP/lone.out" 2>&1
rc=$?
if ldd "$SLUICE" | grep -q -e libssl -e libcrypto; then
	fail ca/cli-without-openssl "$(ldd "$SLUICE" | grep -e libssl -e libcrypto | tr '\n' ' ')"
elif [ "$rc" != 1 ] || [ -e "$T_TMP/lone-ca" ] || ! grep -q "cannot run .*sluice-ca" "$T_TMP/lone.out"; then
	fail ca/cli-without-openssl "rc $rc: $(cat "$T_TMP/lone.out")"
else
	ok ca/cli-without-openssl
fi
"$SLUICE" ca issue --dir "$CA_DIR" --ns nodejs-app --sa api-client --out "$T_TMP/w" \
	>"$T_TMP/issue.out" 2>&1
san=$(openssl x509 -in "$T_TMP/w/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | tr -d ' ')
verify=$(openssl verify -CAfile "$T_TMP/w/root.pem" "$T_TMP/w/cert.pem" 2>&1)
check_eq ca/issue-cert "$san $(stat -c %a "$T_TMP/w/key.pem") ${verify##* }" \
	"URI:spiffe://cluster.local/ns/nodejs-app/sa/api-client 600 OK" "SAN, key mode, verification"
if grep -q "PRIVATE" "$T_TMP/issue.out" "$T_TMP"/load-*.out; then
	fail ca/nothing-secret-printed "a private key appeared in command output"
else
	ok ca/nothing-secret-printed
fi

# --- serve ----------------------------------------------------------------------
mkdir "$T_TMP/ca-policy"
cp "$T_TMP/world.yaml" "$T_SRC/examples/mtls-policy.yaml" "$T_TMP/ca-policy/"
# node identities are short-lived too: the proxies renew them through the CA
"$SLUICE" ca issue --dir "$CA_DIR" --node node-a --ttl 20s --out "$T_TMP/node-a" >/dev/null
"$SLUICE" ca issue --dir "$CA_DIR" --node node-b --ttl 20s --out "$T_TMP/node-b" >/dev/null
nsenter --net="/run/netns/$NS" -- "$SLUICE" ca serve --dir "$CA_DIR" --listen "$CA_ADDR" \
	--policy "$T_TMP/ca-policy" --ttl 20s --ready "$T_TMP/ca.ready" >"$T_TMP/ca.log" 2>&1 &
T_PIDS+=("$!")
wait_file "$T_TMP/ca.ready" 10 || { fail ca/fetch-placed "ca serve: $(cat "$T_TMP/ca.log")"; exit 1; }

fetch() { # NODE SA OUT
	in_n "$NS-a" "$SLUICE" ca fetch --ca "$CA_ADDR" --node-cert "$T_TMP/$1" \
		--ns nodejs-app --sa "$2" --out "$3"
}
fetch node-a api-client "$T_TMP/f1" >"$T_TMP/f1.out" 2>&1
check_eq ca/fetch-placed "$(openssl x509 -in "$T_TMP/f1/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | tr -d ' ')" \
	"URI:spiffe://cluster.local/ns/nodejs-app/sa/api-client" "node-a fetching api-client ($(cat "$T_TMP/f1.out"))"

fetch node-a nodejs-api "$T_TMP/f2" >"$T_TMP/f2.out" 2>&1
rc=$?
if [ "$rc" != 0 ] && [ ! -e "$T_TMP/f2/cert.pem" ] &&
	grep -q "node node-a: refused spiffe://cluster.local/ns/nodejs-app/sa/nodejs-api" "$T_TMP/ca.log"; then
	ok ca/refuse-other-node
else
	fail ca/refuse-other-node "rc $rc, $(cat "$T_TMP/f2.out"), log: $(tail -n 2 "$T_TMP/ca.log")"
fi
# A workload certificate is not a node's: the CA does not answer it.
in_n "$NS-a" "$SLUICE" ca fetch --ca "$CA_ADDR" --node-cert "$T_TMP/w" --ns nodejs-app \
	--sa api-client --out "$T_TMP/f3" >"$T_TMP/f3.out" 2>&1
check_eq ca/refuse-non-node "$? $(grep -c 'not a node' "$T_TMP/ca.log")" "1 1" "workload cert as node identity"

# --- proxies with CA identities, renewal ------------------------------------------
pod_server srv b1 "$POD_B1:8080=hello-b1"
mesh_proxy a pxa --ca "$CA_ADDR" --node-cert "$T_TMP/node-a"
mesh_proxy b pxb --ca "$CA_ADDR" --node-cert "$T_TMP/node-b"
pod_client a1 -j -n 3 "$VIP:80" >"$T_TMP/p.json" 2>"$T_TMP/p.err"
check_eq ca/proxies-from-ca "$(count hello-b1 "$T_TMP/p.json")" 3 "($(head -c 300 "$T_TMP/p.err"))"

# 20s certificates renew every ~10s: 25s of connections, one every 50 ms,
# and one connection held across the renewals that must still carry bytes.
pod_client a1 -j -n 1 -d 22000 -b 1000 -w 30000 "$VIP:80" >"$T_TMP/held.json" 2>"$T_TMP/held.err" &
HELD=$!
pod_client a1 -j -l -t 25 -i 50 "$VIP:80" >"$T_TMP/loop.json" 2>"$T_TMP/loop.err"
renewed=$(grep -c 'node node-a: issued spiffe://cluster.local/ns/nodejs-app/sa/api-client' "$T_TMP/ca.log")
check_eq ca/renewal-no-failures "$(jq -r '.failed' "$T_TMP/loop.json") $((renewed >= 3))" "0 1" \
	"failed connections / api-client renewed at least twice ($renewed loads; $(head -c 300 "$T_TMP/loop.err"))"
wait "$HELD"
check_eq ca/held-connection-survives-renewal "$(jq -r '"\(.ok) \(.bytes_sent)"' "$T_TMP/held.json")" "1 1000" \
	"($(head -c 300 "$T_TMP/held.err"))"

# --- rotation under traffic ---------------------------------------------------
pod_client a1 -j -l -t 40 -i 50 "$VIP:80" >"$T_TMP/rot.json" 2>"$T_TMP/rot.err" &
LOOP=$!
sleep 2
"$SLUICE" ca rotate --dir "$CA_DIR" >/dev/null
sleep 12 # every node renewed once: both roots in every bundle
"$SLUICE" ca rotate --dir "$CA_DIR" --activate >/dev/null
sleep 12 # every certificate now signed by root 2
"$SLUICE" ca rotate --dir "$CA_DIR" --retire >/dev/null
wait "$LOOP"
check_eq ca/rotation-no-failures "$(jq -r '"\(.failed) \(.ok > 100)"' "$T_TMP/rot.json")" "0 true" \
	"failed connections during add/activate/retire ($(head -c 300 "$T_TMP/rot.err"))"
# node-a's identity files were renewed by its proxy under root 2
fetch node-a api-client "$T_TMP/f4" >"$T_TMP/f4.out" 2>&1
issuer=$(openssl x509 -in "$T_TMP/f4/cert.pem" -noout -issuer 2>/dev/null)
check_eq ca/rotated-root-in-use "${issuer##*/node/} $(grep -c BEGIN "$T_TMP/f4/root.pem")" "root-2 1" \
	"issuer CN and bundle size after retire ($(cat "$T_TMP/f4.out"))"
t_done
