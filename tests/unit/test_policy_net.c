// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the policy compiler's node-facing output: Service
 * node-ingress frontends (sl_tables.ingress), Namespace objects and
 * NetworkPolicy (sl_tables.np_*). One line per test: "ok NAME" or
 * "FAIL NAME: reason"; exit 1 if any failed.
 *
 * NetworkPolicy is checked on the compiled tables with a small evaluator
 * that does what the TC program does: the pod's set for the direction,
 * longest-prefix match of the peer in that set, then the port set. So the
 * tests state Kubernetes semantics (who may talk to whom), not encodings.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "unit.h"



/* One test's state, released in one place whatever the outcome. */
struct fx {
	struct sl_policy *p;
	struct sl_diags d;
	struct sl_tables t;
	char *text;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->p = sl_policy_new();
}

static void fx_free(struct fx *f)
{
	sl_tables_free(&f->t);
	sl_diags_free(&f->d);
	sl_policy_free(f->p);
	free(f->text);
	memset(f, 0, sizeof(*f));
}

/* Load SRC as "t.yaml" and compile; 0 on success. Diagnostics of at least
 * MIN end up in f->text. */
static int apply(struct fx *f, const char *src, enum sl_severity min)
{
	struct sl_compile_opts o;
	int r;

	sl_compile_opts_default(&o);
	r = sl_policy_load(f->p, "t.yaml", src, strlen(src), &f->d);
	if (!r)
		r = sl_policy_compile(f->p, &o, &f->t, &f->d);
	free(f->text);
	f->text = diag_text(&f->d, min);
	return r;
}

/* Exactly the error lines WANT, and the apply rejected. */
#define EXPECT_ERRORS(src, want)                                                 \
	do {                                                                     \
		struct fx e_;                                                    \
		fx_init(&e_);                                                    \
		bool ok_ = apply(&e_, src, SL_SEV_ERROR) == -1 &&                \
			   !strcmp(e_.text, want);                               \
		if (!ok_)                                                        \
			fail_msg(__LINE__, "--- want\n%s--- got\n%s", want, e_.text); \
		fx_free(&e_);                                                    \
		if (!ok_)                                                        \
			goto out;                                                \
	} while (0)

/* ---- a NetworkPolicy evaluator over the compiled tables ------------------- */

static int parse(const char *s, __be32 addr[4])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1)
		return SL_AF_INET;
	if (inet_pton(AF_INET6, s, addr) == 1)
		return SL_AF_INET6;
	return 0;
}

static bool in_prefix(const __be32 *a, const __be32 *p, unsigned plen)
{
	const unsigned char *x = (const void *)a, *y = (const void *)p;
	unsigned i;

	for (i = 0; i < plen; i++)
		if (((x[i / 8] ^ y[i / 8]) >> (7 - i % 8)) & 1)
			return false;
	return true;
}

static const struct sl_np_ports *portset(const struct sl_tables *t, uint32_t id)
{
	size_t i;

	for (i = 0; i < t->n_np_portsets; i++)
		if (t->np_portsets[i].id == id)
			return &t->np_portsets[i].ports;
	return NULL;
}

enum { IN = 0, EG = 1 };

/* May POD receive from (IN) or send to (EG) PEER on PROTO/PORT? */
static bool allowed(const struct sl_tables *t, const char *pod, int dir, const char *peer,
		    uint8_t proto, uint16_t port)
{
	__be32 pa[4], qa[4];
	int pf = parse(pod, pa), qf = parse(peer, qa);
	const struct sl_table_np_prefix *best = NULL;
	const struct sl_np_ports *ps;
	uint32_t set = 0;
	size_t i;

	for (i = 0; i < t->n_np_pods; i++)
		if (t->np_pods[i].key.family == pf && !memcmp(t->np_pods[i].key.addr, pa, 16))
			set = dir == IN ? t->np_pods[i].val.ingress_set :
					  t->np_pods[i].val.egress_set;
	if (!set)
		return true; /* not isolated in this direction */
	for (i = 0; i < t->n_np_prefixes; i++) {
		const struct sl_table_np_prefix *e = &t->np_prefixes[i];

		if (e->key.set != set || e->key.family != qf ||
		    !in_prefix(qa, e->key.addr, e->key.prefixlen - 64))
			continue;
		if (!best || e->key.prefixlen > best->key.prefixlen)
			best = e;
	}
	if (!best || !best->val.portset || !(ps = portset(t, best->val.portset)))
		return false;
	for (i = 0; i < ps->n; i++)
		if (!ps->r[i].proto || (ps->r[i].proto == proto && port >= ps->r[i].lo &&
					port <= ps->r[i].hi))
			return true;
	return false;
}

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SCTP IPPROTO_SCTP

static bool isolated(const struct sl_tables *t, const char *pod, int dir)
{
	__be32 a[4];
	int f = parse(pod, a);
	size_t i;

	for (i = 0; i < t->n_np_pods; i++)
		if (t->np_pods[i].key.family == f && !memcmp(t->np_pods[i].key.addr, a, 16))
			return dir == IN ? t->np_pods[i].val.ingress_set :
					   t->np_pods[i].val.egress_set;
	return false;
}

/* ---- node ingress ---------------------------------------------------------- */

static const char *fe_str(const struct sl_table_ingress *e, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(e->fe.family == SL_AF_INET6 ? AF_INET6 : AF_INET, e->fe.addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u/%s k%u", ip, ntohs(e->fe.port),
		 e->fe.proto == IPPROTO_UDP ? "udp" : "tcp", e->kind);
	return buf;
}

#define SVC_HDR "apiVersion: v1\nkind: Service\n"

static void test_external_ips(void)
{
	struct fx f;
	char b[96];
	size_t i;

	fx_init(&f);
	CHECK_OUT(!apply(&f, SVC_HDR "metadata: {name: dns, namespace: infra}\n"
		     "spec:\n  clusterIP: 10.96.0.10\n"
		     "  externalIPs: [203.0.113.10, 203.0.113.11]\n"
		     "  ports: [{name: dns, port: 53, protocol: UDP}, {name: tcp, port: 53}]\n",
		     SL_SEV_NOTE), "rejected: %s", f.text);
	CHECK_OUT(f.t.n_svcs == 2 && f.t.n_ingress == 4, "%zu svcs %zu ingress", f.t.n_svcs,
	      f.t.n_ingress);
	/* In the order of spec.ports, each IP per port. */
	CHECK_OUT(!strcmp(fe_str(&f.t.ingress[0], b, sizeof(b)), "203.0.113.10:53/udp k1"), "0: %s", b);
	CHECK_OUT(!strcmp(fe_str(&f.t.ingress[1], b, sizeof(b)), "203.0.113.11:53/udp k1"), "1: %s", b);
	CHECK_OUT(!strcmp(fe_str(&f.t.ingress[2], b, sizeof(b)), "203.0.113.10:53/tcp k1"), "2: %s", b);
	CHECK_OUT(!strcmp(fe_str(&f.t.ingress[3], b, sizeof(b)), "203.0.113.11:53/tcp k1"), "3: %s", b);
	for (i = 0; i < 4; i++) {
		const struct sl_table_svc *s = &f.t.svcs[f.t.ingress[i].svc];

		CHECK_OUT(s->fe.port == f.t.ingress[i].fe.port && s->fe.proto == f.t.ingress[i].fe.proto &&
		      s->fe.addr[0] == htonl(0x0a60000a), "entry %zu points at the wrong frontend", i);
	}
	CHECK_OUT(!strcmp(f.text, "t.yaml:3:18: warning: metadata.name: dns.infra.svc.cluster.local has "
		      "no endpoints yet: connections to it are refused (ECONNREFUSED) until "
		      "endpoints arrive\n"), "diagnostics: %s", f.text);
out:
	fx_free(&f);
}

static void test_load_balancer(void)
{
	struct fx f;
	char b[96];

	fx_init(&f);
	CHECK_OUT(!apply(&f, SVC_HDR "metadata: {name: web}\n"
		     "spec:\n  type: LoadBalancer\n  clusterIP: 10.96.1.1\n"
		     "  ports: [{port: 80, nodePort: 30080}]\n"
		     "status:\n  loadBalancer:\n    ingress:\n"
		     "    - {ip: 198.51.100.7, ipMode: VIP, ports: [{port: 80, protocol: TCP}]}\n"
		     "    - {hostname: lb.example.com}\n"
		     "    - {ip: 198.51.100.8, ipMode: Proxy}\n"
		     "    - {ip: \"2001:db8::8\"}\n",
		     SL_SEV_NOTE), "rejected: %s", f.text);
	CHECK_OUT(!strcmp(f.text,
		      "t.yaml:12:7: note: status.loadBalancer.ingress[1]: not programmed: no ip (a hostname-only entry gives no address to match)\n"
		      "t.yaml:13:34: note: status.loadBalancer.ingress[2].ipMode: the load balancer proxies to the nodes' addresses: its traffic arrives on the NodePorts\n"
		      "t.yaml:14:12: warning: status.loadBalancer.ingress[3].ip: not programmed: 2001:db8::8 is an IPv6 address; the service's cluster frontend is IPv4\n"
		      "t.yaml:3:18: warning: metadata.name: web.default.svc.cluster.local has no endpoints yet: connections to it are refused (ECONNREFUSED) until endpoints arrive\n"),
	      "diagnostics:\n%s", f.text);
	CHECK_OUT(f.t.n_ingress == 3, "%zu entries", f.t.n_ingress);
	CHECK_OUT(!strcmp(fe_str(&f.t.ingress[0], b, sizeof(b)), "198.51.100.7:80/tcp k2"), "0: %s", b);
	CHECK_OUT(!strcmp(fe_str(&f.t.ingress[1], b, sizeof(b)), "198.51.100.8:80/tcp k2"), "1: %s", b);
	CHECK_OUT(!strcmp(fe_str(&f.t.ingress[2], b, sizeof(b)), "0.0.0.0:30080/tcp k3"), "2: %s", b);
	CHECK_OUT(f.t.ingress[2].fe.family == SL_AF_INET && f.t.ingress[2].svc == 0, "node port");
	fx_free(&f);

	/* No node ports asked for: only the load-balancer address. */
	fx_init(&f);
	CHECK_OUT(!apply(&f, SVC_HDR "metadata: {name: web}\n"
		     "spec:\n  type: LoadBalancer\n  allocateLoadBalancerNodePorts: false\n"
		     "  ports: [{port: 443}]\n"
		     "status: {loadBalancer: {ingress: [{ip: 198.51.100.9}]}}\n", SL_SEV_NOTE),
	      "rejected: %s", f.text);
	CHECK_OUT(f.t.n_ingress == 1 && f.t.ingress[0].kind == SL_ING_LB, "%zu entries",
	      f.t.n_ingress);
out:
	fx_free(&f);
}

static void test_ingress_errors(void)
{
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  type: NodePort\n"
		      "  ports: [{port: 80}, {name: b, port: 81, nodePort: 0}]\n",
		      "t.yaml:6:11: error: spec.ports[0].name: required when a Service has more than one port\n"
		      "t.yaml:6:11: error: spec.ports[0].nodePort: nodePort is required: Sluice does not allocate node ports\n"
		      "t.yaml:6:53: error: spec.ports[1].nodePort: nodePort is required: Sluice does not allocate node ports\n");
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  type: LoadBalancer\n"
		      "  ports: [{port: 80}]\n",
		      "t.yaml:6:11: error: spec.ports[0].nodePort: nodePort is required: Sluice does not allocate node ports\n");
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  ports: [{port: 80, nodePort: 30000}]\n",
		      "t.yaml:5:32: error: spec.ports[0].nodePort: nodePort needs type NodePort or LoadBalancer\n");
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  clusterIP: \"fd00::1\"\n"
		      "  externalIPs: [1.2.3.4, 1.2.3, \"2001:db8::1\"]\n  ports: [{port: 80}]\n",
		      "t.yaml:6:17: error: spec.externalIPs[0]: 1.2.3.4 is an IPv4 address; the service's cluster frontend is IPv6\n"
		      "t.yaml:6:26: error: spec.externalIPs[1]: invalid IP address \"1.2.3\"\n");
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  clusterIP: None\n"
		      "  externalIPs: [1.2.3.4]\n  ports: [{port: 80}]\n",
		      "t.yaml:6:16: error: spec.externalIPs: a headless service (clusterIP None) has no endpoints to balance external traffic over\n");
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  clusterIP: None\n  type: NodePort\n"
		      "  ports: [{port: 80, nodePort: 30001}]\n",
		      "t.yaml:6:9: error: spec.type: type NodePort needs a cluster IP (a headless service has no frontend)\n");
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  externalTrafficPolicy: Local\n"
		      "  loadBalancerSourceRanges: [10.0.0.0/8]\n  ports: [{port: 80}]\n",
		      "t.yaml:6:29: error: spec.loadBalancerSourceRanges: not supported\n"
		      "t.yaml:5:26: error: spec.externalTrafficPolicy: Local not supported\n");
	/* Two Services, one frontend: both named, at the second claim. */
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  externalIPs: [192.0.2.1]\n"
		      "  ports: [{port: 80}]\n---\n"
		      SVC_HDR "metadata: {name: b, namespace: other}\nspec:\n  type: NodePort\n"
		      "  externalIPs: [192.0.2.1]\n  ports: [{port: 80, nodePort: 30080}]\n---\n"
		      SVC_HDR "metadata: {name: c}\nspec:\n  type: NodePort\n"
		      "  ports: [{port: 8080, nodePort: 30080}]\n",
		      "t.yaml:14:32: error: spec.ports[0].nodePort: node port 30080/TCP is claimed by Service other/b and by Service default/c (spec.ports[0].nodePort t.yaml:21)\n"
		      "t.yaml:13:17: error: spec.externalIPs[0]: 192.0.2.1:80/TCP is claimed by Service other/b and by Service default/a (spec.externalIPs[0] t.yaml:5)\n");
	EXPECT_ERRORS(SVC_HDR "metadata: {name: a}\nspec:\n  externalIPs: [192.0.2.1, 192.0.2.1]\n"
		      "  ports: [{port: 80}]\n",
		      "t.yaml:5:28: error: spec.externalIPs[1]: 192.0.2.1:80/TCP is listed twice (also spec.externalIPs[0])\n");
out:
	return;
}

/* A frontend that needs the proxy keeps its ingress entries (the publisher
 * programs them to refuse) and the user is told where they asked. */
static void test_ingress_handoff(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
		     "metadata: {name: strict, namespace: shop}\nspec: {mtls: {mode: STRICT}}\n---\n"
		     SVC_HDR "metadata: {name: cart, namespace: shop}\n"
		     "spec:\n  type: NodePort\n  externalIPs: [192.0.2.5]\n"
		     "  ports: [{port: 80, nodePort: 30090}]\n", SL_SEV_WARNING),
	      "rejected: %s", f.text);
	CHECK_OUT(!strcmp(f.text,
		      "t.yaml:8:18: warning: metadata.name: cart.shop.svc.cluster.local has no endpoints yet: connections to it are refused (ECONNREFUSED) until endpoints arrive\n"
		      "t.yaml:11:16: warning: spec.externalIPs: node ingress to shop/cart is refused: its policy needs the proxy (mTLS STRICT (PeerAuthentication shop/strict))\n"
		      "t.yaml:12:32: warning: spec.ports[0].nodePort: node ingress to shop/cart is refused: its policy needs the proxy (mTLS STRICT (PeerAuthentication shop/strict))\n"),
	      "diagnostics:\n%s", f.text);
	CHECK_OUT(f.t.n_ingress == 2 && (f.t.svcs[f.t.ingress[0].svc].val.flags & SL_SVC_F_HANDOFF),
	      "entries %zu", f.t.n_ingress);
out:
	fx_free(&f);
}

/* SL_MAX_INGRESS + 16 entries: 200 ports x 82 external IPs. */
static void test_ingress_capacity(void)
{
	char *src = NULL;
	size_t len = 0, i;
	FILE *m = open_memstream(&src, &len);
	struct fx f;

	fx_init(&f);
	fprintf(m, SVC_HDR "metadata: {name: big}\nspec:\n  externalIPs:\n");
	for (i = 0; i < 82; i++)
		fprintf(m, "  - 10.200.0.%zu\n", i + 1);
	fprintf(m, "  ports:\n");
	for (i = 0; i < 200; i++)
		fprintf(m, "  - {name: p%zu, port: %zu}\n", i, i + 1);
	fclose(m);
	CHECK_OUT(apply(&f, src, SL_SEV_ERROR) == -1, "accepted");
	CHECK_OUT(!strcmp(f.text, "t.yaml:72:5: error: spec.externalIPs[66]: too many node-ingress "
		      "frontends: 16400, the limit is 16384 (SL_MAX_INGRESS; this is where the "
		      "limit is crossed)\n"), "got %s", f.text);
out:
	free(src);
	fx_free(&f);
}

/* ---- Namespace ------------------------------------------------------------- */

static void test_namespace_object(void)
{
	struct fx f;

	fx_init(&f);
	EXPECT_ERRORS("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
		      "  labels: {kubernetes.io/metadata.name: b}\n",
		      "t.yaml:5:41: error: metadata.labels.kubernetes.io/metadata.name: must equal metadata.name \"a\" (Kubernetes sets it so)\n");
	EXPECT_ERRORS("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, uid: 3}\n",
		      "t.yaml:3:26: error: metadata.uid: expected string, got integer\n");
	CHECK_OUT(!apply(&f, "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: x}\n"
		     "spec: {finalizers: [kubernetes]}\nstatus: {phase: Active}\n", SL_SEV_NOTE),
	      "rejected: %s", f.text);
	CHECK_OUT(!strcmp(f.text, "t.yaml:3:32: note: metadata.namespace: ignored: Namespace is "
		      "cluster-scoped\n"), "got %s", f.text);
	CHECK_OUT(sl_policy_count(f.p) == 1, "count");
out:
	fx_free(&f);
}

/* ---- NetworkPolicy semantics ------------------------------------------------ */

#define NP_HDR "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
#define POD(ns, name, labels, ip) \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: " name ", namespace: " ns \
	", labels: " labels "}\nstatus: {phase: Running, podIP: " ip "}\n"

/* prod: web 10.0.0.1, db 10.0.0.2, batch 10.0.0.3. */
#define PROD_PODS                                                  \
	POD("prod", "web", "{app: web}", "10.0.0.1")               \
	POD("prod", "db", "{app: db}", "10.0.0.2")                 \
	POD("prod", "batch", "{app: batch}", "10.0.0.3")

static void test_isolation_by_direction(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: db-in, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n"
		     "  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]\n"
		     PROD_PODS, SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 5432), "web -> db:5432");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 80), "web -> db:80");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", UDP, 5432), "web -> db:5432/udp");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.3", TCP, 5432), "batch -> db");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "192.0.2.1", TCP, 5432), "outside -> db");
	/* Only ingress is isolated; other pods are not isolated at all. */
	CHECK_OUT(!isolated(&f.t, "10.0.0.2", EG) && allowed(&f.t, "10.0.0.2", EG, "8.8.8.8", UDP, 53),
	      "db egress");
	CHECK_OUT(!isolated(&f.t, "10.0.0.1", IN) && !isolated(&f.t, "10.0.0.1", EG), "web open");
	CHECK_OUT(f.t.n_np_pods == 1 && !strcmp(f.t.np_pods[0].name, "db") &&
	      !strcmp(f.t.np_pods[0].ns, "prod") && f.t.np_pods[0].key.slot == 0, "np_pods");
	CHECK_OUT(f.t.n_policies == 1 && !strcmp(f.t.policies[0].kind, "NetworkPolicy") &&
	      !strcmp(f.t.policies[0].summary, "Ingress, 1 ingress rule, selects 1 pod") &&
	      f.t.policies[0].n_svcs == 0, "policy row: %s", f.t.policies[0].summary);
out:
	fx_free(&f);
}

static const struct sl_table_np_pod *np_pod_row(const struct sl_tables *t, const char *name)
{
	for (size_t i = 0; i < t->n_np_pods; i++)
		if (!strcmp(t->np_pods[i].name, name))
			return &t->np_pods[i];
	return NULL;
}

/* Each NetworkPolicy table in the byte order of its map keys (the
 * publisher merges old and new without sorting them then). */
static bool np_sorted(const struct sl_tables *t)
{
	for (size_t i = 1; i < t->n_np_pods; i++)
		if (memcmp(&t->np_pods[i - 1].key, &t->np_pods[i].key, sizeof(t->np_pods[i].key)) >= 0)
			return false;
	for (size_t i = 1; i < t->n_np_prefixes; i++)
		if (memcmp(&t->np_prefixes[i - 1].key, &t->np_prefixes[i].key,
			   sizeof(t->np_prefixes[i].key)) >= 0)
			return false;
	for (size_t i = 1; i < t->n_np_portsets; i++)
		if (memcmp(&t->np_portsets[i - 1].id, &t->np_portsets[i].id, sizeof(uint32_t)) >= 0)
			return false;
	return true;
}

static void test_union_of_policies(void)
{
	const struct sl_table_np_pod *batch, *db, *web;
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: a, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n"
		     "  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]\n"
		     "---\n" NP_HDR "metadata: {name: b, namespace: prod}\nspec:\n"
		     "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"
		     "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/24}}], ports: [{protocol: UDP, port: 53}]}]\n"
		     "  egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}]\n"
		     PROD_PODS, SL_SEV_WARNING), "rejected: %s", f.text);
	/* db: a (web on 5432/tcp) + b (10.0.0.0/24 on 53/udp). */
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 5432), "a");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", UDP, 53), "b via web");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.0.0.3", UDP, 53), "b via cidr");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.3", TCP, 5432), "batch 5432");
	/* web: only b, both directions. */
	CHECK_OUT(!allowed(&f.t, "10.0.0.1", IN, "10.0.0.2", TCP, 5432), "web in");
	CHECK_OUT(allowed(&f.t, "10.0.0.1", IN, "10.0.0.9", UDP, 53), "web in dns");
	CHECK_OUT(allowed(&f.t, "10.0.0.1", EG, "10.0.0.2", TCP, 1), "web -> db any");
	CHECK_OUT(!allowed(&f.t, "10.0.0.1", EG, "10.0.0.3", TCP, 1), "web -> batch");
	/* web and batch have the same policies: one set per direction. */
	CHECK_OUT(f.t.n_np_pods == 3, "%zu pods", f.t.n_np_pods);
	/* Rows in key (address) order: batch, db and web found by name. */
	batch = np_pod_row(&f.t, "batch");
	db = np_pod_row(&f.t, "db");
	web = np_pod_row(&f.t, "web");
	CHECK_OUT(batch && db && web && batch->val.ingress_set == web->val.ingress_set &&
	      batch->val.egress_set == web->val.egress_set &&
	      db->val.ingress_set != batch->val.ingress_set, "sets not shared");
	CHECK_OUT(f.t.n_np_prefixes > 2 && f.t.n_np_portsets > 1 && np_sorted(&f.t),
		  "tables not in key order");
	CHECK_OUT(!strcmp(f.t.policies[1].summary, "Ingress+Egress, 1 ingress rule, 1 egress rule, "
		      "selects 3 pods"), "summary %s", f.t.policies[1].summary);
out:
	fx_free(&f);
}

static void test_except_holes(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: a, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n  ingress:\n"
		     "  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.0.0.0/30]}}]\n"
		     "  - from: [{ipBlock: {cidr: 10.1.2.0/24}}]\n    ports: [{port: 443}]\n"
		     "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 22}]\n"
		     PROD_PODS, SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.2.3.4", TCP, 80), "inside cidr");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.2.3.4", SCTP, 9), "all protocols");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.1.5.5", TCP, 80), "except hole");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.1.2.9", TCP, 443), "hole reopened by rule 2");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.1.2.9", TCP, 80), "rule 2 is 443 only");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "11.0.0.1", TCP, 80), "outside cidr");
	/* web (10.0.0.1) sits in the /30 hole: rule 3 admits it on 22 only. */
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 22), "web 22");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 80), "web 80");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.3", TCP, 22), "batch in hole");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "fd00::1", TCP, 80), "no IPv6 rule");
out:
	fx_free(&f);
}

static void test_end_port(void)
{
	const struct sl_np_ports *ps;
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: a, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - ports:\n"
		     "    - {port: 32000, endPort: 32768}\n    - {port: 32769}\n"
		     "    - {protocol: UDP}\n    - {protocol: SCTP, port: 9}\n    - {port: 100, endPort: 200}\n"
		     PROD_PODS, SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", TCP, 32000) &&
	      allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", TCP, 32768) &&
	      allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", TCP, 32769), "range");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", TCP, 31999) &&
	      !allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", TCP, 32770), "outside range");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", UDP, 1) &&
	      allowed(&f.t, "10.0.0.2", IN, "2001:db8::1", UDP, 65535), "every UDP port");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", SCTP, 9) &&
	      !allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", SCTP, 10), "sctp");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "1.1.1.1", IPPROTO_ICMP, 0), "icmp");
	/* Merged (adjacent ranges join) and sorted by protocol, then port. */
	CHECK_OUT(f.t.n_np_portsets == 1 && f.t.np_portsets[0].id &&
		  !(f.t.np_portsets[0].id & SL_NP_SLOT_BIT), "%zu sets", f.t.n_np_portsets);
	ps = &f.t.np_portsets[0].ports;
	CHECK_OUT(ps->n == 4 && ps->r[0].proto == TCP && ps->r[0].lo == 100 && ps->r[0].hi == 200 &&
	      ps->r[1].proto == TCP && ps->r[1].lo == 32000 && ps->r[1].hi == 32769 &&
	      ps->r[2].proto == UDP && ps->r[2].lo == 0 && ps->r[2].hi == 65535 &&
	      ps->r[3].proto == SCTP && ps->r[3].lo == 9 && ps->r[3].hi == 9, "ranges");
out:
	fx_free(&f);
}

static void test_namespace_selector(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {team: a}}\n"
		     "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-b, labels: {team: b}}\n"
		     "---\n" NP_HDR "metadata: {name: a, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n  ingress:\n"
		     "  - from: [{namespaceSelector: {matchLabels: {team: a}}}]\n"
		     "  - from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {role: ci}}}]\n"
		     "  - from: [{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, "
		     "operator: In, values: [lonely]}]}}]\n"
		     PROD_PODS
		     POD("team-a", "x", "{role: any}", "10.10.0.1")
		     POD("team-b", "ci", "{role: ci}", "10.20.0.1")
		     POD("team-b", "dev", "{role: dev}", "10.20.0.2")
		     POD("lonely", "l", "{}", "10.30.0.1")
		     POD("other", "o", "{}", "10.40.0.1"),
		     SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.10.0.1", TCP, 1), "team-a pod");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.20.0.1", TCP, 1), "team-b ci");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.20.0.2", TCP, 1), "team-b dev");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.30.0.1", TCP, 1), "implicit name label");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.40.0.1", TCP, 1), "other ns");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 1), "own ns not selected");
out:
	fx_free(&f);
}

static void test_selector_expressions(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: a, namespace: ns}\nspec:\n"
		     "  podSelector:\n    matchExpressions:\n"
		     "    - {key: tier, operator: In, values: [front, back]}\n"
		     "    - {key: env, operator: NotIn, values: [dev]}\n"
		     "    - {key: owner, operator: Exists}\n"
		     "    - {key: legacy, operator: DoesNotExist}\n"
		     "  policyTypes: [Ingress]\n"
		     POD("ns", "p1", "{tier: front, owner: x}", "10.0.1.1")
		     POD("ns", "p2", "{tier: back, owner: x, env: prod}", "10.0.1.2")
		     POD("ns", "p3", "{tier: front, owner: x, env: dev}", "10.0.1.3")
		     POD("ns", "p4", "{tier: front}", "10.0.1.4")
		     POD("ns", "p5", "{tier: front, owner: x, legacy: \"yes\"}", "10.0.1.5")
		     POD("ns", "p6", "{tier: mid, owner: x}", "10.0.1.6"),
		     SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(isolated(&f.t, "10.0.1.1", IN) && isolated(&f.t, "10.0.1.2", IN), "p1 p2 selected");
	CHECK_OUT(!isolated(&f.t, "10.0.1.3", IN) && !isolated(&f.t, "10.0.1.4", IN) &&
	      !isolated(&f.t, "10.0.1.5", IN) && !isolated(&f.t, "10.0.1.6", IN),
	      "p3..p6 not selected");
	CHECK_OUT(!allowed(&f.t, "10.0.1.1", IN, "10.0.1.2", TCP, 80), "no rules: deny");
out:
	fx_free(&f);
}

static void test_dual_stack(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: a, namespace: ns}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n  ingress:\n"
		     "  - from: [{podSelector: {matchLabels: {app: web}}}]\n"
		     "  - from: [{ipBlock: {cidr: \"2001:db8::/32\", except: [\"2001:db8:1::/48\"]}}]\n"
		     "---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: ns, labels: {app: db}}\n"
		     "status: {podIP: 10.0.0.2, podIPs: [{ip: 10.0.0.2}, {ip: \"fd00::2\"}]}\n"
		     "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ns, labels: {app: web}}\n"
		     "status: {podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}, {ip: \"fd00::1\"}]}\n",
		     SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(f.t.n_np_pods == 2 && f.t.np_pods[0].key.family == SL_AF_INET &&
	      f.t.np_pods[1].key.family == SL_AF_INET6 &&
	      f.t.np_pods[0].val.ingress_set == f.t.np_pods[1].val.ingress_set, "pod entries");
	CHECK_OUT(allowed(&f.t, "fd00::2", IN, "fd00::1", TCP, 80), "v6 web");
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 80), "v4 web");
	CHECK_OUT(!allowed(&f.t, "fd00::2", IN, "fd00::3", TCP, 80), "v6 other");
	CHECK_OUT(allowed(&f.t, "fd00::2", IN, "2001:db8:2::1", TCP, 80), "v6 cidr");
	CHECK_OUT(!allowed(&f.t, "fd00::2", IN, "2001:db8:1::1", TCP, 80), "v6 except");
	/* key.prefixlen = 64 bits of (set, family) + the address prefix. */
	for (size_t i = 0; i < f.t.n_np_prefixes; i++) {
		const struct sl_table_np_prefix *e = &f.t.np_prefixes[i];
		__be32 want[4];

		parse("2001:db8:1::", want);
		if (e->key.family == SL_AF_INET6 && !memcmp(e->key.addr, want, 16))
			CHECK_OUT(e->key.prefixlen == 64 + 48, "except prefixlen %u", e->key.prefixlen);
		CHECK_OUT(e->key.prefixlen >= 64 && e->key.prefixlen <= 64 +
		      (e->key.family == SL_AF_INET ? 32u : 128u), "prefixlen %u", e->key.prefixlen);
	}
out:
	fx_free(&f);
}

static void test_deny_all_allow_all(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: deny, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n  policyTypes: [Ingress, Egress]\n"
		     "---\n" NP_HDR "metadata: {name: open, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress, Egress]\n"
		     "  ingress: [{}]\n  egress: [{to: [], ports: []}]\n"
		     PROD_PODS, SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(isolated(&f.t, "10.0.0.2", IN) && isolated(&f.t, "10.0.0.2", EG), "db isolated");
	CHECK_OUT(!allowed(&f.t, "10.0.0.2", IN, "10.0.0.1", TCP, 80) &&
	      !allowed(&f.t, "10.0.0.2", EG, "10.0.0.1", UDP, 53) &&
	      !allowed(&f.t, "10.0.0.2", IN, "fd00::1", IPPROTO_ICMPV6, 0), "db denied");
	CHECK_OUT(isolated(&f.t, "10.0.0.1", IN) && isolated(&f.t, "10.0.0.1", EG), "web isolated");
	CHECK_OUT(allowed(&f.t, "10.0.0.1", IN, "203.0.113.1", TCP, 80) &&
	      allowed(&f.t, "10.0.0.1", IN, "2001:db8::1", UDP, 1) &&
	      allowed(&f.t, "10.0.0.1", EG, "10.0.0.2", IPPROTO_ICMP, 0), "web allowed");
	/* Deny-all and allow-all: ingress and egress share each set. */
	CHECK_OUT(f.t.n_np_pods == 2 && f.t.np_pods[0].val.ingress_set &&
	      f.t.np_pods[0].val.egress_set == f.t.np_pods[0].val.ingress_set &&
	      f.t.np_pods[1].val.egress_set == f.t.np_pods[1].val.ingress_set &&
	      f.t.np_pods[1].val.ingress_set && f.t.np_pods[1].val.ingress_set != f.t.np_pods[0].val.ingress_set &&
	      !((f.t.np_pods[0].val.ingress_set | f.t.np_pods[1].val.ingress_set) & SL_NP_SLOT_BIT),
	      "set ids");
	CHECK_OUT(f.t.n_np_prefixes == 2 && f.t.n_np_portsets == 1 &&
	      f.t.np_portsets[0].ports.n == 1 && f.t.np_portsets[0].ports.r[0].proto == 0,
	      "%zu prefixes %zu portsets", f.t.n_np_prefixes, f.t.n_np_portsets);
	CHECK_OUT(!strcmp(f.t.policies[0].summary, "Ingress+Egress, 0 ingress rules, 0 egress rules, "
		      "selects 1 pod"), "summary %s", f.t.policies[0].summary);
out:
	fx_free(&f);
}

/* Kubernetes' defaulting: Egress only for a non-empty egress list. */
static void test_policy_types_default(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: e, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n  egress: []\n"
		     "---\n" NP_HDR "metadata: {name: f, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: web}}\n"
		     "  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]\n"
		     "---\n" NP_HDR "metadata: {name: g, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: batch}}\n  policyTypes: [Egress]\n"
		     "  ingress: [{}]\n"
		     PROD_PODS, SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(!strcmp(f.text,
		      "t.yaml:6:11: warning: spec.egress: an empty egress list without policyTypes does not isolate egress (Kubernetes adds Egress only for a non-empty list): add policyTypes [Ingress, Egress] to deny all egress\n"
		      "t.yaml:21:12: warning: spec.ingress: ignored: policyTypes does not include Ingress\n"),
	      "got %s", f.text);
	CHECK_OUT(isolated(&f.t, "10.0.0.2", IN) && !isolated(&f.t, "10.0.0.2", EG), "e");
	CHECK_OUT(isolated(&f.t, "10.0.0.1", IN) && isolated(&f.t, "10.0.0.1", EG) &&
	      allowed(&f.t, "10.0.0.1", EG, "10.9.9.9", TCP, 1) &&
	      !allowed(&f.t, "10.0.0.1", EG, "11.0.0.1", TCP, 1), "f");
	CHECK_OUT(!isolated(&f.t, "10.0.0.3", IN) && isolated(&f.t, "10.0.0.3", EG), "g");
out:
	fx_free(&f);
}

static void test_pods_skipped(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: all, namespace: ns}\nspec:\n"
		     "  podSelector: {}\n  ingress: [{from: [{podSelector: {}}]}]\n"
		     "---\napiVersion: v1\nkind: Pod\nmetadata: {name: host, namespace: ns}\n"
		     "spec: {hostNetwork: true}\nstatus: {podIP: 192.168.1.10}\n"
		     "---\napiVersion: v1\nkind: Pod\nmetadata: {name: pending, namespace: ns}\n"
		     "status: {phase: Pending}\n"
		     "---\napiVersion: v1\nkind: Pod\nmetadata: {name: done, namespace: ns}\n"
		     "status: {phase: Succeeded, podIP: 10.0.0.5}\n"
		     POD("ns", "live", "{}", "10.0.0.5"), SL_SEV_NOTE), "rejected: %s", f.text);
	CHECK_OUT(!strcmp(f.text, "t.yaml:11:21: note: spec.hostNetwork: not isolated by NetworkPolicy "
		      "ns/all: a hostNetwork pod uses the node's network\n"), "got %s", f.text);
	CHECK_OUT(f.t.n_np_pods == 1 && !strcmp(f.t.np_pods[0].name, "live"), "%zu pods",
	      f.t.n_np_pods);
	/* The host-network pod's address is not a pod peer. */
	CHECK_OUT(!allowed(&f.t, "10.0.0.5", IN, "192.168.1.10", TCP, 1), "host peer");
	CHECK_OUT(!strcmp(f.t.policies[0].summary, "Ingress, 1 ingress rule, selects 1 pod"),
	      "summary %s", f.t.policies[0].summary);
out:
	fx_free(&f);
}

/* ---- NetworkPolicy errors ---------------------------------------------------- */

static void test_np_errors(void)
{
	EXPECT_ERRORS(NP_HDR "metadata: {name: a}\nspec:\n  ingress:\n"
		      "  - ports: [{port: http}, {port: 80, endPort: 70}, {protocol: UDP, endPort: 9}]\n",
		      "t.yaml:5:3: error: spec.podSelector: required field is missing ({} selects every pod of the namespace)\n"
		      "t.yaml:6:20: error: spec.ingress[0].ports[0].port: named ports are not supported yet: give the port number\n"
		      "t.yaml:6:47: error: spec.ingress[0].ports[1].endPort: endPort 70 is less than port 80\n"
		      "t.yaml:6:77: error: spec.ingress[0].ports[2].endPort: endPort needs an integer port\n");
	EXPECT_ERRORS(NP_HDR "metadata: {name: a}\nspec:\n  podSelector: {}\n  egress:\n  - to:\n"
		      "    - {}\n"
		      "    - {ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}\n"
		      "    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16, \"fd00::/8\", 10.0.0.0/8, 10.1.0.0]}\n"
		      "    - ipBlock: {cidr: 10.0.0.0}\n"
		      "    - ipBlock: {except: [10.0.0.0/8]}\n",
		      "t.yaml:8:7: error: spec.egress[0].to[0]: a peer needs podSelector, namespaceSelector or ipBlock\n"
		      "t.yaml:9:17: error: spec.egress[0].to[1].ipBlock: ipBlock cannot be combined with podSelector or namespaceSelector in one peer\n"
		      "t.yaml:10:44: error: spec.egress[0].to[2].ipBlock.except[0]: 11.0.0.0/16 does not lie inside cidr 10.0.0.0/8 (except must be a strict subset)\n"
		      "t.yaml:10:57: error: spec.egress[0].to[2].ipBlock.except[1]: fd00::/8 is IPv6; cidr 10.0.0.0/8 is IPv4\n"
		      "t.yaml:10:69: error: spec.egress[0].to[2].ipBlock.except[2]: 10.0.0.0/8 does not lie inside cidr 10.0.0.0/8 (except must be a strict subset)\n"
		      "t.yaml:10:81: error: spec.egress[0].to[2].ipBlock.except[3]: invalid CIDR \"10.1.0.0\" (expected e.g. 10.0.0.0/8 or fd00::/8)\n"
		      "t.yaml:11:23: error: spec.egress[0].to[3].ipBlock.cidr: invalid CIDR \"10.0.0.0\" (expected e.g. 10.0.0.0/8 or fd00::/8)\n"
		      "t.yaml:12:16: error: spec.egress[0].to[4].ipBlock.cidr: required field is missing\n");
	EXPECT_ERRORS(NP_HDR "metadata: {name: a}\nspec:\n  podSelector:\n"
		      "    matchLabels: {\"bad key!\": x, ok: \"-bad\"}\n"
		      "    matchExpressions:\n"
		      "    - {key: a, operator: In}\n"
		      "    - {key: b, operator: Exists, values: [x]}\n"
		      "    - {key: c, operator: Has}\n"
		      "    - {operator: NotIn, values: [\"x y\"]}\n",
		      "t.yaml:10:26: error: spec.podSelector.matchExpressions[2].operator: unknown value \"Has\" (expected one of In, NotIn, Exists, DoesNotExist)\n");
	EXPECT_ERRORS(NP_HDR "metadata: {name: a}\nspec:\n  podSelector:\n"
		      "    matchLabels: {\"bad key!\": x, ok: \"-bad\"}\n"
		      "    matchExpressions:\n"
		      "    - {key: a, operator: In}\n"
		      "    - {key: b, operator: Exists, values: [x]}\n"
		      "    - {operator: NotIn, values: [\"x y\"]}\n",
		      "t.yaml:6:19: error: spec.podSelector.matchLabels.bad key!: invalid label key \"bad key!\"\n"
		      "t.yaml:6:38: error: spec.podSelector.matchLabels.ok: invalid label value \"-bad\" (at most 63 characters: alphanumerics, '-', '_', '.', starting and ending alphanumeric)\n"
		      "t.yaml:8:7: error: spec.podSelector.matchExpressions[0].values: must be non-empty for operator In\n"
		      "t.yaml:9:42: error: spec.podSelector.matchExpressions[1].values: must be empty for operator Exists\n"
		      "t.yaml:10:7: error: spec.podSelector.matchExpressions[2].key: required field is missing\n"
		      "t.yaml:10:34: error: spec.podSelector.matchExpressions[2].values[0]: invalid label value \"x y\"\n");
	EXPECT_ERRORS(NP_HDR "metadata: {name: a}\nspec:\n  podSelector: {}\n"
		      "  policyTypes: [Ingress, Sideways]\n  ingress: [{ports: [{protocol: ICMP}]}]\n",
		      "t.yaml:6:26: error: spec.policyTypes[1]: unknown value \"Sideways\" (expected one of Ingress, Egress)\n"
		      "t.yaml:7:33: error: spec.ingress[0].ports[0].protocol: unknown value \"ICMP\" (expected one of TCP, UDP, SCTP)\n");
	EXPECT_ERRORS(NP_HDR "metadata: {name: a}\nspec:\n  podSelector: {}\n  ingress:\n"
		      "  - from: [{ipBlok: {cidr: 10.0.0.0/8}}]\n    ports: [{port: 0}]\n",
		      "t.yaml:7:13: error: spec.ingress[0].from[0].ipBlok: unknown field \"ipBlok\"\n"
		      "t.yaml:8:20: error: spec.ingress[0].ports[0].port: 0 out of range 1..65535\n");
	EXPECT_ERRORS(NP_HDR "metadata: {name: a}\nspec: {podSelector: {matchLabels: {app: x}}}\n"
		      POD("default", "p", "{app: x}", "10.0.0.1") POD("default", "q", "{}", "10.0.0.1"),
		      "t.yaml:14:33: error: status.podIP: pod IP 10.0.0.1 is also pod default/p's (t.yaml:6); a NetworkPolicy selects one of them\n");
out:
	return;
}

/* 17 ranges for one peer, from two policies: the limit is per port set. */
static void test_too_many_ranges(void)
{
	EXPECT_ERRORS(NP_HDR "metadata: {name: a, namespace: prod}\nspec:\n"
		      "  podSelector: {matchLabels: {app: db}}\n  ingress:\n"
		      "  - ports: [{port: 1}, {port: 3}, {port: 5}, {port: 7}, {port: 9}, {port: 11},\n"
		      "            {port: 13}, {port: 15}, {port: 17}, {port: 19}]\n"
		      "---\n" NP_HDR "metadata: {name: b, namespace: prod}\nspec:\n"
		      "  podSelector: {matchLabels: {app: db}}\n  ingress:\n"
		      "  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]\n"
		      "    ports: [{port: 21}, {port: 23}, {port: 25}, {port: 27}, {port: 29}, {port: 31},\n"
		      "            {port: 33}]\n"
		      PROD_PODS,
		      "t.yaml:7:12: error: spec.ingress[0].ports: NetworkPolicy prod/a (with NetworkPolicy prod/b): the ingress ports admitted for peers in 10.0.0.0/8 to pod prod/db merge into 17 ranges, the limit is 16 (SL_NP_MAX_RANGES)\n");
out:
	return;
}

static void test_host_bits(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OUT(!apply(&f, NP_HDR "metadata: {name: a, namespace: prod}\nspec:\n"
		     "  podSelector: {matchLabels: {app: db}}\n  ingress:\n"
		     "  - from: [{ipBlock: {cidr: 10.1.2.3/16, except: [10.1.2.3/24]}}]\n"
		     PROD_PODS, SL_SEV_WARNING), "rejected: %s", f.text);
	CHECK_OUT(!strcmp(f.text,
		      "t.yaml:7:29: warning: spec.ingress[0].from[0].ipBlock.cidr: host bits set: using 10.1.0.0/16\n"
		      "t.yaml:7:51: warning: spec.ingress[0].from[0].ipBlock.except[0]: host bits set: using 10.1.2.0/24\n"),
	      "got %s", f.text);
	CHECK_OUT(allowed(&f.t, "10.0.0.2", IN, "10.1.9.9", TCP, 1) &&
	      !allowed(&f.t, "10.0.0.2", IN, "10.1.2.200", TCP, 1) &&
	      !allowed(&f.t, "10.0.0.2", IN, "10.2.0.1", TCP, 1), "masked");
out:
	fx_free(&f);
}

static bool np_tables_equal(const struct sl_tables *a, const struct sl_tables *b)
{
	return a->n_np_pods == b->n_np_pods && a->n_np_prefixes == b->n_np_prefixes &&
	       a->n_np_portsets == b->n_np_portsets && a->n_ingress == b->n_ingress &&
	       !memcmp(a->np_pods, b->np_pods, a->n_np_pods * sizeof(*a->np_pods)) &&
	       !memcmp(a->np_prefixes, b->np_prefixes, a->n_np_prefixes * sizeof(*a->np_prefixes)) &&
	       !memcmp(a->np_portsets, b->np_portsets, a->n_np_portsets * sizeof(*a->np_portsets)) &&
	       !memcmp(a->ingress, b->ingress, a->n_ingress * sizeof(*a->ingress));
}

#define GOOD_NP                                                                   \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {env: prod}}\n---\n" \
	NP_HDR "metadata: {name: a, namespace: prod}\nspec:\n"                   \
	"  podSelector: {matchLabels: {app: db}}\n  ingress:\n"                   \
	"  - from: [{namespaceSelector: {matchLabels: {env: prod}}}]\n"             \
	"    ports: [{port: 5432}]\n"                                              \
	"---\n" SVC_HDR "metadata: {name: web, namespace: prod}\nspec:\n"         \
	"  type: NodePort\n  externalIPs: [192.0.2.80]\n"                          \
	"  ports: [{port: 80, nodePort: 30080}]\n  selector: {app: web}\n"        \
	PROD_PODS

/* The store (serialize, load) gives the same tables; input order does not
 * matter; a rejected NetworkPolicy leaves the policy as it was. */
/* Ids follow what makes them: a Pod that sorts first and is selected by
 * another policy (so it is met first) leaves every id as it was; a set a
 * Pod joins keeps its id, so the tables differ by that Pod's prefix and
 * its own entry alone (what the publisher writes). */
#define IDS_NPS \
	NP_HDR "metadata: {name: db-in, namespace: prod}\nspec:\n" \
	"  podSelector: {matchLabels: {app: db}}\n" \
	"  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]\n" \
	"---\n" NP_HDR "metadata: {name: web-in, namespace: prod}\nspec:\n" \
	"  podSelector: {matchLabels: {app: web}}\n" \
	"  ingress: [{from: [{ipBlock: {cidr: 192.0.2.0/24}}], ports: [{port: 80}]}]\n"

static uint32_t ip_set(const struct sl_tables *t, const char *ip)
{
	struct in_addr a;

	inet_pton(AF_INET, ip, &a);
	for (size_t i = 0; i < t->n_np_pods; i++)
		if (t->np_pods[i].key.addr[0] == a.s_addr)
			return t->np_pods[i].val.ingress_set;
	return 0;
}

/* Prefix entries of A that B does not hold. */
static size_t prefixes_not_in(const struct sl_tables *a, const struct sl_tables *b)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_np_prefixes; i++) {
		bool found = false;

		for (size_t j = 0; j < b->n_np_prefixes && !found; j++)
			found = !memcmp(&a->np_prefixes[i], &b->np_prefixes[j], sizeof(a->np_prefixes[i]));
		n += !found;
	}
	return n;
}

static void test_ids_by_origin(void)
{
	struct fx a, b, c;

	fx_init(&a);
	fx_init(&b);
	fx_init(&c);
	CHECK_OUT(!apply(&a, IDS_NPS PROD_PODS, SL_SEV_WARNING), "rejected: %s", a.text);
	CHECK_OUT(!apply(&b, IDS_NPS PROD_PODS POD("prod", "aaa", "{app: web}", "10.0.0.9"),
			 SL_SEV_WARNING), "rejected: %s", b.text);
	CHECK_OUT(ip_set(&a.t, "10.0.0.2") && ip_set(&a.t, "10.0.0.1") &&
		  ip_set(&a.t, "10.0.0.2") != ip_set(&a.t, "10.0.0.1"), "two sets");
	/* aaa is met first, with web's set; db's set gains its address. */
	CHECK_OUT(ip_set(&b.t, "10.0.0.9") == ip_set(&a.t, "10.0.0.1") &&
		  ip_set(&b.t, "10.0.0.1") == ip_set(&a.t, "10.0.0.1"), "web's set kept its id");
	CHECK_OUT(ip_set(&b.t, "10.0.0.2") == ip_set(&a.t, "10.0.0.2"), "db's set kept its id");
	CHECK_OUT(prefixes_not_in(&a.t, &b.t) == 0 && prefixes_not_in(&b.t, &a.t) == 1,
		  "prefixes: %zu gone, %zu new (want 0 and 1: aaa's)", prefixes_not_in(&a.t, &b.t),
		  prefixes_not_in(&b.t, &a.t));
	CHECK_OUT(a.t.n_np_portsets == 2 && b.t.n_np_portsets == 2 &&
		  portset(&b.t, a.t.np_portsets[0].id) && portset(&b.t, a.t.np_portsets[1].id) &&
		  !memcmp(portset(&b.t, a.t.np_portsets[0].id), &a.t.np_portsets[0].ports,
			  sizeof(a.t.np_portsets[0].ports)), "port sets kept their ids");
	/* The same pod that changes nothing but sorts first. */
	CHECK_OUT(!apply(&c, IDS_NPS PROD_PODS POD("prod", "aaa", "{app: batch}", "10.0.0.9"),
			 SL_SEV_WARNING), "rejected: %s", c.text);
	CHECK_OUT(c.t.n_np_prefixes == a.t.n_np_prefixes && c.t.n_np_pods == a.t.n_np_pods &&
		  ip_set(&c.t, "10.0.0.1") == ip_set(&a.t, "10.0.0.1") &&
		  ip_set(&c.t, "10.0.0.2") == ip_set(&a.t, "10.0.0.2"), "unchanged");
out:
	fx_free(&a);
	fx_free(&b);
	fx_free(&c);
}

static void test_roundtrip_and_reject(void)
{
	static const char bad[] = NP_HDR "metadata: {name: a, namespace: prod}\n"
		"spec: {podSelector: {}}\n---\n" NP_HDR "metadata: {name: z}\n"
		"spec: {podSelector: {}, ingress: [{ports: [{port: web}]}]}\n";
	struct sl_compile_opts o;
	struct fx f, g;
	char *s1 = NULL, *s2 = NULL;
	size_t l1, l2;

	sl_compile_opts_default(&o);
	fx_init(&f);
	fx_init(&g);
	CHECK_OUT(!apply(&f, GOOD_NP, SL_SEV_ERROR), "rejected: %s", f.text);
	CHECK_OUT(f.t.n_np_pods == 1 && f.t.n_ingress == 2, "tables");
	s1 = sl_policy_serialize(f.p, &l1);
	CHECK_OUT(!sl_policy_load(g.p, "store", s1, l1, &g.d) &&
	      !sl_policy_compile(g.p, &o, &g.t, &g.d), "store does not compile");
	CHECK_OUT(np_tables_equal(&f.t, &g.t), "tables differ after the store");
	/* A bad NetworkPolicy in the same source as a good change: neither. */
	CHECK_OUT(sl_policy_load(f.p, "bad.yaml", bad, strlen(bad), &f.d) == -1, "accepted");
	s2 = sl_policy_serialize(f.p, &l2);
	CHECK_OUT(l1 == l2 && !memcmp(s1, s2, l1), "policy changed");
out:
	free(s1);
	free(s2);
	fx_free(&f);
	fx_free(&g);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	run("ingress-external-ips", test_external_ips);
	run("ingress-load-balancer", test_load_balancer);
	run("ingress-errors", test_ingress_errors);
	run("ingress-handoff-refused", test_ingress_handoff);
	run("ingress-capacity", test_ingress_capacity);
	run("namespace-object", test_namespace_object);
	run("np-isolation-by-direction", test_isolation_by_direction);
	run("np-union-of-policies", test_union_of_policies);
	run("np-except-holes", test_except_holes);
	run("np-end-port", test_end_port);
	run("np-namespace-selector", test_namespace_selector);
	run("np-selector-expressions", test_selector_expressions);
	run("np-dual-stack", test_dual_stack);
	run("np-deny-all-allow-all", test_deny_all_allow_all);
	run("np-policy-types-default", test_policy_types_default);
	run("np-pods-skipped", test_pods_skipped);
	run("np-errors", test_np_errors);
	run("np-too-many-ranges", test_too_many_ranges);
	run("np-host-bits", test_host_bits);
	run("np-store-roundtrip-and-reject", test_roundtrip_and_reject);
	run("np-ids-by-origin", test_ids_by_origin);
	printf("# %d failed\n", failures);
	return failures ? 1 : 0;
}
