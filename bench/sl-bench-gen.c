// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-gen: the same N services, written once as Istio policy for
 * `sluice apply` and once as kube-proxy's iptables rules for
 * `iptables-restore`, so the two data planes are compared on one set.
 *
 * Service i (0-based, i < 65536):
 *   name      svc-NNNNN in namespace "bench"
 *   VIP       10.96.0.1 + i, TCP port 80 (inside the 10.96.0.0/12 CIDR)
 *   endpoints 127.1.0.1 + 4i + j, j = 0..3, port 8080, weights 1, 2, 3, 4
 * The last service (i = N-1) is the one the benchmark connects to: for
 * iptables it is the worst case of the linear KUBE-SERVICES walk.
 *
 * Variant 1 of the "change" outputs moves endpoint j = 3 of the last service
 * to 127.2.0.1 + i (one endpoint changed, as when a pod is rescheduled);
 * variant 0 moves it back.
 *
 * The iptables rules follow what kube-proxy (iptables mode) writes for a
 * ClusterIP service: OUTPUT/PREROUTING -> KUBE-SERVICES, one rule per
 * service matching VIP and port -> KUBE-SVC-x, a masquerade-mark rule for
 * traffic from outside the cluster CIDR, one `-m statistic --mode random
 * --probability` rule per endpoint -> KUBE-SEP-x, and in KUBE-SEP-x the
 * hairpin mark and the DNAT. kube-proxy gives endpoints equal shares; here
 * the probabilities are w_j / (w_j + ... + w_3) so iptables picks with the
 * same 1:2:3:4 weights as the mesh. The cluster CIDR stand-in is
 * 127.0.0.0/8, so the benchmark client (127.0.0.1) counts as a pod and is
 * not masqueraded: the common pod-to-service case.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl-bench-svc.h"

#define MASQ_MARK "0x4000"

static const char *lb = "LEAST_CONN";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-bench-gen [--lb ALGO] COMMAND N [VARIANT]\n"
		"  yaml N               ServiceEntry + DestinationRule per service\n"
		"  yaml-change N V      the last service's ServiceEntry, variant V\n"
		"  iptables N           kube-proxy-style nat table, iptables-restore input\n"
		"  iptables-change N V  iptables-restore --noflush input: endpoint 3 of\n"
		"                       the last service moved to variant V\n"
		"  targets N            shell assignments: vip, eps (ADDR:PORT list),\n"
		"                       weights, of the last service\n"
		"  k8s N                N Kubernetes Services in namespace bench-k8s,\n"
		"                       each with an EndpointSlice and 2 Pods (labels\n"
		"                       app, role: 10 values, shard: 1,000 values), and\n"
		"                       a NetworkPolicy\n"
		"  --lb ALGO            DestinationRule loadBalancer.simple (LEAST_CONN)\n");
}

static void ip4(char *buf, size_t len, uint32_t a)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static void vip(char *buf, size_t len, long i)
{
	ip4(buf, len, sl_bench_vip(i));
}

/* Endpoint J of service I; V moves endpoint 3 of service LAST. */
static void ep(char *buf, size_t len, long i, int j, long last, int v)
{
	if (v && i == last && j == N_EP - 1)
		ip4(buf, len, (127u << 24 | 2u << 16) + 1u + (uint32_t)i);
	else
		ip4(buf, len, sl_bench_ep(i, j));
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/* kube-proxy names chains by a hash of the service port (KUBE-SVC-) and
 * of the endpoint (KUBE-SEP-); 16 hex digits keep them within the 28
 * characters iptables allows. */
static void svc_chain(char *buf, size_t len, long i)
{
	char id[64];

	snprintf(id, sizeof(id), "bench/svc-%05ld:tcp", i);
	snprintf(buf, len, "KUBE-SVC-%016llX", (unsigned long long)fnv1a64(id));
}

static void sep_chain(char *buf, size_t len, long i, const char *addr)
{
	char id[96];

	snprintf(id, sizeof(id), "bench/svc-%05ld:tcp/%s:%d", i, addr, EP_PORT);
	snprintf(buf, len, "KUBE-SEP-%016llX", (unsigned long long)fnv1a64(id));
}

static void yaml_service(long i, long last, int v, int with_dr)
{
	char a[16];
	int j;

	vip(a, sizeof(a), i);
	printf("---\napiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\n"
	       "metadata:\n  name: svc-%05ld\n  namespace: bench\nspec:\n"
	       "  hosts:\n  - svc-%05ld.bench.svc.cluster.local\n"
	       "  addresses:\n  - %s\n  location: MESH_INTERNAL\n"
	       "  resolution: STATIC\n  ports:\n  - number: %d\n    name: tcp\n"
	       "    protocol: TCP\n  endpoints:\n", i, i, a, SVC_PORT);
	for (j = 0; j < N_EP; j++) {
		ep(a, sizeof(a), i, j, last, v);
		printf("  - address: %s\n    ports:\n      tcp: %d\n    weight: %d\n",
		       a, EP_PORT, j + 1);
	}
	if (!with_dr)
		return;
	printf("---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n"
	       "metadata:\n  name: svc-%05ld\n  namespace: bench\nspec:\n"
	       "  host: svc-%05ld.bench.svc.cluster.local\n  trafficPolicy:\n"
	       "    loadBalancer:\n      simple: %s\n", i, i, lb);
}

static void ipt_chains(long i, long last, int v)
{
	char c[32], a[16];
	int j;

	svc_chain(c, sizeof(c), i);
	printf(":%s - [0:0]\n", c);
	for (j = 0; j < N_EP; j++) {
		ep(a, sizeof(a), i, j, last, v);
		sep_chain(c, sizeof(c), i, a);
		printf(":%s - [0:0]\n", c);
	}
}

static void ipt_svc_jump(long i)
{
	char c[32], a[16];

	svc_chain(c, sizeof(c), i);
	vip(a, sizeof(a), i);
	printf("-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "
	       "\"bench/svc-%05ld:tcp cluster IP\" -m tcp --dport %d -j %s\n",
	       a, i, SVC_PORT, c);
}

/* The KUBE-SVC-x and KUBE-SEP-x rules of service I. */
static void ipt_svc_rules(long i, long last, int v)
{
	char sc[32], pc[32], a[16], va[16];
	int j, rest = 0;

	svc_chain(sc, sizeof(sc), i);
	vip(va, sizeof(va), i);
	printf("-A %s ! -s 127.0.0.0/8 -d %s/32 -p tcp -m comment --comment "
	       "\"bench/svc-%05ld:tcp cluster IP\" -m tcp --dport %d -j KUBE-MARK-MASQ\n",
	       sc, va, i, SVC_PORT);
	for (j = 0; j < N_EP; j++)
		rest += j + 1;
	for (j = 0; j < N_EP; j++) {
		ep(a, sizeof(a), i, j, last, v);
		sep_chain(pc, sizeof(pc), i, a);
		printf("-A %s -m comment --comment \"bench/svc-%05ld:tcp -> %s:%d\"",
		       sc, i, a, EP_PORT);
		if (j < N_EP - 1)
			printf(" -m statistic --mode random --probability %0.11f",
			       (double)(j + 1) / rest);
		printf(" -j %s\n", pc);
		rest -= j + 1;
	}
	for (j = 0; j < N_EP; j++) {
		ep(a, sizeof(a), i, j, last, v);
		sep_chain(pc, sizeof(pc), i, a);
		printf("-A %s -s %s/32 -m comment --comment \"bench/svc-%05ld:tcp\" "
		       "-j KUBE-MARK-MASQ\n", pc, a, i);
		printf("-A %s -p tcp -m comment --comment \"bench/svc-%05ld:tcp\" "
		       "-m tcp -j DNAT --to-destination %s:%d\n", pc, i, a, EP_PORT);
	}
}

static void ipt_full(long n)
{
	long i;

	printf("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
	       ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
	       ":KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
	       ":KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
	for (i = 0; i < n; i++)
		ipt_chains(i, n - 1, 0);
	printf("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
	       "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
	       "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
	       "-A KUBE-POSTROUTING -m mark ! --mark " MASQ_MARK "/" MASQ_MARK " -j RETURN\n"
	       "-A KUBE-POSTROUTING -j MARK --xor-mark " MASQ_MARK "\n"
	       "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" "
	       "-j MASQUERADE --random-fully\n"
	       "-A KUBE-MARK-MASQ -j MARK --or-mark " MASQ_MARK "\n");
	for (i = 0; i < n; i++)
		ipt_svc_jump(i);
	/* kube-proxy's last KUBE-SERVICES rule; no NodePorts here, so the
	 * chain it jumps to is empty. */
	printf("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; "
	       "NOTE: this must be the last rule in this chain\" -m addrtype "
	       "--dst-type LOCAL -j KUBE-NODEPORTS\n");
	for (i = 0; i < n; i++)
		ipt_svc_rules(i, n - 1, 0);
	printf("COMMIT\n");
}

/* What kube-proxy's partial sync writes when one endpoint of the last
 * service moves: the service chain again (declaring it flushes it under
 * --noflush), the new endpoint chain, and the old one flushed and
 * deleted. */
static void ipt_change(long n, int v)
{
	char a[16], c[32];

	ep(a, sizeof(a), n - 1, N_EP - 1, n - 1, !v);
	sep_chain(c, sizeof(c), n - 1, a);
	printf("*nat\n");
	ipt_chains(n - 1, n - 1, v);
	/* A chain must be empty to be deleted: declaring it flushes it. */
	printf(":%s - [0:0]\n", c);
	ipt_svc_rules(n - 1, n - 1, v);
	printf("-X %s\nCOMMIT\n", c);
}

/* Pod J of service I of the k8s world: 10.128.0.0 + 2I + J + 1. */
static void k8s_pod_ip(char *buf, size_t len, long i, int j)
{
	ip4(buf, len, (10u << 24 | 128u << 16) + 1u + (uint32_t)(2 * i + j));
}

/* What a cluster's API server holds for N services: a Service with a
 * selector, its EndpointSlice naming its Pods, the Pods; one NetworkPolicy
 * that selects one service's pods and admits one role (a tenth of the pods). */
static void k8s_world(long n)
{
	char a[16], b[16], v[16];
	long i;

	for (i = 0; i < n; i++) {
		vip(v, sizeof(v), i);
		k8s_pod_ip(a, sizeof(a), i, 0);
		k8s_pod_ip(b, sizeof(b), i, 1);
		printf("---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%05ld, namespace: bench-k8s}\n"
		       "spec:\n  clusterIP: %s\n  selector: {app: svc-%05ld}\n"
		       "  ports: [{name: tcp, port: %d, targetPort: %d}]\n", i, v, i, SVC_PORT, EP_PORT);
		printf("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		       "metadata: {name: svc-%05ld-a, namespace: bench-k8s, labels: "
		       "{kubernetes.io/service-name: svc-%05ld}}\naddressType: IPv4\n"
		       "ports: [{name: tcp, port: %d}]\nendpoints:\n"
		       "- {addresses: [%s], targetRef: {kind: Pod, name: svc-%05ld-0}}\n"
		       "- {addresses: [%s], targetRef: {kind: Pod, name: svc-%05ld-1}}\n",
		       i, i, EP_PORT, a, i, b, i);
		for (int j = 0; j < 2; j++)
			printf("---\napiVersion: v1\nkind: Pod\nmetadata: {name: svc-%05ld-%d, namespace: "
			       "bench-k8s, labels: {app: svc-%05ld, role: r%ld, shard: s%ld}}\n"
			       "status: {phase: Running, podIP: %s}\n", i, j, i, i % 10, i % 1000,
			       j ? b : a);
	}
	printf("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	       "metadata: {name: base, namespace: bench-k8s}\nspec:\n"
	       "  podSelector: {matchLabels: {app: svc-00000}}\n"
	       "  ingress: [{from: [{podSelector: {matchLabels: {role: r1}}}], ports: [{port: %d}]}]\n",
	       EP_PORT);
}

static void targets(long n)
{
	char a[16];
	int j;

	vip(a, sizeof(a), n - 1);
	printf("vip=%s:%d\neps='", a, SVC_PORT);
	for (j = 0; j < N_EP; j++) {
		ep(a, sizeof(a), n - 1, j, n - 1, 0);
		printf("%s%s:%d", j ? " " : "", a, EP_PORT);
	}
	printf("'\nweights='1 2 3 4'\n");
}

static long parse_count(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "sl-bench-gen: '%s' is not a number in %ld..%ld\n", s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *cmd;
	long n, i;
	int v = 0;

	if (argc > 2 && !strcmp(argv[1], "--lb")) {
		lb = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 3) {
		usage(argc == 2 && !strcmp(argv[1], "-h") ? stdout : stderr);
		return argc == 2 && !strcmp(argv[1], "-h") ? 0 : 2;
	}
	cmd = argv[1];
	n = parse_count(argv[2], 1, MAX_SERVICES);
	if (strstr(cmd, "-change")) {
		if (argc != 4) {
			usage(stderr);
			return 2;
		}
		v = (int)parse_count(argv[3], 0, 1);
	}
	if (!strcmp(cmd, "yaml")) {
		for (i = 0; i < n; i++)
			yaml_service(i, n - 1, 0, 1);
	} else if (!strcmp(cmd, "yaml-change")) {
		yaml_service(n - 1, n - 1, v, 0);
	} else if (!strcmp(cmd, "iptables")) {
		ipt_full(n);
	} else if (!strcmp(cmd, "iptables-change")) {
		ipt_change(n, v);
	} else if (!strcmp(cmd, "targets")) {
		targets(n);
	} else if (!strcmp(cmd, "k8s")) {
		k8s_world(n);
	} else {
		usage(stderr);
		return 2;
	}
	if (fflush(stdout) || ferror(stdout)) {
		perror("sl-bench-gen: stdout");
		return 1;
	}
	return 0;
}
