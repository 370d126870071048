// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the mesh model (user/mesh.h): workloads and their nodes,
 * PeerAuthentication precedence, and L4 AuthorizationPolicy evaluated as
 * Istio does (DENY first, then ALLOW; fields that need HTTP fail closed
 * with a warning; CUSTOM rejected with FILE:LINE:COL).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh.h"
#include "unit.h"

static const char pods[] =
	"apiVersion: v1\nkind: Pod\nmetadata: {name: api-1, namespace: app, labels: {app: api}}\n"
	"spec: {serviceAccountName: api, nodeName: node-b}\nstatus: {podIP: 10.244.2.2}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: db-1, namespace: app, labels: {app: db}}\n"
	"spec: {nodeName: node-b}\nstatus: {podIP: 10.244.2.3}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: web, labels: {app: web}}\n"
	"status: {podIP: 10.244.1.2}\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-x, namespace: web}\n"
	"addressType: IPv4\nendpoints:\n- addresses: [10.244.1.2]\n  nodeName: node-a\n"
	"  targetRef: {kind: Pod, name: web-1}\n---\n"
	"apiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\n"
	"metadata: {name: vm-1, namespace: app}\n"
	"spec: {address: 192.0.2.9, serviceAccount: vm, labels: {app: vm, sluice.io/node: node-c}}\n";

struct fx {
	struct sl_policy *p;
	struct sl_mesh *m;
	struct sl_diags d;
};

static int fx_build(struct fx *f, const char *extra)
{
	memset(f, 0, sizeof(*f));
	f->p = sl_policy_new();
	if (sl_policy_load(f->p, "pods.yaml", pods, sizeof(pods) - 1, &f->d) ||
	    (extra && sl_policy_load(f->p, "policy.yaml", extra, strlen(extra), &f->d)))
		return -1;
	f->m = sl_mesh_build(f->p, "cluster.local", &f->d);
	return f->m ? 0 : -1;
}

static void fx_free(struct fx *f)
{
	sl_mesh_free(f->m);
	sl_policy_free(f->p);
	sl_diags_free(&f->d);
}

static const struct sl_mesh_wl *wl(struct fx *f, const char *ip)
{
	struct sl_l4addr a = { .family = SL_AF_INET };

	inet_pton(AF_INET, ip, &a.addr[0]);
	return sl_mesh_wl_by_ip(f->m, &a);
}

/* Decide a connection: SRC_NS/SA NULL for plaintext. */
static int authz(struct fx *f, const char *dst, uint16_t port, const char *src_ip,
		 const char *ns, const char *sa, char *why)
{
	char principal[160];
	struct sl_authz_req r = { .dst = wl(f, dst), .dport = port, .src.family = SL_AF_INET };
	bool audited;

	inet_pton(AF_INET, src_ip, &r.src.addr[0]);
	if (ns) {
		snprintf(principal, sizeof(principal), "cluster.local/ns/%s/sa/%s", ns, sa);
		r.principal = principal;
		r.src_ns = ns;
	}
	return sl_mesh_authorize(f->m, &r, why, 160, &audited);
}

static void t_workloads(void)
{
	struct fx f;
	const struct sl_mesh_wl *w;

	CHECK_OUT(!fx_build(&f, NULL), "build");
	w = wl(&f, "10.244.2.3");
	CHECK_OUT(w && !strcmp(w->sa, "default") && !strcmp(w->node, "node-b"), "db-1: default sa, node-b");
	w = wl(&f, "10.244.1.2");
	CHECK_OUT(w && !strcmp(w->node, "node-a"), "web-1 takes its node from the EndpointSlice");
	w = wl(&f, "192.0.2.9");
	CHECK_OUT(w && !strcmp(w->sa, "vm") && !strcmp(w->node, "node-c"), "WorkloadEntry sa and node label");
	CHECK_OUT(sl_mesh_sa_on_node(f.m, "node-b", "app", "api"), "api on node-b");
	CHECK_OUT(!sl_mesh_sa_on_node(f.m, "node-a", "app", "api"), "api not on node-a");
out:
	fx_free(&f);
}

static const char pa[] =
	"apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"
	"metadata: {name: mesh, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n---\n"
	"apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"
	"metadata: {name: ns, namespace: app}\nspec: {mtls: {mode: PERMISSIVE}}\n---\n"
	"apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"
	"metadata: {name: db, namespace: app}\n"
	"spec:\n  selector: {matchLabels: {app: db}}\n  mtls: {mode: DISABLE}\n"
	"  portLevelMtls:\n    5432: {mode: STRICT}\n";

static void t_peerauth(void)
{
	struct fx f;
	char why[160];

	CHECK_OUT(!fx_build(&f, pa), "build");
	CHECK_OUT(sl_mesh_mtls(f.m, wl(&f, "10.244.1.2"), 80, why, sizeof(why)) == SL_MTLS_STRICT,
	      "web: mesh-wide STRICT (%s)", why);
	CHECK_OUT(sl_mesh_mtls(f.m, wl(&f, "10.244.2.2"), 80, why, sizeof(why)) == SL_MTLS_PERMISSIVE,
	      "api: namespace PERMISSIVE over mesh (%s)", why);
	CHECK_OUT(sl_mesh_mtls(f.m, wl(&f, "10.244.2.3"), 80, why, sizeof(why)) == SL_MTLS_DISABLE,
	      "db: workload DISABLE over namespace (%s)", why);
	CHECK_OUT(sl_mesh_mtls(f.m, wl(&f, "10.244.2.3"), 5432, why, sizeof(why)) == SL_MTLS_STRICT,
	      "db:5432: portLevelMtls STRICT (%s)", why);
out:
	fx_free(&f);
}

static const char az[] =
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: allow-web, namespace: app}\n"
	"spec:\n  selector: {matchLabels: {app: api}}\n  rules:\n"
	"  - from: [{source: {principals: [\"cluster.local/ns/web/sa/*\"], notPrincipals: [\"*/sa/bad\"]}}]\n"
	"    to: [{operation: {ports: [\"8080\", \"9000-9001\"], notPorts: [\"9001\"]}}]\n"
	"  - from: [{source: {namespaces: [ops]}}]\n"
	"    when: [{key: source.ip, values: [10.9.0.0/16]}]\n"
	"---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: deny-lab, namespace: app}\n"
	"spec:\n  action: DENY\n  rules:\n"
	"  - from: [{source: {ipBlocks: [10.66.0.0/16], notIpBlocks: [10.66.1.0/24]}}]\n"
	"---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: audit-all, namespace: app}\n"
	"spec:\n  action: AUDIT\n  rules: [{}]\n";

static void t_authz(void)
{
	struct fx f;
	char why[160];

	CHECK_OUT(!fx_build(&f, az), "build");
	CHECK_OUT(authz(&f, "10.244.2.2", 8080, "10.1.0.1", "web", "front", why) == SL_AUTHZ_ALLOW,
	      "web/front -> api:8080 allowed (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 8080, "10.1.0.1", "web", "bad", why) == SL_AUTHZ_DENY,
	      "notPrincipals */sa/bad (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 9000, "10.1.0.1", "web", "front", why) == SL_AUTHZ_ALLOW,
	      "port range (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 9001, "10.1.0.1", "web", "front", why) == SL_AUTHZ_DENY,
	      "notPorts 9001 (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 8080, "10.1.0.1", NULL, NULL, why) == SL_AUTHZ_DENY,
	      "plaintext has no principal (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 1, "10.9.3.4", "ops", "x", why) == SL_AUTHZ_ALLOW,
	      "namespaces + when source.ip (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 1, "10.8.3.4", "ops", "x", why) == SL_AUTHZ_DENY,
	      "when source.ip outside (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 8080, "10.66.2.1", "web", "front", why) == SL_AUTHZ_DENY &&
		      strstr(why, "deny-lab"),
	      "DENY over ALLOW (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 8080, "10.66.1.1", "web", "front", why) == SL_AUTHZ_ALLOW,
	      "notIpBlocks exempts from the DENY (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.3", 5432, "10.1.0.1", NULL, NULL, why) == SL_AUTHZ_ALLOW,
	      "db: no ALLOW policy applies, AUDIT does not decide (%s)", why);
out:
	fx_free(&f);
}

static const char http_rules[] =
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: l7, namespace: app}\n"
	"spec:\n  selector: {matchLabels: {app: api}}\n  rules:\n"
	"  - to: [{operation: {methods: [GET]}}]\n"
	"  - from: [{source: {principals: [\"cluster.local/ns/web/sa/front\"]}}]\n"
	"---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: l7-deny, namespace: app}\n"
	"spec:\n  selector: {matchLabels: {app: db}}\n  action: DENY\n  rules:\n"
	"  - from: [{source: {namespaces: [web]}}]\n"
	"    to: [{operation: {paths: [/admin]}}]\n";

static void t_http_fails_closed(void)
{
	struct fx f;
	char why[160];
	size_t warn = 0;

	CHECK_OUT(!fx_build(&f, http_rules), "build");
	for (size_t i = 0; i < f.d.n; i++)
		warn += f.d.v[i].sev == SL_SEV_WARNING && strstr(f.d.v[i].msg, "needs HTTP") &&
			f.d.v[i].line > 0;
	CHECK_OUT(warn == 2, "one positioned warning per HTTP field, got %zu", warn);
	CHECK_OUT(authz(&f, "10.244.2.2", 80, "10.1.0.1", "web", "other", why) == SL_AUTHZ_DENY,
	      "an ALLOW rule on methods allows nothing at L4 (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 80, "10.1.0.1", "web", "front", why) == SL_AUTHZ_ALLOW,
	      "the L4 rule beside it still allows (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.3", 80, "10.1.0.1", "web", "any", why) == SL_AUTHZ_DENY,
	      "a DENY rule on paths denies on its L4 part (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.3", 80, "10.1.0.1", "ops", "any", why) == SL_AUTHZ_ALLOW,
	      "outside the DENY's L4 part (%s)", why);
out:
	fx_free(&f);
}

static void t_custom_rejected(void)
{
	static const char custom[] =
		"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
		"metadata: {name: ext, namespace: app}\nspec:\n  action: CUSTOM\n  rules: [{}]\n";
	struct fx f;
	const struct sl_diag *e = NULL;

	CHECK_OUT(fx_build(&f, custom), "CUSTOM accepted");
	for (size_t i = 0; i < f.d.n; i++)
		if (f.d.v[i].sev == SL_SEV_ERROR)
			e = &f.d.v[i];
	CHECK_OUT(e && !strcmp(e->file, "policy.yaml") && e->line == 5 && e->col > 1 &&
		      !strcmp(e->path, "spec.action") && strstr(e->msg, "CUSTOM"),
	      "error at policy.yaml:5 spec.action (%s:%d:%d %s)", e ? e->file : "-", e ? e->line : 0,
	      e ? e->col : 0, e ? e->msg : "-");
out:
	fx_free(&f);
}

static const char svc_target[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: api-svc, namespace: app}\n"
	"spec:\n  selector: {app: api}\n  ports: [{port: 80}]\n---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: by-ref, namespace: app}\n"
	"spec:\n  targetRefs: [{kind: Service, group: \"\", name: api-svc}]\n"
	"  rules: [{from: [{source: {namespaces: [web]}}]}]\n";

static void t_target_refs(void)
{
	static const char gw[] =
		"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
		"metadata: {name: gw, namespace: app}\n"
		"spec:\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]\n";
	struct fx f;
	char why[160];

	CHECK_OUT(!fx_build(&f, svc_target), "build");
	CHECK_OUT(authz(&f, "10.244.2.2", 80, "10.1.0.1", "ops", "x", why) == SL_AUTHZ_DENY,
	      "api (behind api-svc) is targeted: ops denied (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.2", 80, "10.1.0.1", "web", "x", why) == SL_AUTHZ_ALLOW,
	      "web allowed (%s)", why);
	CHECK_OUT(authz(&f, "10.244.2.3", 80, "10.1.0.1", "ops", "x", why) == SL_AUTHZ_ALLOW,
	      "db is not behind api-svc (%s)", why);
	fx_free(&f);
	CHECK_OUT(fx_build(&f, gw) && f.d.n_errors == 1, "a Gateway target is an error");
out:
	fx_free(&f);
}

static void t_str_match(void)
{
	CHECK_OUT(sl_mesh_str_match("*", "x") && !sl_mesh_str_match("*", ""), "*");
	CHECK_OUT(sl_mesh_str_match("a/*", "a/b") && !sl_mesh_str_match("a/*", "b/a"), "prefix");
	CHECK_OUT(sl_mesh_str_match("*/sa/x", "td/ns/n/sa/x") && !sl_mesh_str_match("*/sa/x", "sa/y"),
	      "suffix");
out:
	return;
}

int main(void)
{
	run("mesh/workloads-and-nodes", t_workloads);
	run("mesh/peerauth-precedence", t_peerauth);
	run("mesh/authz-istio-semantics", t_authz);
	run("mesh/authz-http-fails-closed", t_http_fails_closed);
	run("mesh/authz-custom-rejected", t_custom_rejected);
	run("mesh/authz-target-refs", t_target_refs);
	run("mesh/string-match", t_str_match);
	return failures ? 1 : 0;
}
