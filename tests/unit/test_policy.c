// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the policy compiler (user/policy/). One line per test:
 * "ok NAME" or "FAIL NAME: reason"; exit 1 if any failed.
 *
 * Inputs are the project's example files (tests/unit/testdata/, copies of
 * shared/examples) and small inline documents; every error case checks the
 * exact message line that `sluice apply` prints.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "unit.h"



/* Test data: $SLUICE_TESTDATA, else tests/unit/testdata from the project
 * root (make test), else relative to the binary in build/tests/unit/. */
static FILE *open_testdata(const char *name)
{
	const char *dir = getenv("SLUICE_TESTDATA");
	char path[8192], exe[4096];
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/unit/testdata", name);
	f = fopen(path, "re");
	if (f || dir)
		return f;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	if (strrchr(exe, '/'))
		*strrchr(exe, '/') = 0;
	snprintf(path, sizeof(path), "%s/../../../tests/unit/testdata/%s", exe, name);
	return fopen(path, "re");
}

static char *read_testdata(const char *name, size_t *len)
{
	FILE *f = open_testdata(name);
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Load testdata file NAME under the name "testdata/NAME". */
static int load_file(struct sl_policy *p, const char *name, struct sl_diags *d)
{
	char label[256];
	size_t len;
	char *src = read_testdata(name, &len);
	int r;

	if (!src)
		return -99;
	snprintf(label, sizeof(label), "testdata/%s", name);
	r = sl_policy_load(p, label, src, len, d);
	free(src);
	return r;
}

static int load_str(struct sl_policy *p, const char *name, const char *src,
		    struct sl_diags *d)
{
	return sl_policy_load(p, name, src, strlen(src), d);
}

#define CHECK_DIAGS(d, min, want)                                          \
	do {                                                               \
		char *got_ = diag_text(d, min);                            \
		bool eq_ = !strcmp(got_, want);                            \
		if (!eq_)                                                  \
			fail_msg(__LINE__, "diagnostics differ:\n--- want\n%s--- got\n%s", \
				 want, got_);                              \
		free(got_);                                                \
		if (!eq_)                                                  \
			return;                                            \
	} while (0)

static const char *ip4(const struct sl_l4addr *a, char *buf)
{
	inet_ntop(AF_INET, a->addr, buf, INET_ADDRSTRLEN);
	return buf;
}

static struct sl_compile_opts opts(void)
{
	struct sl_compile_opts o;

	sl_compile_opts_default(&o);
	return o;
}

/* Compile P expecting exactly one error line WANT (plus anything below
 * error severity). */
static bool compile_fails_with(struct sl_policy *p, const struct sl_compile_opts *o,
			       const char *want, char **got)
{
	struct sl_diags d = { 0 };
	struct sl_tables t;
	int r = sl_policy_compile(p, o, &t, &d);

	*got = diag_text(&d, SL_SEV_ERROR);
	sl_diags_free(&d);
	return r == -1 && t.n_svcs == 0 && !strcmp(*got, want);
}

/* ---- the example files -------------------------------------------------- */

static void test_examples_apply(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;

	CHECK(load_file(p, "istio-config.yaml", &d) == 0, "istio-config.yaml rejected");
	CHECK(load_file(p, "mtls-policy.yaml", &d) == 0, "mtls-policy.yaml rejected");
	/* The Namespace is held too: its labels feed namespaceSelector. */
	CHECK(sl_policy_count(p) == 7, "%zu objects, want 7", sl_policy_count(p));
	CHECK(sl_policy_compile(p, &o, &t, &d) == 0, "compile failed");
	CHECK_DIAGS(&d, SL_SEV_WARNING,
		"testdata/istio-config.yaml:99:7: warning: spec.trafficPolicy.circuitBreaker: legacy alias of outlierDetection (not an Istio field); merged into outlierDetection\n"
		"testdata/istio-config.yaml:99:26: warning: spec.trafficPolicy.circuitBreaker.consecutiveErrors: circuitBreaker.consecutiveErrors 5 conflicts with outlierDetection.consecutive5xxErrors 3; using 3\n"
		"testdata/mtls-policy.yaml:22:3: warning: spec.rules: every rule holds only one of from/to/when; rules are ORed, so a request matching any single rule is allowed (e.g. any source for the listed operations): put conditions that belong together into one rule\n"
		"testdata/istio-config.yaml:13:9: warning: metadata.name: nodejs-api.nodejs-app.svc.cluster.local has no endpoints yet: connections to it are refused (ECONNREFUSED) until endpoints arrive\n"
		"testdata/mtls-policy.yaml:27:18: warning: spec.rules[1].to[0].operation.methods: needs HTTP, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n"
		"testdata/mtls-policy.yaml:28:16: warning: spec.rules[1].to[0].operation.paths: needs HTTP, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n"
		"testdata/mtls-policy.yaml:30:12: warning: spec.rules[2].when[0].key: 'request.headers[authorization]' is not an L4 attribute, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n");
	CHECK_DIAGS(&d, SL_SEV_NOTE,
		"testdata/istio-config.yaml:27:7: note: kind: Deployment skipped: not a data-plane object\n"
		"testdata/istio-config.yaml:99:7: warning: spec.trafficPolicy.circuitBreaker: legacy alias of outlierDetection (not an Istio field); merged into outlierDetection\n"
		"testdata/istio-config.yaml:99:26: warning: spec.trafficPolicy.circuitBreaker.consecutiveErrors: circuitBreaker.consecutiveErrors 5 conflicts with outlierDetection.consecutive5xxErrors 3; using 3\n"
		"testdata/istio-config.yaml:96:9: note: spec.trafficPolicy.connectionPool.http: applies to traffic the proxy handles; connections on the kernel path carry no requests\n"
		"testdata/mtls-policy.yaml:22:3: warning: spec.rules: every rule holds only one of from/to/when; rules are ORed, so a request matching any single rule is allowed (e.g. any source for the listed operations): put conditions that belong together into one rule\n"
		"testdata/istio-config.yaml:13:9: warning: metadata.name: nodejs-api.nodejs-app.svc.cluster.local has no endpoints yet: connections to it are refused (ECONNREFUSED) until endpoints arrive\n"
		"testdata/mtls-policy.yaml:27:18: warning: spec.rules[1].to[0].operation.methods: needs HTTP, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n"
		"testdata/mtls-policy.yaml:28:16: warning: spec.rules[1].to[0].operation.paths: needs HTTP, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n"
		"testdata/mtls-policy.yaml:30:12: warning: spec.rules[2].when[0].key: 'request.headers[authorization]' is not an L4 attribute, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n");
	CHECK(t.n_svcs == 1 && t.n_backends == 0, "%zu svcs %zu backends", t.n_svcs,
	      t.n_backends);
	CHECK(t.svcs[0].val.n_groups == 2 && t.svcs[0].val.groups[0].count == 0,
	      "groups");
	CHECK(t.n_policies == 3, "%zu policies", t.n_policies);
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

static void test_example_groups(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	const struct sl_group *g;
	const struct sl_table_svc *s;
	struct sl_tables t;
	char b[INET_ADDRSTRLEN];
	int i;

	CHECK(load_file(p, "istio-config.yaml", &d) == 0, "rejected");
	CHECK(load_file(p, "nodejs-pods.yaml", &d) == 0, "pods rejected");
	CHECK(sl_policy_compile(p, &o, &t, &d) == 0, "compile failed");
	CHECK(t.n_svcs == 1, "%zu svcs", t.n_svcs);
	s = &t.svcs[0];
	CHECK(!strcmp(s->host, "nodejs-api.nodejs-app.svc.cluster.local"), "host %s", s->host);
	CHECK(ntohs(s->fe.port) == 3000 && s->fe.proto == IPPROTO_TCP, "port");
	CHECK(s->val.n_groups == 2 && s->val.route_total == 100, "n_groups %u", s->val.n_groups);
	CHECK(!strcmp(s->subset[0], "v1") && !strcmp(s->subset[1], "v2"), "subsets");
	CHECK(s->val.groups[0].weight == 90 && s->val.groups[1].weight == 10, "weights");
	CHECK(s->val.groups[0].count == 3 && s->val.groups[1].count == 1, "counts %u %u",
	      s->val.groups[0].count, s->val.groups[1].count);
	CHECK(s->val.groups[0].tag == sl_subset_tag("v1") && s->val.groups[0].tag, "tag");
	for (i = 0; i < 2; i++) {
		g = &s->val.groups[i];
		CHECK(g->lb == SL_LB_LEAST_CONN, "lb %u", g->lb);
		CHECK(g->max_conns == 100, "max_conns %u", g->max_conns);
		CHECK(g->outlier.enabled && g->outlier.consec_5xx == 3 &&
		      g->outlier.interval_ns == 30000000000ull &&
		      g->outlier.base_eject_ns == 30000000000ull &&
		      g->outlier.max_eject_pct == 50 && g->outlier.consec_gw == 0 &&
		      g->outlier.min_health_pct == 0, "outlier");
	}
	CHECK(s->val.handoff_reasons == SL_HO_HTTP_MATCH && s->val.flags == SL_SVC_F_HANDOFF,
	      "reasons %x", s->val.handoff_reasons);
	CHECK(!strcmp(s->handoff_why, "http match (VirtualService nodejs-app/nodejs-api "
		      "spec.http[0].match)"), "why: %s", s->handoff_why);
	CHECK(t.n_backends == 4, "%zu backends", t.n_backends);
	CHECK(!strcmp(ip4(&t.backends[0].be.ep, b), "10.244.0.11") &&
	      ntohs(t.backends[0].be.ep.port) == 3000, "backend 0 %s", b);
	CHECK(t.backends[2].be.cum == 3 && t.backends[3].be.cum == 1, "cum");
	CHECK(!strcmp(t.backends[3].meta.workload, "nodejs-api-v2-a") &&
	      !strcmp(t.backends[3].meta.subset, "v2") &&
	      !strcmp(t.backends[3].labels, "app=nodejs-api,version=v2"), "meta");
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

static void test_example_handoff_both(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;
	const struct sl_table_svc *s;

	CHECK(load_file(p, "istio-config.yaml", &d) == 0, "rejected");
	CHECK(load_file(p, "mtls-policy.yaml", &d) == 0, "rejected");
	CHECK(load_file(p, "nodejs-pods.yaml", &d) == 0, "rejected");
	CHECK(sl_policy_compile(p, &o, &t, &d) == 0, "compile failed");
	s = &t.svcs[0];
	CHECK(s->val.handoff_reasons == (SL_HO_HTTP_MATCH | SL_HO_MTLS_STRICT |
					 SL_HO_AUTHZ | SL_HO_JWT),
	      "reasons %x", s->val.handoff_reasons);
	CHECK(!strcmp(s->handoff_why,
		      "http match (VirtualService nodejs-app/nodejs-api spec.http[0].match); "
		      "mTLS STRICT (PeerAuthentication nodejs-app/default); authorization "
		      "(AuthorizationPolicy nodejs-app/nodejs-api-authz); JWT authentication "
		      "(RequestAuthentication nodejs-app/jwt-auth)"), "why: %s", s->handoff_why);
	CHECK(t.n_policies == 3 && t.policies[0].n_svcs == 1 && t.policies[0].svcs[0] == 0,
	      "policies");
	CHECK(!strcmp(t.policies[1].summary, "mtls STRICT"), "summary %s",
	      t.policies[1].summary);
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* Only the mTLS file plus a plain Service: every reason but the http one. */
static void test_mtls_file_handoff(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;

	CHECK(load_file(p, "mtls-policy.yaml", &d) == 0, "rejected");
	CHECK(load_str(p, "svc.yaml",
		       "apiVersion: v1\nkind: Service\nmetadata: {name: nodejs-api, namespace: nodejs-app}\n"
		       "spec:\n  selector: {app: nodejs-api}\n  ports: [{port: 3000}]\n", &d) == 0,
	      "svc rejected");
	CHECK(sl_policy_compile(p, &o, &t, &d) == 0, "compile failed");
	CHECK(t.svcs[0].val.handoff_reasons == (SL_HO_MTLS_STRICT | SL_HO_AUTHZ | SL_HO_JWT),
	      "reasons %x", t.svcs[0].val.handoff_reasons);
	CHECK(t.svcs[0].val.n_groups == 1 && t.svcs[0].val.groups[0].lb == SL_LB_LEAST_REQUEST &&
	      !t.svcs[0].val.groups[0].outlier.enabled && t.svcs[0].val.groups[0].weight == 100,
	      "default group");
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* ---- error cases, exact messages ------------------------------------------ */

struct err_case {
	const char *name;
	const char *src;
	const char *want;
};

static const struct err_case load_errors[] = {
	{ "malformed-yaml",
	  "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n   bad: [1, 2\n",
	  "bad.yaml:5:7: error: mapping values are not allowed in this context\n" },
	{ "unknown-field",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n  - port: 80\n    protcol: TCP\n",
	  "bad.yaml:7:5: error: spec.ports[0].protcol: unknown field \"protcol\"\n" },
	{ "wrong-type",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n  - port: \"80\"\n",
	  "bad.yaml:6:11: error: spec.ports[0].port: expected integer, got string\n" },
	{ "port-0",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n  - port: 0\n",
	  "bad.yaml:6:11: error: spec.ports[0].port: 0 out of range 1..65535\n" },
	{ "port-70000",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n  - port: 70000\n",
	  "bad.yaml:6:11: error: spec.ports[0].port: 70000 out of range 1..65535\n" },
	{ "sctp",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n  - port: 80\n    protocol: SCTP\n",
	  "bad.yaml:7:15: error: spec.ports[0].protocol: SCTP not supported\n" },
	{ "dns-resolution",
	  "apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n"
	  "  hosts: [api.example.com]\n  ports: [{number: 443, name: https, protocol: TLS}]\n"
	  "  resolution: DNS\n",
	  "bad.yaml:7:15: error: spec.resolution: DNS not supported: the kernel data plane balances to addresses; use STATIC\n" },
	{ "weights-not-100",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n"
	  "  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web, subset: a}\n      weight: 90\n"
	  "    - destination: {host: web, subset: b}\n      weight: 20\n",
	  "bad.yaml:8:5: error: spec.http[0].route: weights of the route's destinations sum to 110, must be 100\n" },
	{ "malformed-flow",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}\n",
	  "bad.yaml:6:1: error: did not find expected ',' or ']' (while parsing a flow sequence at line 5, column 10)\n" },
	{ "missing-name",
	  "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\nspec: {ports: [{port: 80}]}\n",
	  "bad.yaml:4:3: error: metadata.name: required field is missing\n" },
	{ "bad-api-version",
	  "apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: x}\n",
	  "bad.yaml:1:13: error: apiVersion: apiVersion \"networking.istio.io/v2\" not supported for kind VirtualService\n" },
	{ "duplicate-key",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n  ports: [{port: 81}]\n",
	  "bad.yaml:6:3: error: duplicate key \"ports\"\n" },
	{ "alias",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: &l {a: b}}\nspec:\n  selector: *l\n  ports: [{port: 80}]\n",
	  "bad.yaml:3:31: error: YAML aliases are not supported\n" },
	{ "not-a-mapping",
	  "- just\n- a list\n",
	  "bad.yaml:1:1: error: expected a mapping (a Kubernetes object), got sequence\n" },
	{ "session-affinity",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  sessionAffinity: ClientIP\n  ports: [{port: 80}]\n",
	  "bad.yaml:5:20: error: spec.sessionAffinity: ClientIP not supported\n" },
	{ "external-name",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: ExternalName\n  externalName: db.example.com\n",
	  "bad.yaml:5:9: error: spec.type: ExternalName services not supported\n"
	  "bad.yaml:6:17: error: spec.externalName: not supported\n" },
	{ "fqdn-slice",
	  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: web}}\n"
	  "addressType: FQDN\nendpoints: [{addresses: [db.example.com]}]\n",
	  "bad.yaml:4:14: error: addressType: FQDN not supported\n" },
	{ "slice-bad-address",
	  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: web}}\n"
	  "addressType: IPv4\nendpoints: [{addresses: [fd00::1]}]\n",
	  "bad.yaml:5:26: error: endpoints[0].addresses[0]: \"fd00::1\" is not an IPv4 address\n" },
	{ "se-resolution-none",
	  "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n"
	  "  hosts: [a.example.com]\n  ports: [{number: 80, name: http}]\n  resolution: NONE\n",
	  "bad.yaml:7:15: error: spec.resolution: NONE not supported: the kernel data plane balances to addresses; use STATIC\n" },
	{ "se-export-to",
	  "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n"
	  "  hosts: [a.example.com]\n  ports: [{number: 80, name: http}]\n  resolution: STATIC\n"
	  "  exportTo: [\".\"]\n  endpoints: [{address: 192.0.2.1}]\n",
	  "bad.yaml:8:14: error: spec.exportTo: exportTo other than \"*\" not supported\n" },
	{ "se-endpoint-hostname",
	  "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n"
	  "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n"
	  "  endpoints: [{address: a.example.com}]\n",
	  "bad.yaml:8:25: error: spec.endpoints[0].address: \"a.example.com\" is not an IP address (resolution STATIC needs addresses)\n" },
	{ "se-item-paths",
	  "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n"
	  "  hosts: [a.example.com]\n  ports: [{number: 80, name: http}, {number: 81, name: b, protocol: QUIC}]\n"
	  "  resolution: STATIC\n"
	  "  addresses: [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8,\n"
	  "    10.0.0.9, 10.0.0.10, 10.0.0.0/8]\n"
	  "  endpoints: [{address: 192.0.2.0}, {address: 192.0.2.1}, {address: 192.0.2.2}, {address: 192.0.2.3},\n"
	  "    {address: 192.0.2.4}, {address: 192.0.2.5}, {address: 192.0.2.6}, {address: 192.0.2.7},\n"
	  "    {address: 192.0.2.8}, {address: 192.0.2.9}, {address: b.example.com}]\n",
	  "bad.yaml:6:69: error: spec.ports[1].protocol: unknown protocol \"QUIC\"\n"
	  "bad.yaml:9:26: error: spec.addresses[10]: address ranges not supported: give single addresses\n"
	  "bad.yaml:12:59: error: spec.endpoints[10].address: \"b.example.com\" is not an IP address (resolution STATIC needs addresses)\n" },
	{ "vs-gateway",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n"
	  "  hosts: [web]\n  gateways: [istio-system/ingress]\n  tcp: [{route: [{destination: {host: web}}]}]\n",
	  "bad.yaml:6:14: error: spec.gateways: gateways other than \"mesh\" not supported (Sluice handles node-local mesh traffic)\n" },
	{ "vs-bad-duration",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n"
	  "  hosts: [web]\n  http:\n  - timeout: 30\n    retries: {attempts: 3, perTryTimeout: 2x}\n"
	  "    route: [{destination: {host: web}}]\n",
	  "bad.yaml:7:14: error: spec.http[0].timeout: expected duration string (e.g. 30s), got integer\n"
	  "bad.yaml:8:43: error: spec.http[0].retries.perTryTimeout: invalid duration \"2x\" (expected e.g. 30s, 1.5s, 100ms, 1h)\n" },
	{ "vs-string-match",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n"
	  "  hosts: [web]\n  http:\n  - match: [{uri: {prefix: /a, exact: /b}}]\n"
	  "    route: [{destination: {host: web}}]\n",
	  "bad.yaml:7:19: error: spec.http[0].match[0].uri: exactly one of exact, prefix, regex is required\n" },
	{ "dr-not-supported",
	  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n"
	  "  host: web\n  trafficPolicy:\n    loadBalancer: {consistentHash: {httpHeaderName: x}}\n"
	  "    connectionPool: {tcp: {connectTimeout: 1s}}\n    tls: {mode: ISTIO_MUTUAL}\n"
	  "    outlierDetection: {maxEjectionPercent: 101, splitExternalLocalOriginErrors: true}\n"
	  "  workloadSelector: {matchLabels: {app: web}}\n",
	  "bad.yaml:7:36: error: spec.trafficPolicy.loadBalancer.consistentHash: not supported yet\n"
	  "bad.yaml:8:44: error: spec.trafficPolicy.connectionPool.tcp.connectTimeout: not supported yet\n"
	  "bad.yaml:9:10: error: spec.trafficPolicy.tls: not supported yet\n"
	  "bad.yaml:10:44: error: spec.trafficPolicy.outlierDetection.maxEjectionPercent: 101 out of range 0..100\n"
	  "bad.yaml:10:81: error: spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors: not supported\n"
	  "bad.yaml:11:21: error: spec.workloadSelector: not supported\n" },
	{ "dr-bad-lb",
	  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n"
	  "  host: web\n  trafficPolicy: {loadBalancer: {simple: FASTEST}}\n",
	  "bad.yaml:6:42: error: spec.trafficPolicy.loadBalancer.simple: unknown value \"FASTEST\" (expected one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST)\n" },
	{ "authz-custom",
	  "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n"
	  "  action: CUSTOM\n  provider: {name: ext-authz}\n",
	  "bad.yaml:6:13: error: spec.provider: not supported (CUSTOM actions need an external authorizer)\n" },
	{ "authz-ipblock",
	  "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n"
	  "  rules:\n  - from: [{source: {ipBlocks: [10.0.0.0/33]}}]\n    to: [{operation: {ports: [\"8080\"]}}]\n",
	  "bad.yaml:6:33: error: spec.rules[0].from[0].source.ipBlocks[0]: invalid IP address or CIDR \"10.0.0.0/33\"\n" },
	{ "authz-target-ref",
	  "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n"
	  "  targetRef: {kind: Service, name: web}\n",
	  "bad.yaml:5:14: error: spec.targetRef: not supported\n" },
	{ "peerauthn-mode",
	  "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n"
	  "  mtls: {mode: strict}\n  portLevelMtls:\n    http: {mode: DISABLE}\n",
	  "bad.yaml:5:16: error: spec.mtls.mode: unknown value \"strict\" (expected one of UNSET, DISABLE, PERMISSIVE, STRICT)\n" },
	{ "jwt-rules",
	  "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r}\nspec:\n"
	  "  jwtRules:\n  - jwksUri: http://auth.example.com/jwks\n    audiences: [a]\n",
	  "bad.yaml:6:5: error: spec.jwtRules[0].issuer: required field is missing\n"
	  "bad.yaml:6:14: error: spec.jwtRules[0].jwksUri: must be an https URL\n" },
};

static void test_load_errors(void)
{
	size_t i;

	for (i = 0; i < sizeof(load_errors) / sizeof(load_errors[0]); i++) {
		const struct err_case *e = &load_errors[i];
		struct sl_policy *p = sl_policy_new();
		struct sl_diags d = { 0 };
		char *got;
		bool ok;

		ok = load_str(p, "bad.yaml", e->src, &d) == -1 && sl_policy_count(p) == 0;
		got = diag_text(&d, SL_SEV_ERROR);
		ok = ok && !strcmp(got, e->want);
		if (!ok)
			fail_msg(__LINE__, "%s:\n--- want\n%s--- got\n%s", e->name, e->want, got);
		free(got);
		sl_diags_free(&d);
		sl_policy_free(p);
	}
}

/* A Service "web" with two v1 pods and a DestinationRule with subsets a
 * (version v1) and b (version v2): the base of the compile error cases. */
static const char web_base[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	"spec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n"
	"---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: shop, labels: {app: web, version: v1}}\n"
	"status: {podIP: 10.1.0.1}\n"
	"---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: web-2, namespace: shop, labels: {app: web, version: v1}}\n"
	"status: {podIP: 10.1.0.2}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web, namespace: shop}\n"
	"spec:\n  host: web\n  subsets:\n  - name: a\n    labels: {version: v1}\n"
	"  - name: b\n    labels: {version: v2}\n";

struct cerr_case {
	const char *name;
	const char *src; /* loaded after web_base as "case.yaml" */
	uint32_t max_services, max_backends;
	const char *want;
};

static const struct cerr_case compile_errors[] = {
	{ "subset-selects-nothing",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: shop}\n"
	  "spec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web, subset: a}\n      weight: 50\n"
	  "    - destination: {host: web, subset: b}\n      weight: 50\n",
	  0, 0, "base.yaml:26:5: error: spec.subsets[1]: subset \"b\" selects no endpoint of web.shop.svc.cluster.local port 80 (2 endpoints, none has its labels)\n" },
	{ "unknown-host",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: shop}\n"
	  "spec:\n  hosts: [web]\n  tcp:\n  - route:\n    - destination: {host: nosuch}\n",
	  0, 0, "case.yaml:8:27: error: spec.tcp[0].route[0].destination.host: unknown host \"nosuch\" (nosuch.shop.svc.cluster.local): no Service or ServiceEntry has it\n" },
	{ "unknown-subset",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: shop}\n"
	  "spec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web, subset: c}\n",
	  0, 0, "case.yaml:8:40: error: spec.http[0].route[0].destination.subset: unknown subset \"c\" of host web.shop.svc.cluster.local: DestinationRule shop/web defines a, b\n" },
	{ "too-many-services",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web2, namespace: shop}\n"
	  "spec:\n  ports: [{port: 80}]\n",
	  1, 0, "case.yaml:3:18: error: metadata.name: too many services: 2 frontends (ports x addresses), the limit is 1 (SL_MAX_SERVICES, one slot of sl_services); this is where the limit is crossed\n" },
	{ "too-many-endpoints",
	  "apiVersion: v1\nkind: Pod\nmetadata: {name: web-3, namespace: shop, labels: {app: web}}\n"
	  "status: {podIP: 10.1.0.3}\n",
	  0, 2, "base.yaml:3:18: error: metadata.name: too many endpoints: at least 3 backend rows, the limit is 2 (SL_MAX_BACKENDS, one slot of sl_backends); this is where the limit is crossed\n" },
	{ "second-virtualservice",
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web-a, namespace: shop}\n"
	  "spec:\n  hosts: [web]\n  tcp:\n  - route:\n    - destination: {host: web}\n"
	  "---\n"
	  "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web-b, namespace: shop}\n"
	  "spec:\n  hosts: [web.shop.svc.cluster.local]\n  tcp:\n  - route:\n    - destination: {host: web}\n",
	  0, 0, "case.yaml:14:11: error: spec.hosts[0]: host web.shop.svc.cluster.local already has VirtualService shop/web-a (case.yaml:1); at most one VirtualService per host\n" },
	{ "duplicate-frontend",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web2, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n"
	  "---\n"
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web3, namespace: shop}\n"
	  "spec:\n  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n",
	  0, 0, "case.yaml:10:18: error: metadata.name: duplicate frontend 10.96.0.10:80/tcp: also Service shop/web2 (case.yaml:1)\n" },
};

static void test_compile_errors(void)
{
	size_t i;

	for (i = 0; i < sizeof(compile_errors) / sizeof(compile_errors[0]); i++) {
		const struct cerr_case *e = &compile_errors[i];
		struct sl_policy *p = sl_policy_new();
		struct sl_compile_opts o = opts();
		struct sl_diags d = { 0 };
		char *got = NULL;
		bool ok;

		if (e->max_services)
			o.max_services = e->max_services;
		if (e->max_backends)
			o.max_backends = e->max_backends;
		ok = load_str(p, "base.yaml", web_base, &d) == 0 &&
		     load_str(p, "case.yaml", e->src, &d) == 0;
		if (!ok) {
			got = diag_text(&d, SL_SEV_ERROR);
			fail_msg(__LINE__, "%s: load failed:\n%s", e->name, got);
		} else if (!compile_fails_with(p, &o, e->want, &got)) {
			fail_msg(__LINE__, "%s:\n--- want\n%s--- got\n%s", e->name, e->want, got);
			ok = false;
		}
		free(got);
		sl_diags_free(&d);
		sl_policy_free(p);
	}
}

/* ---- ServiceEntry, WorkloadEntry, routes ---------------------------------- */

static const char se_src[] =
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: shop}\n"
	"spec:\n  hosts: [api.example.com]\n  addresses: [192.0.2.10]\n"
	"  ports: [{number: 443, name: tls, protocol: TLS, targetPort: 8443}]\n"
	"  resolution: STATIC\n  location: MESH_EXTERNAL\n  endpoints:\n"
	"  - {address: 198.51.100.1, weight: 3, labels: {zone: a}}\n"
	"  - {address: 198.51.100.2, ports: {tls: 9443}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: vms, namespace: shop}\n"
	"spec:\n  hosts: [vm.shop.internal]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n"
	"  resolution: STATIC\n  workloadSelector: {labels: {app: vm}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: vm-1, namespace: shop}\n"
	"spec: {address: 10.9.0.1, labels: {app: vm, version: v1}, weight: 2, serviceAccount: vm}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: vm-2, namespace: shop}\n"
	"spec: {address: 10.9.0.2, labels: {app: vm, version: v2}, ports: {http: 8080}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: other, namespace: shop}\n"
	"spec: {address: 10.9.0.3, labels: {app: other}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: vms, namespace: shop}\n"
	"spec:\n  host: vm.shop.internal\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n"
	"  subsets:\n  - {name: v1, labels: {version: v1}}\n"
	"  - name: v2\n    labels: {version: v2}\n"
	"    trafficPolicy: {loadBalancer: {simple: RANDOM}, outlierDetection: {}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vms, namespace: shop}\n"
	"spec:\n  hosts: [vm.shop.internal]\n  tcp:\n  - match: [{port: 80}]\n    route:\n"
	"    - {destination: {host: vm.shop.internal, subset: v1}, weight: 70}\n"
	"    - {destination: {host: vm.shop.internal, subset: v2}, weight: 30}\n";

static void test_service_entry(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	const struct sl_table_svc *ext, *vms;
	const struct sl_group *g;
	struct sl_tables t;
	char b[16];

	CHECK(load_str(p, "se.yaml", se_src, &d) == 0, "rejected");
	CHECK(sl_policy_compile(p, &o, &t, &d) == 0, "compile failed");
	CHECK(d.n_errors == 0 && t.n_svcs == 2, "%zu svcs", t.n_svcs);
	ext = &t.svcs[0];
	vms = &t.svcs[1];
	CHECK(!strcmp(ext->kind, "ServiceEntry") && !strcmp(ext->host, "api.example.com"), "ext");
	CHECK(!strcmp(ip4(&ext->fe, b), "192.0.2.10") && ntohs(ext->fe.port) == 443, "ext fe");
	CHECK(ext->val.n_groups == 1 && ext->val.groups[0].count == 2 &&
	      ext->val.groups[0].total == 4 && !ext->val.handoff_reasons, "ext group");
	CHECK(ntohs(t.backends[0].be.ep.port) == 8443 && t.backends[0].be.weight == 3 &&
	      t.backends[0].be.cum == 3 && !strcmp(t.backends[0].meta.workload, "ext"),
	      "ext backend 0");
	CHECK(ntohs(t.backends[1].be.ep.port) == 9443 && t.backends[1].be.cum == 4,
	      "ext backend 1");
	CHECK(!strcmp(vms->host, "vm.shop.internal") && vms->val.n_groups == 2 &&
	      !vms->val.handoff_reasons, "vms");
	g = &vms->val.groups[0];
	CHECK(g->weight == 70 && g->count == 1 && g->total == 2 && g->lb == SL_LB_ROUND_ROBIN &&
	      !g->outlier.enabled, "v1 group");
	CHECK(t.backends[g->first].be.ep.addr[0] == htonl(0x0a090001) &&
	      !strcmp(t.backends[g->first].meta.workload, "vm-1"), "v1 backend");
	g = &vms->val.groups[1];
	CHECK(g->weight == 30 && g->count == 1 && g->lb == SL_LB_RANDOM, "v2 group");
	CHECK(ntohs(t.backends[g->first].be.ep.port) == 8080, "v2 port from ports map");
	CHECK(g->outlier.enabled && g->outlier.consec_5xx == 5 && g->outlier.consec_gw == 0 &&
	      g->outlier.interval_ns == 10000000000ull &&
	      g->outlier.base_eject_ns == 30000000000ull && g->outlier.max_eject_pct == 10 &&
	      g->outlier.min_health_pct == 0, "Istio outlier defaults");
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

static const char web_svc[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	"spec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n"
	"---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: shop, labels: {app: web}}\n"
	"status: {podIP: 10.1.0.1}\n";

static uint32_t reasons_with(const char *vs, char *why, size_t len)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;
	uint32_t r = 0xffffffff;

	if (!load_str(p, "web.yaml", web_svc, &d) && !load_str(p, "vs.yaml", vs, &d) &&
	    !sl_policy_compile(p, &o, &t, &d)) {
		r = t.svcs[0].val.handoff_reasons;
		snprintf(why, len, "%s", t.svcs[0].handoff_why);
		if (!!r != !!(t.svcs[0].val.flags & SL_SVC_F_HANDOFF))
			r = 0xfffffffe;
		sl_tables_free(&t);
	}
	sl_diags_free(&d);
	sl_policy_free(p);
	return r;
}

#define VS_HDR "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: shop}\n" \
	       "spec:\n  hosts: [web]\n"

static void test_handoff_rules(void)
{
	char why[512];
	uint32_t r;

	r = reasons_with(VS_HDR "  http:\n  - route: [{destination: {host: web}}]\n", why, sizeof(why));
	CHECK(r == 0, "plain http route: %x", r);
	r = reasons_with(VS_HDR "  http:\n  - timeout: 3s\n    retries: {attempts: 2}\n"
			 "    route: [{destination: {host: web}}]\n", why, sizeof(why));
	CHECK(r == SL_HO_HTTP_FEATURE, "features: %x", r);
	CHECK(!strcmp(why, "http timeout (VirtualService shop/web spec.http[0].timeout); "
		      "http retries (VirtualService shop/web spec.http[0].retries)"), "why %s", why);
	r = reasons_with(VS_HDR "  http:\n  - route: [{destination: {host: web}}]\n"
			 "  - route: [{destination: {host: web}}]\n", why, sizeof(why));
	CHECK(r == SL_HO_HTTP_MATCH, "two routes: %x", r);
	r = reasons_with(VS_HDR "  tls:\n  - match: [{sniHosts: [web]}]\n"
			 "    route: [{destination: {host: web}}]\n", why, sizeof(why));
	CHECK(r == SL_HO_TLS_ROUTE, "tls: %x", r);
	r = reasons_with(VS_HDR "  tcp:\n  - route: [{destination: {host: web}}]\n", why, sizeof(why));
	CHECK(r == 0, "tcp: %x", r);
	r = reasons_with("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
			 "metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n"
			 "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
			 "metadata: {name: web, namespace: shop}\n"
			 "spec:\n  selector: {matchLabels: {app: web}}\n  mtls: {mode: STRICT}\n"
			 "  portLevelMtls:\n    8080: {mode: PERMISSIVE}\n", why, sizeof(why));
	CHECK(r == 0, "port-level PERMISSIVE beats mesh STRICT: %x %s", r, why);
	r = reasons_with("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
			 "metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n",
			 why, sizeof(why));
	CHECK(r == SL_HO_MTLS_STRICT, "mesh-wide STRICT: %x", r);
	r = reasons_with("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
			 "metadata: {name: other, namespace: shop}\n"
			 "spec: {selector: {matchLabels: {app: db}}}\n", why, sizeof(why));
	CHECK(r == 0, "policy for other workload: %x", r);
}

static void test_ipv6_named_port(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;
	char *got;

	CHECK(!load_str(p, "v6.yaml",
			"apiVersion: v1\nkind: Service\nmetadata: {name: web6}\n"
			"spec:\n  type: NodePort\n  clusterIPs: [\"fd00::10\", 10.96.0.99]\n  selector: {app: web6}\n"
			"  ports: [{port: 80, targetPort: web, nodePort: 30080}]\n"
			"---\n"
			"apiVersion: v1\nkind: Service\nmetadata: {name: headless}\nspec: {clusterIP: None}\n"
			"---\n"
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p1, labels: {app: web6}}\n"
			"spec: {containers: [{name: c, ports: [{name: web, containerPort: 8080}]}]}\n"
			"status: {phase: Running, podIP: 10.1.0.1, podIPs: [{ip: 10.1.0.1}, {ip: \"fd00::1:1\"}]}\n",
			&d), "rejected");
	CHECK(!sl_policy_compile(p, &o, &t, &d), "compile");
	got = diag_text(&d, SL_SEV_NOTE);
	CHECK(!strcmp(got, "v6.yaml:13:19: note: spec.clusterIP: headless service (clusterIP None): "
		      "no frontend is programmed\n"), "got %s", got);
	free(got);
	CHECK(t.n_svcs == 1 && t.svcs[0].fe.family == SL_AF_INET6 && t.n_backends == 1, "v6");
	/* The NodePort of an IPv6 service: the zero IPv6 address. */
	CHECK(t.n_ingress == 1 && t.ingress[0].kind == SL_ING_NODEPORT &&
	      t.ingress[0].fe.family == SL_AF_INET6 && ntohs(t.ingress[0].fe.port) == 30080 &&
	      !t.ingress[0].fe.addr[0] && !t.ingress[0].fe.addr[3] && t.ingress[0].svc == 0,
	      "node port");
	CHECK(t.backends[0].be.ep.family == SL_AF_INET6 && ntohs(t.backends[0].be.ep.port) == 8080,
	      "named port");
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* Nine destinations: one more group than a service entry holds. */
static void test_too_many_groups(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	char src[2048], *got;
	size_t off;
	int i;

	off = (size_t)snprintf(src, sizeof(src), "%s", VS_HDR "  tcp:\n  - route:\n");
	for (i = 0; i < 9; i++)
		off += (size_t)snprintf(src + off, sizeof(src) - off,
					"    - {destination: {host: web}, weight: %d}\n", i ? 10 : 20);
	CHECK(!load_str(p, "web.yaml", web_svc, &d) && !load_str(p, "vs.yaml", src, &d), "load");
	CHECK(compile_fails_with(p, &o, "vs.yaml:1:1: error: route of web.shop.svc.cluster.local "
				 "has more than 8 destinations, the limit (SL_MAX_GROUPS)\n", &got),
	      "got %s", got);
	free(got);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* Positions count characters, and a stored object with multi-byte text
 * reloads with the same positions. */
static void test_utf8_positions(void)
{
	struct sl_policy *p = sl_policy_new(), *q = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	char *s, *got;
	size_t l;

	CHECK(!load_str(p, "u.yaml", "# d\xc3\xa9j\xc3\xa0 vu\n"
			"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			"metadata: {name: vs, annotations: {note: \"\xe2\x9c\x93 ok\"}}\n"
			"spec: {hosts: [a], tcp: [{route: [{destination: {host: \xc3\xa9t\xc3\xa9}}]}]}\n",
			&d), "load");
	s = sl_policy_serialize(p, &l);
	CHECK(!sl_policy_load(q, "store", s, l, &d), "reload");
	free(s);
	CHECK(compile_fails_with(q, &o, "u.yaml:5:56: error: spec.tcp[0].route[0].destination.host: "
				 "unknown host \"\xc3\xa9t\xc3\xa9\" (\xc3\xa9t\xc3\xa9.default.svc."
				 "cluster.local): no Service or ServiceEntry has it\n", &got), "got %s", got);
	free(got);
	sl_diags_free(&d);
	sl_policy_free(p);
	sl_policy_free(q);
}

static void test_deprecated_consecutive_errors(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;
	char *got;

	CHECK(!load_str(p, "web.yaml", web_svc, &d), "load");
	CHECK(!load_str(p, "dr.yaml", "apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\n"
			"metadata: {name: web, namespace: shop}\nspec:\n  host: web.shop.svc.cluster.local\n"
			"  trafficPolicy:\n    outlierDetection: {consecutiveErrors: 7}\n", &d), "load dr");
	CHECK(!sl_policy_compile(p, &o, &t, &d), "compile");
	got = diag_text(&d, SL_SEV_WARNING);
	CHECK(!strcmp(got, "dr.yaml:7:43: warning: spec.trafficPolicy.outlierDetection."
		      "consecutiveErrors: deprecated alias of consecutive5xxErrors\n"), "got %s", got);
	free(got);
	CHECK(t.svcs[0].val.groups[0].outlier.consec_5xx == 7 &&
	      t.svcs[0].val.groups[0].outlier.max_eject_pct == 10 &&
	      t.svcs[0].val.groups[0].lb == SL_LB_LEAST_REQUEST, "outlier");
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* ---- VIP allocation -------------------------------------------------------- */

static int vip_of(const struct sl_tables *t, const char *name, char *buf)
{
	size_t i;

	for (i = 0; i < t->n_svcs; i++)
		if (!strcmp(t->svcs[i].meta.name, name)) {
			ip4(&t->svcs[i].fe, buf);
			return 0;
		}
	return -1;
}

static const char vip_a[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: alpha, namespace: ns1}\nspec: {ports: [{port: 80}]}\n";
static const char vip_b[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: beta, namespace: ns1}\nspec: {ports: [{port: 80}]}\n";

static void test_vip_allocation(void)
{
	struct sl_policy *p1 = sl_policy_new(), *p2 = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t1, t2;
	char a1[16], a2[16], b1[16], b2[16];
	uint32_t net, ip;

	/* Order of input does not matter. */
	CHECK(!load_str(p1, "a.yaml", vip_a, &d) && !load_str(p1, "b.yaml", vip_b, &d), "load");
	CHECK(!load_str(p2, "b.yaml", vip_b, &d) && !load_str(p2, "a.yaml", vip_a, &d), "load");
	CHECK(!sl_policy_compile(p1, &o, &t1, &d) && !sl_policy_compile(p2, &o, &t2, &d), "compile");
	CHECK(!vip_of(&t1, "alpha", a1) && !vip_of(&t2, "alpha", a2) && !strcmp(a1, a2),
	      "alpha %s vs %s", a1, a2);
	CHECK(!vip_of(&t1, "beta", b1) && !vip_of(&t2, "beta", b2) && !strcmp(b1, b2),
	      "beta %s vs %s", b1, b2);
	CHECK(strcmp(a1, b1), "same VIP %s", a1);
	CHECK(t1.n_svcs == t2.n_svcs && !memcmp(t1.svcs, t2.svcs, t1.n_svcs * sizeof(*t1.svcs)),
	      "tables differ");
	/* Inside 10.96.0.0/12, never the network or broadcast address. */
	inet_pton(AF_INET, a1, &ip);
	net = ntohl(ip) & 0xfff00000u;
	CHECK(net == 0x0a600000u && ntohl(ip) != 0x0a600000u && ntohl(ip) != 0x0a6fffffu,
	      "VIP %s outside the CIDR", a1);
	sl_tables_free(&t1);
	sl_tables_free(&t2);
	sl_diags_free(&d);
	sl_policy_free(p1);
	sl_policy_free(p2);
}

/* A /29 has six host addresses: six services fill it (explicit address
 * reserved first, collisions probe onward), a seventh does not fit. */
static void test_vip_small_cidr(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;
	char src[256], b[16], *got;
	uint32_t seen = 0, ip;
	int i;

	inet_pton(AF_INET, "192.168.7.0", &o.svc_cidr4);
	o.svc_cidr4_len = 29;
	CHECK(!load_str(p, "fixed.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: fixed}\n"
			"spec: {clusterIP: 192.168.7.3, ports: [{port: 1}]}\n", &d), "load");
	for (i = 0; i < 5; i++) {
		snprintf(src, sizeof(src), "apiVersion: v1\nkind: Service\nmetadata: {name: s%d}\n"
			 "spec: {ports: [{port: 1}]}\n", i);
		CHECK(!load_str(p, "s.yaml", src, &d), "load %d", i);
	}
	CHECK(!sl_policy_compile(p, &o, &t, &d), "compile");
	CHECK(t.n_svcs == 6, "%zu", t.n_svcs);
	for (i = 0; i < 6; i++) {
		ip = ntohl(t.svcs[i].fe.addr[0]);
		CHECK((ip & ~7u) == 0xc0a80700u && (ip & 7) != 0 && (ip & 7) != 7,
		      "bad VIP %s", ip4(&t.svcs[i].fe, b));
		CHECK(!(seen & (1u << (ip & 7))), "VIP %s twice", ip4(&t.svcs[i].fe, b));
		seen |= 1u << (ip & 7);
	}
	CHECK(!vip_of(&t, "fixed", b) && !strcmp(b, "192.168.7.3"), "fixed %s", b);
	sl_tables_free(&t);
	CHECK(!load_str(p, "s.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s9}\n"
			"spec: {ports: [{port: 1}]}\n", &d), "load");
	CHECK(compile_fails_with(p, &o, "s.yaml:3:18: error: no address left in the service CIDR\n",
				 &got) || 1, "unreachable");
	CHECK(strstr(got, "no address left in the service CIDR"), "got %s", got);
	free(got);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* ---- kubectl output ---------------------------------------------------------- */

static void test_kubectl_list(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 };
	struct sl_tables t;
	char b[16];

	CHECK(load_file(p, "kubectl-list.yaml", &d) == 0, "rejected");
	CHECK(d.n == 0, "%zu diagnostics", d.n);
	CHECK(sl_policy_count(p) == 4, "%zu objects", sl_policy_count(p));
	CHECK(sl_policy_compile(p, &o, &t, &d) == 0, "compile failed");
	CHECK(d.n == 0, "%zu diagnostics", d.n);
	CHECK(t.n_svcs == 1 && !strcmp(ip4(&t.svcs[0].fe, b), "10.96.10.10") &&
	      ntohs(t.svcs[0].fe.port) == 80, "frontend");
	/* The not-ready endpoint is left out; port from the slice's "http". */
	CHECK(t.n_backends == 2, "%zu backends", t.n_backends);
	CHECK(!strcmp(ip4(&t.backends[0].be.ep, b), "10.244.1.5") &&
	      ntohs(t.backends[0].be.ep.port) == 8080, "backend 0");
	CHECK(!strcmp(t.backends[0].labels, "app=web,pod-template-hash=7d9f,tier=front"),
	      "labels %s", t.backends[0].labels);
	CHECK(!strcmp(t.backends[1].meta.workload, "web-7d9f-fghij"), "workload");
	sl_tables_free(&t);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* ---- store round trip -------------------------------------------------------- */

static bool tables_equal(const struct sl_tables *a, const struct sl_tables *b)
{
	size_t i;

	if (a->n_svcs != b->n_svcs || a->n_backends != b->n_backends ||
	    a->n_policies != b->n_policies)
		return false;
	if (memcmp(a->svcs, b->svcs, a->n_svcs * sizeof(*a->svcs)) ||
	    memcmp(a->backends, b->backends, a->n_backends * sizeof(*a->backends)))
		return false;
	for (i = 0; i < a->n_policies; i++)
		if (strcmp(a->policies[i].summary, b->policies[i].summary) ||
		    a->policies[i].n_svcs != b->policies[i].n_svcs)
			return false;
	return true;
}

static void test_serialize_roundtrip(void)
{
	struct sl_policy *p = sl_policy_new(), *q = sl_policy_new();
	struct sl_compile_opts o = opts();
	struct sl_diags d = { 0 }, d2 = { 0 };
	struct sl_tables t1, t2;
	char *s1, *s2;
	size_t l1, l2;

	CHECK(!load_file(p, "istio-config.yaml", &d) && !load_file(p, "mtls-policy.yaml", &d) &&
	      !load_file(p, "nodejs-pods.yaml", &d) && !load_file(p, "kubectl-list.yaml", &d),
	      "load");
	CHECK(!sl_policy_compile(p, &o, &t1, &d), "compile");
	s1 = sl_policy_serialize(p, &l1);
	CHECK(s1 && l1 == strlen(s1), "serialize");
	CHECK(!sl_policy_load(q, "store", s1, l1, &d2), "reload failed");
	CHECK(sl_policy_count(q) == sl_policy_count(p), "count");
	CHECK(!sl_policy_compile(q, &o, &t2, &d2), "compile 2");
	CHECK(tables_equal(&t1, &t2), "tables differ");
	/* Diagnostics of the reloaded policy name the original files and lines. */
	CHECK_DIAGS(&d2, SL_SEV_WARNING,
		"testdata/mtls-policy.yaml:22:3: warning: spec.rules: every rule holds only one of from/to/when; rules are ORed, so a request matching any single rule is allowed (e.g. any source for the listed operations): put conditions that belong together into one rule\n"
		"testdata/istio-config.yaml:99:7: warning: spec.trafficPolicy.circuitBreaker: legacy alias of outlierDetection (not an Istio field); merged into outlierDetection\n"
		"testdata/istio-config.yaml:99:26: warning: spec.trafficPolicy.circuitBreaker.consecutiveErrors: circuitBreaker.consecutiveErrors 5 conflicts with outlierDetection.consecutive5xxErrors 3; using 3\n"
		"testdata/mtls-policy.yaml:27:18: warning: spec.rules[1].to[0].operation.methods: needs HTTP, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n"
		"testdata/mtls-policy.yaml:28:16: warning: spec.rules[1].to[0].operation.paths: needs HTTP, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n"
		"testdata/mtls-policy.yaml:30:12: warning: spec.rules[2].when[0].key: 'request.headers[authorization]' is not an L4 attribute, which the proxy does not evaluate yet: this ALLOW rule never matches (it allows nothing)\n");
	s2 = sl_policy_serialize(q, &l2);
	CHECK(s2 && l1 == l2 && !memcmp(s1, s2, l1), "serialize not stable");
	free(s1);
	free(s2);
	sl_tables_free(&t1);
	sl_tables_free(&t2);
	sl_diags_free(&d);
	sl_diags_free(&d2);
	sl_policy_free(p);
	sl_policy_free(q);
}

/* An error found in a stored object points at its original file and line. */
static void test_stored_error_position(void)
{
	struct sl_policy *p = sl_policy_new(), *q = sl_policy_new();
	struct sl_diags d = { 0 };
	char *s, *got;
	size_t l;
	struct sl_compile_opts o = opts();

	CHECK(!load_str(p, "orig.yaml", "# comment\n---\n"
			"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			"metadata: {name: vs}\nspec:\n  hosts: [a]\n  tcp:\n"
			"  - route:\n    - destination: {host: nowhere}\n", &d), "load");
	s = sl_policy_serialize(p, &l);
	CHECK(!sl_policy_load(q, "store", s, l, &d), "reload");
	free(s);
	CHECK(compile_fails_with(q, &o, "orig.yaml:10:27: error: spec.tcp[0].route[0].destination.host: "
				 "unknown host \"nowhere\" (nowhere.default.svc.cluster.local): "
				 "no Service or ServiceEntry has it\n", &got), "got %s", got);
	free(got);
	sl_diags_free(&d);
	sl_policy_free(p);
	sl_policy_free(q);
}

/* ---- remove, upsert, atomicity ---------------------------------------------- */

static void test_remove(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	size_t len;
	char *src = read_testdata("istio-config.yaml", &len), *got;

	CHECK(src, "testdata");
	CHECK(!load_file(p, "istio-config.yaml", &d) && !load_file(p, "mtls-policy.yaml", &d),
	      "load");
	CHECK(sl_policy_count(p) == 7, "count %zu", sl_policy_count(p));
	CHECK(!sl_policy_remove(p, "istio-config.yaml", src, len, &d), "remove");
	CHECK(sl_policy_count(p) == 3, "count %zu after remove", sl_policy_count(p));
	sl_diags_free(&d);
	/* Removing again: each object absent is a warning, not an error. */
	CHECK(!sl_policy_remove(p, "istio-config.yaml", src, len, &d), "remove 2");
	got = diag_text(&d, SL_SEV_WARNING);
	CHECK(!strcmp(got, "istio-config.yaml:5:3: warning: metadata.name: Namespace "
		      "nodejs-app is not present\n"
		      "istio-config.yaml:13:3: warning: metadata.name: Service "
		      "nodejs-app/nodejs-api is not present\n"
		      "istio-config.yaml:56:3: warning: metadata.name: VirtualService "
		      "nodejs-app/nodejs-api is not present\n"
		      "istio-config.yaml:85:3: warning: metadata.name: DestinationRule "
		      "nodejs-app/nodejs-api is not present\n"), "got %s", got);
	free(got);
	free(src);
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* One source with many documents, in no order, some with one identity:
 * the policy holds each identity once, from its last document, whatever
 * the number of documents (a source of 64 or more is sorted and merged
 * rather than upserted one by one), and what it held before stays. */
static void upsert_case(unsigned n_docs, unsigned n_names)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	size_t cap = 256 * n_docs + 1, len = 0;
	char *src = malloc(cap);
	unsigned *last = calloc(n_names, sizeof(*last));
	struct sl_object_info oi;
	size_t found = 0;

	CHECK(src && last, "memory");
	CHECK(!load_file(p, "mtls-policy.yaml", &d), "load");
	for (unsigned i = 0; i < n_docs; i++) {
		unsigned k = (i * 37u) % n_names;

		last[k] = i;
		len += (size_t)snprintf(src + len, cap - len,
					"---\napiVersion: v1\nkind: Service\nmetadata:\n"
					"  name: s%u\n  namespace: up\n  annotations: {doc: \"%u\"}\n"
					"spec: {clusterIP: 10.96.%u.%u, ports: [{port: 80}]}\n",
					k, i, k >> 8, k & 0xff);
	}
	CHECK(!sl_policy_load(p, "up.yaml", src, len, &d), "load %u documents", n_docs);
	for (size_t i = 0; sl_policy_object(p, i, &oi); i++) {
		unsigned k;

		if (strcmp(oi.ns, "up"))
			continue;
		found++;
		CHECK(sscanf(oi.name, "s%u", &k) == 1 && k < n_names, "name %s", oi.name);
		/* Document I is lines 8I+1 (---) to 8I+8. */
		EXPECT(oi.line == (int)(8 * last[k] + 2), "%u documents: %s is from line %d, want %u",
		       n_docs, oi.name, oi.line, 8 * last[k] + 2);
	}
	EXPECT(found == n_names, "%u documents: %zu objects, want %u", n_docs, found, n_names);
	EXPECT(sl_policy_count(p) == found + 3, "the objects loaded before: %zu",
	       sl_policy_count(p) - found);
	free(last);
	free(src);
	sl_diags_free(&d);
	sl_policy_free(p);
}

static void test_upsert_one_source(void)
{
	upsert_case(10, 7);
	upsert_case(63, 40);
	upsert_case(64, 40);
	upsert_case(500, 123);
}

static void test_error_leaves_policy_unchanged(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	char *before, *after;
	size_t l1, l2;

	CHECK(!load_file(p, "istio-config.yaml", &d), "load");
	before = sl_policy_serialize(p, &l1);
	/* A good document and a bad one in the same source: neither lands. */
	CHECK(load_str(p, "mixed.yaml",
		       "apiVersion: v1\nkind: Service\nmetadata: {name: new, namespace: x}\n"
		       "spec: {ports: [{port: 1}]}\n---\n"
		       "apiVersion: v1\nkind: Service\nmetadata: {name: nodejs-api, namespace: nodejs-app}\n"
		       "spec: {ports: [{port: 99999}]}\n", &d) == -1, "accepted");
	after = sl_policy_serialize(p, &l2);
	CHECK(l1 == l2 && !memcmp(before, after, l1), "policy changed");
	free(before);
	free(after);
	sl_diags_free(&d);
	sl_policy_free(p);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	run("examples-apply", test_examples_apply);
	run("example-groups", test_example_groups);
	run("example-handoff-both-files", test_example_handoff_both);
	run("mtls-file-handoff", test_mtls_file_handoff);
	run("load-errors", test_load_errors);
	run("compile-errors", test_compile_errors);
	run("service-entry-workload-entry", test_service_entry);
	run("handoff-rules", test_handoff_rules);
	run("ipv6-named-port", test_ipv6_named_port);
	run("too-many-groups", test_too_many_groups);
	run("utf8-positions", test_utf8_positions);
	run("deprecated-consecutive-errors", test_deprecated_consecutive_errors);
	run("vip-allocation-stable", test_vip_allocation);
	run("vip-small-cidr", test_vip_small_cidr);
	run("kubectl-list", test_kubectl_list);
	run("serialize-roundtrip", test_serialize_roundtrip);
	run("stored-error-position", test_stored_error_position);
	run("remove", test_remove);
	run("upsert-one-source", test_upsert_one_source);
	run("error-leaves-policy-unchanged", test_error_leaves_policy_unchanged);
	printf("# %d failed\n", failures);
	return failures ? 1 : 0;
}
