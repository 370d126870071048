// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The field tables of every supported kind, and one validator that walks an
 * object against them: unknown fields, wrong types, ranges, enums, durations
 * and fields that are rejected or deprecated all come from the tables, so a
 * field's treatment is visible in one line. docs/POLICY.md lists the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum ftype {
	FT_ANY = 0, /* accepted without validation */
	FT_STR,
	FT_INT,
	FT_BOOL,
	FT_NUM, /* integer or float */
	FT_DUR, /* duration string: 30s, 1.5s, 100ms, 1h */
	FT_MAP, /* fields in sub[] (NULL-name terminated) */
	FT_DICT, /* free keys, each value per sub[0] */
	FT_ENUM,
	FT_INTSTR, /* integer (ranged) or string */
	FT_CIDR, /* IP address or CIDR */
};

struct fspec {
	const char *name;
	uint8_t type; /* enum ftype */
	uint8_t list; /* the value is a sequence of TYPE */
	uint8_t open; /* FT_MAP: unknown fields accepted */
	uint8_t level; /* SL_SEV_ERROR: rejected; SL_SEV_WARNING: warned */
	uint8_t range; /* MIN..MAX apply */
	const char *msg; /* for LEVEL */
	const struct fspec *sub;
	const char *const *enums;
	long long min, max;
};

#define F_S(n) { .name = n, .type = FT_STR }
#define F_SL(n) { .name = n, .type = FT_STR, .list = 1 }
#define F_I(n) { .name = n, .type = FT_INT }
#define F_IR(n, a, b) { .name = n, .type = FT_INT, .range = 1, .min = a, .max = b }
#define F_B(n) { .name = n, .type = FT_BOOL }
#define F_D(n) { .name = n, .type = FT_DUR }
#define F_M(n, s) { .name = n, .type = FT_MAP, .sub = s }
#define F_MO(n, s) { .name = n, .type = FT_MAP, .sub = s, .open = 1 }
#define F_ML(n, s) { .name = n, .type = FT_MAP, .sub = s, .list = 1 }
#define F_SM(n) { .name = n, .type = FT_DICT, .sub = v_str }
#define F_DICT(n, s) { .name = n, .type = FT_DICT, .sub = s }
#define F_E(n, e) { .name = n, .type = FT_ENUM, .enums = e }
#define F_A(n) { .name = n, .type = FT_ANY }
#define F_REJ(n, m) { .name = n, .type = FT_ANY, .level = SL_SEV_ERROR, .msg = m }
#define F_END { .name = NULL }
#define ENUM(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define NOT_YET "not supported yet"
#define NOT_SUP "not supported"
#define U32MAX 4294967295LL
#define I32MAX 2147483647LL

static const struct fspec v_str[] = { F_S(""), F_END };
static const struct fspec v_port[] = { F_IR("", 1, 65535), F_END };

/* ---- Kubernetes ---------------------------------------------------------- */

static const struct fspec meta_f[] = {
	F_S("name"), F_S("namespace"), F_SM("labels"), F_SM("annotations"),
	F_S("uid"), F_S("resourceVersion"), F_I("generation"),
	F_A("creationTimestamp"), F_A("deletionTimestamp"),
	F_I("deletionGracePeriodSeconds"), F_A("managedFields"),
	F_A("ownerReferences"), F_SL("finalizers"), F_S("generateName"),
	F_S("selfLink"), F_END,
};

static const struct fspec svc_port_f[] = {
	F_S("name"), F_IR("port", 1, 65535),
	{ .name = "targetPort", .type = FT_INTSTR, .range = 1, .min = 1, .max = 65535 },
	F_E("protocol", ENUM("TCP", "UDP", "SCTP")), F_IR("nodePort", 0, 65535),
	F_S("appProtocol"), F_END,
};

static const struct fspec svc_spec_f[] = {
	F_S("clusterIP"), F_SL("clusterIPs"), F_ML("ports", svc_port_f),
	F_SM("selector"),
	F_E("type", ENUM("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")),
	F_E("sessionAffinity", ENUM("None", "ClientIP")),
	F_A("sessionAffinityConfig"), F_S("externalName"), F_SL("externalIPs"),
	F_S("loadBalancerIP"), F_SL("loadBalancerSourceRanges"),
	F_S("loadBalancerClass"),
	F_E("externalTrafficPolicy", ENUM("Cluster", "Local")),
	F_E("internalTrafficPolicy", ENUM("Cluster", "Local")),
	F_IR("healthCheckNodePort", 0, 65535), F_B("publishNotReadyAddresses"),
	F_SL("ipFamilies"),
	F_E("ipFamilyPolicy", ENUM("SingleStack", "PreferDualStack", "RequireDualStack")),
	F_B("allocateLoadBalancerNodePorts"), F_S("trafficDistribution"), F_END,
};

static const struct fspec lb_port_f[] = {
	F_IR("port", 1, 65535), F_E("protocol", ENUM("TCP", "UDP", "SCTP")),
	F_S("error"), F_END,
};

/* status.loadBalancer.ingress[]: ip is programmed; ipMode and ports are
 * accepted as Kubernetes writes them and have no effect. */
static const struct fspec lb_ingress_f[] = {
	F_S("ip"), F_S("hostname"), F_E("ipMode", ENUM("VIP", "Proxy")),
	F_ML("ports", lb_port_f), F_END,
};

static const struct fspec lb_status_f[] = { F_ML("ingress", lb_ingress_f), F_END };

static const struct fspec svc_status_f[] = {
	F_M("loadBalancer", lb_status_f), F_A("conditions"), F_END,
};

static const struct fspec svc_f[] = {
	F_S("apiVersion"), F_S("kind"), F_M("metadata", meta_f),
	F_M("spec", svc_spec_f), F_MO("status", svc_status_f), F_END,
};

static const struct fspec es_cond_f[] = {
	F_B("ready"), F_B("serving"), F_B("terminating"), F_END,
};

static const struct fspec ref_f[] = {
	F_S("kind"), F_S("name"), F_S("namespace"), F_S("uid"),
	F_S("apiVersion"), F_S("resourceVersion"), F_S("fieldPath"), F_END,
};

static const struct fspec es_ep_f[] = {
	F_SL("addresses"), F_M("conditions", es_cond_f), F_M("targetRef", ref_f),
	F_S("nodeName"), F_S("zone"), F_A("hints"), F_S("hostname"),
	F_SM("deprecatedTopology"), F_END,
};

static const struct fspec es_port_f[] = {
	F_S("name"), F_IR("port", 1, 65535),
	F_E("protocol", ENUM("TCP", "UDP", "SCTP")), F_S("appProtocol"), F_END,
};

static const struct fspec es_f[] = {
	F_S("apiVersion"), F_S("kind"), F_M("metadata", meta_f),
	F_E("addressType", ENUM("IPv4", "IPv6", "FQDN")),
	F_ML("endpoints", es_ep_f), F_ML("ports", es_port_f), F_END,
};

static const struct fspec pod_ip_f[] = { F_S("ip"), F_END };

static const struct fspec pod_spec_f[] = {
	F_S("serviceAccountName"), F_S("nodeName"), F_B("hostNetwork"), F_END,
};

static const struct fspec pod_status_f[] = {
	F_S("podIP"), F_ML("podIPs", pod_ip_f), F_S("phase"), F_A("conditions"),
	F_END,
};

static const struct fspec pod_f[] = {
	F_S("apiVersion"), F_S("kind"), F_M("metadata", meta_f),
	F_MO("spec", pod_spec_f), F_MO("status", pod_status_f), F_END,
};

/* Namespace: only metadata.labels matter (namespaceSelector). */
static const struct fspec ns_f[] = {
	F_S("apiVersion"), F_S("kind"), F_M("metadata", meta_f), F_A("spec"),
	F_A("status"), F_END,
};

/* ---- networking.k8s.io NetworkPolicy -------------------------------------- */

static const struct fspec lsel_expr_f[] = {
	F_S("key"), F_E("operator", ENUM("In", "NotIn", "Exists", "DoesNotExist")),
	F_SL("values"), F_END,
};

static const struct fspec lsel_f[] = {
	F_SM("matchLabels"), F_ML("matchExpressions", lsel_expr_f), F_END,
};

/* CIDRs are checked in netcheck.c, which knows cidr and except together. */
static const struct fspec ipblock_f[] = { F_S("cidr"), F_SL("except"), F_END };

static const struct fspec np_peer_f[] = {
	F_M("podSelector", lsel_f), F_M("namespaceSelector", lsel_f),
	F_M("ipBlock", ipblock_f), F_END,
};

static const struct fspec np_port_f[] = {
	F_E("protocol", ENUM("TCP", "UDP", "SCTP")),
	{ .name = "port", .type = FT_INTSTR, .range = 1, .min = 1, .max = 65535 },
	F_IR("endPort", 1, 65535), F_END,
};

static const struct fspec np_ingress_f[] = {
	F_ML("from", np_peer_f), F_ML("ports", np_port_f), F_END,
};

static const struct fspec np_egress_f[] = {
	F_ML("to", np_peer_f), F_ML("ports", np_port_f), F_END,
};

static const struct fspec np_spec_f[] = {
	F_M("podSelector", lsel_f),
	{ .name = "policyTypes", .type = FT_ENUM, .list = 1,
	  .enums = ENUM("Ingress", "Egress") },
	F_ML("ingress", np_ingress_f), F_ML("egress", np_egress_f), F_END,
};

static const struct fspec np_f[] = {
	F_S("apiVersion"), F_S("kind"), F_M("metadata", meta_f),
	F_M("spec", np_spec_f), F_A("status"), F_END,
};

/* ---- Istio networking ---------------------------------------------------- */

static const struct fspec we_spec_f[] = {
	F_S("address"), F_DICT("ports", v_port), F_SM("labels"),
	F_IR("weight", 0, 65535), F_S("serviceAccount"), F_S("network"),
	F_S("locality"), F_END,
};

static const struct fspec se_port_f[] = {
	F_IR("number", 1, 65535), F_S("protocol"), F_S("name"),
	F_IR("targetPort", 0, 65535), F_END,
};

static const struct fspec wsel_f[] = { F_SM("labels"), F_END };

static const struct fspec se_spec_f[] = {
	F_SL("hosts"), F_SL("addresses"), F_ML("ports", se_port_f),
	F_E("location", ENUM("MESH_EXTERNAL", "MESH_INTERNAL")),
	F_E("resolution", ENUM("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN")),
	F_ML("endpoints", we_spec_f), F_M("workloadSelector", wsel_f),
	F_SL("exportTo"), F_SL("subjectAltNames"), F_END,
};

static const struct fspec strmatch_f[] = {
	F_S("exact"), F_S("prefix"), F_S("regex"), F_END,
};
static const struct fspec v_strmatch[] = { F_M("", strmatch_f), F_END };

static const struct fspec hdrops_f[] = {
	F_SM("set"), F_SM("add"), F_SL("remove"), F_END,
};

static const struct fspec headers_f[] = {
	F_M("request", hdrops_f), F_M("response", hdrops_f), F_END,
};

static const struct fspec pct_f[] = {
	{ .name = "value", .type = FT_NUM, .range = 1, .min = 0, .max = 100 }, F_END,
};

static const struct fspec portsel_f[] = { F_IR("number", 1, 65535), F_END };

static const struct fspec dest_f[] = {
	F_S("host"), F_S("subset"), F_M("port", portsel_f), F_END,
};

static const struct fspec http_match_f[] = {
	F_S("name"), F_M("uri", strmatch_f), F_M("scheme", strmatch_f),
	F_M("method", strmatch_f), F_M("authority", strmatch_f),
	F_DICT("headers", v_strmatch), F_IR("port", 1, 65535),
	F_SM("sourceLabels"), F_SL("gateways"), F_DICT("queryParams", v_strmatch),
	F_B("ignoreUriCase"), F_DICT("withoutHeaders", v_strmatch),
	F_S("sourceNamespace"), F_S("statPrefix"), F_END,
};

static const struct fspec http_dest_f[] = {
	F_M("destination", dest_f), F_IR("weight", 0, 100),
	F_M("headers", headers_f), F_END,
};

static const struct fspec redirect_f[] = {
	F_S("uri"), F_S("authority"), F_IR("port", 1, 65535),
	F_E("derivePort", ENUM("FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT")),
	F_S("scheme"), F_IR("redirectCode", 300, 399), F_END,
};

static const struct fspec regex_rw_f[] = { F_S("match"), F_S("rewrite"), F_END };

static const struct fspec rewrite_f[] = {
	F_S("uri"), F_S("authority"), F_M("uriRegexRewrite", regex_rw_f), F_END,
};

static const struct fspec retries_f[] = {
	F_IR("attempts", 0, I32MAX), F_D("perTryTimeout"), F_S("retryOn"),
	F_B("retryRemoteLocalities"), F_END,
};

static const struct fspec delay_f[] = {
	F_D("fixedDelay"), F_M("percentage", pct_f), F_IR("percent", 0, 100), F_END,
};

static const struct fspec abort_f[] = {
	F_IR("httpStatus", 200, 599), F_S("grpcStatus"),
	F_M("percentage", pct_f), F_END,
};

static const struct fspec fault_f[] = {
	F_M("delay", delay_f), F_M("abort", abort_f), F_END,
};

static const struct fspec cors_f[] = {
	F_ML("allowOrigins", strmatch_f), F_SL("allowOrigin"),
	F_SL("allowMethods"), F_SL("allowHeaders"), F_SL("exposeHeaders"),
	F_D("maxAge"), F_B("allowCredentials"),
	F_E("unmatchedPreflights", ENUM("UNSPECIFIED", "FORWARD", "IGNORE")),
	F_END,
};

static const struct fspec body_f[] = { F_S("string"), F_S("bytes"), F_END };

static const struct fspec direct_f[] = {
	F_IR("status", 200, 599), F_M("body", body_f), F_END,
};

static const struct fspec mirror_f[] = {
	F_M("destination", dest_f), F_M("percentage", pct_f), F_END,
};

static const struct fspec http_route_f[] = {
	F_S("name"), F_ML("match", http_match_f), F_ML("route", http_dest_f),
	F_M("redirect", redirect_f), F_M("directResponse", direct_f),
	F_REJ("delegate", NOT_SUP), F_M("rewrite", rewrite_f), F_D("timeout"),
	F_M("retries", retries_f), F_M("fault", fault_f), F_M("mirror", dest_f),
	F_ML("mirrors", mirror_f), F_M("mirrorPercentage", pct_f),
	F_IR("mirrorPercent", 0, 100), F_M("corsPolicy", cors_f),
	F_M("headers", headers_f), F_END,
};

static const struct fspec l4_match_f[] = {
	{ .name = "destinationSubnets", .type = FT_CIDR, .list = 1 },
	F_IR("port", 1, 65535), F_SM("sourceLabels"), F_SL("gateways"),
	F_S("sourceNamespace"), F_S("sourceSubnet"), F_END,
};

static const struct fspec tls_match_f[] = {
	F_SL("sniHosts"), { .name = "destinationSubnets", .type = FT_CIDR, .list = 1 },
	F_IR("port", 1, 65535), F_SM("sourceLabels"), F_SL("gateways"),
	F_S("sourceNamespace"), F_END,
};

static const struct fspec route_dest_f[] = {
	F_M("destination", dest_f), F_IR("weight", 0, 100), F_END,
};

static const struct fspec tcp_route_f[] = {
	F_ML("match", l4_match_f), F_ML("route", route_dest_f), F_END,
};

static const struct fspec tls_route_f[] = {
	F_ML("match", tls_match_f), F_ML("route", route_dest_f), F_END,
};

static const struct fspec vs_spec_f[] = {
	F_SL("hosts"), F_SL("gateways"), F_SL("exportTo"),
	F_ML("http", http_route_f), F_ML("tcp", tcp_route_f),
	F_ML("tls", tls_route_f), F_END,
};

static const struct fspec lb_f[] = {
	F_E("simple", ENUM("UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH",
			   "ROUND_ROBIN", "LEAST_REQUEST")),
	F_REJ("consistentHash", NOT_YET), F_REJ("localityLbSetting", NOT_YET),
	F_REJ("warmupDurationSecs", NOT_YET), F_REJ("warmup", NOT_YET), F_END,
};

static const struct fspec tcp_pool_f[] = {
	F_IR("maxConnections", 0, I32MAX), F_REJ("connectTimeout", NOT_YET),
	F_REJ("tcpKeepalive", NOT_YET), F_REJ("maxConnectionDuration", NOT_YET),
	F_REJ("idleTimeout", NOT_YET), F_END,
};

static const struct fspec http_pool_f[] = {
	F_IR("http1MaxPendingRequests", 0, I32MAX),
	F_IR("http2MaxRequests", 0, I32MAX),
	F_IR("maxRequestsPerConnection", 0, I32MAX),
	F_IR("maxRetries", 0, I32MAX), F_D("idleTimeout"),
	F_E("h2UpgradePolicy", ENUM("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE")),
	F_B("useClientProtocol"), F_IR("maxConcurrentStreams", 0, I32MAX), F_END,
};

static const struct fspec pool_f[] = {
	F_M("tcp", tcp_pool_f), F_M("http", http_pool_f), F_END,
};

static const struct fspec od_f[] = {
	F_IR("consecutive5xxErrors", 0, U32MAX),
	F_IR("consecutiveGatewayErrors", 0, U32MAX),
	{ .name = "consecutiveErrors", .type = FT_INT, .range = 1, .min = 0,
	  .max = I32MAX, .level = SL_SEV_WARNING,
	  .msg = "deprecated alias of consecutive5xxErrors" },
	F_D("interval"), F_D("baseEjectionTime"),
	F_IR("maxEjectionPercent", 0, 100), F_IR("minHealthPercent", 0, 100),
	F_REJ("splitExternalLocalOriginErrors", NOT_SUP),
	F_REJ("consecutiveLocalOriginFailures", NOT_SUP), F_END,
};

static const struct fspec cb_f[] = {
	F_IR("consecutiveErrors", 0, I32MAX), F_D("interval"),
	F_D("baseEjectionTime"), F_IR("maxEjectionPercent", 0, 100),
	F_IR("minHealthPercent", 0, 100), F_END,
};

static const struct fspec tp_f[] = {
	F_M("loadBalancer", lb_f), F_M("connectionPool", pool_f),
	F_M("outlierDetection", od_f),
	{ .name = "circuitBreaker", .type = FT_MAP, .sub = cb_f,
	  .level = SL_SEV_WARNING,
	  .msg = "legacy alias of outlierDetection (not an Istio field); "
		 "merged into outlierDetection" },
	F_REJ("tls", NOT_YET), F_REJ("portLevelSettings", NOT_YET),
	F_REJ("tunnel", NOT_SUP), F_REJ("proxyProtocol", NOT_SUP), F_END,
};

static const struct fspec subset_f[] = {
	F_S("name"), F_SM("labels"), F_M("trafficPolicy", tp_f), F_END,
};

static const struct fspec dr_spec_f[] = {
	F_S("host"), F_M("trafficPolicy", tp_f), F_ML("subsets", subset_f),
	F_SL("exportTo"), F_REJ("workloadSelector", NOT_SUP), F_END,
};

/* ---- Istio security ------------------------------------------------------ */

static const struct fspec selector_f[] = { F_SM("matchLabels"), F_END };

static const struct fspec mtls_f[] = {
	F_E("mode", ENUM("UNSET", "DISABLE", "PERMISSIVE", "STRICT")), F_END,
};
static const struct fspec v_mtls[] = { F_M("", mtls_f), F_END };

static const struct fspec pa_spec_f[] = {
	F_M("selector", selector_f), F_M("mtls", mtls_f),
	F_DICT("portLevelMtls", v_mtls), F_END,
};

#define F_CIDRS(n) { .name = n, .type = FT_CIDR, .list = 1 }
#define F_PORTS(n) { .name = n, .type = FT_INTSTR, .list = 1, .range = 1, .min = 1, .max = 65535 }

static const struct fspec source_f[] = {
	F_SL("principals"), F_SL("notPrincipals"), F_SL("requestPrincipals"),
	F_SL("notRequestPrincipals"), F_SL("namespaces"), F_SL("notNamespaces"),
	F_CIDRS("ipBlocks"), F_CIDRS("notIpBlocks"), F_CIDRS("remoteIpBlocks"),
	F_CIDRS("notRemoteIpBlocks"), F_END,
};

static const struct fspec operation_f[] = {
	F_SL("hosts"), F_SL("notHosts"), F_PORTS("ports"), F_PORTS("notPorts"),
	F_SL("methods"), F_SL("notMethods"), F_SL("paths"), F_SL("notPaths"),
	F_END,
};

static const struct fspec from_f[] = { F_M("source", source_f), F_END };
static const struct fspec to_f[] = { F_M("operation", operation_f), F_END };
static const struct fspec when_f[] = {
	F_S("key"), F_SL("values"), F_SL("notValues"), F_END,
};

static const struct fspec rule_f[] = {
	F_ML("from", from_f), F_ML("to", to_f), F_ML("when", when_f), F_END,
};

/* AuthorizationPolicy targetRefs (user/policy/authz.c checks the kind). */
static const struct fspec policy_ref_f[] = {
	F_S("group"), F_S("kind"), F_S("name"), F_S("namespace"), F_END,
};

static const struct fspec ap_spec_f[] = {
	F_M("selector", selector_f), F_REJ("targetRef", NOT_SUP),
	F_ML("targetRefs", policy_ref_f),
	F_E("action", ENUM("ALLOW", "DENY", "AUDIT", "CUSTOM")),
	F_REJ("provider", NOT_SUP " (CUSTOM actions need an external authorizer)"),
	F_ML("rules", rule_f), F_END,
};

static const struct fspec jwt_hdr_f[] = { F_S("name"), F_S("prefix"), F_END };
static const struct fspec claim_hdr_f[] = { F_S("header"), F_S("claim"), F_END };

static const struct fspec jwt_rule_f[] = {
	F_S("issuer"), F_SL("audiences"), F_S("jwksUri"), F_S("jwks"),
	F_ML("fromHeaders", jwt_hdr_f), F_SL("fromParams"), F_SL("fromCookies"),
	F_S("outputPayloadToHeader"), F_B("forwardOriginalToken"),
	F_ML("outputClaimToHeaders", claim_hdr_f), F_D("timeout"), F_END,
};

static const struct fspec ra_spec_f[] = {
	F_M("selector", selector_f), F_REJ("targetRef", NOT_SUP),
	F_REJ("targetRefs", NOT_SUP), F_ML("jwtRules", jwt_rule_f), F_END,
};

#define TOP(n, spec) \
	static const struct fspec n[] = { F_S("apiVersion"), F_S("kind"), \
					  F_M("metadata", meta_f), F_M("spec", spec), \
					  F_A("status"), F_END }
TOP(se_f, se_spec_f);
TOP(we_f, we_spec_f);
TOP(vs_f, vs_spec_f);
TOP(dr_f, dr_spec_f);
TOP(pa_f, pa_spec_f);
TOP(ap_f, ap_spec_f);
TOP(ra_f, ra_spec_f);

/* ---- kinds --------------------------------------------------------------- */

struct kind_ent {
	const char *group; /* "" for the core group */
	const char *kind;
	int id;
	const char *const *versions;
	const struct fspec *fields;
	int name_rule; /* enum name_rule: what Kubernetes checks metadata.name with */
};

#define NET_V ENUM("v1", "v1beta1", "v1alpha3")
#define SEC_V ENUM("v1", "v1beta1")

/* Name rules as the API server has them: ValidateServiceName (RFC 1035
 * label), ValidateNamespaceName (RFC 1123 label); ValidatePodName,
 * ValidateEndpointSliceName, ValidateNetworkPolicyName and every custom
 * resource (the Istio kinds) take RFC 1123 subdomains. */
static const struct kind_ent kinds[] = {
	{ "", "Service", K_SERVICE, ENUM("v1"), svc_f, NAME_LABEL_1035 },
	{ "", "Pod", K_POD, ENUM("v1"), pod_f, NAME_SUBDOMAIN },
	{ "", "Namespace", K_NAMESPACE, ENUM("v1"), ns_f, NAME_LABEL },
	{ "discovery.k8s.io", "EndpointSlice", K_ENDPOINTSLICE, ENUM("v1"), es_f, NAME_SUBDOMAIN },
	{ "networking.k8s.io", "NetworkPolicy", K_NETPOL, ENUM("v1"), np_f, NAME_SUBDOMAIN },
	{ "networking.istio.io", "ServiceEntry", K_SERVICEENTRY, NET_V, se_f, NAME_SUBDOMAIN },
	{ "networking.istio.io", "WorkloadEntry", K_WORKLOADENTRY, NET_V, we_f, NAME_SUBDOMAIN },
	{ "networking.istio.io", "VirtualService", K_VIRTUALSERVICE, NET_V, vs_f, NAME_SUBDOMAIN },
	{ "networking.istio.io", "DestinationRule", K_DESTINATIONRULE, NET_V, dr_f, NAME_SUBDOMAIN },
	{ "security.istio.io", "PeerAuthentication", K_PEERAUTHN, SEC_V, pa_f, NAME_SUBDOMAIN },
	{ "security.istio.io", "AuthorizationPolicy", K_AUTHZ, SEC_V, ap_f, NAME_SUBDOMAIN },
	{ "security.istio.io", "RequestAuthentication", K_REQAUTHN, SEC_V, ra_f, NAME_SUBDOMAIN },
};

/* Core kinds and API groups that hold no data-plane policy. */
static const char *const skip_core[] = {
	"ConfigMap", "Secret", "ServiceAccount", "Endpoints",
	"PersistentVolume", "PersistentVolumeClaim", "LimitRange",
	"ResourceQuota", "Event", "Node", "ReplicationController",
	"PodTemplate", NULL,
};

static const char *const skip_groups[] = {
	"apps", "batch", "extensions", "rbac.authorization.k8s.io", "policy",
	"autoscaling", "networking.k8s.io", "storage.k8s.io",
	"apiextensions.k8s.io", "admissionregistration.k8s.io",
	"coordination.k8s.io", "scheduling.k8s.io", "certificates.k8s.io",
	"node.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
	"gateway.networking.k8s.io", "telemetry.istio.io",
	"extensions.istio.io", "install.istio.io", NULL,
};

/* Istio kinds of a known group that the node data plane does not handle. */
static const char *const skip_istio[] = {
	"Gateway", "Sidecar", "EnvoyFilter", "WorkloadGroup", "ProxyConfig", NULL,
};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (!strcmp(*l, s))
			return true;
	return false;
}

int slp_kind_lookup(const char *api, const char *kind)
{
	char group[128];
	const char *slash = strrchr(api, '/'), *ver = slash ? slash + 1 : api;
	size_t i;

	snprintf(group, sizeof(group), "%.*s", slash ? (int)(slash - api) : 0, api);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].group, group) || strcmp(kinds[i].kind, kind))
			continue;
		return in_list(kinds[i].versions, ver) ? kinds[i].id : KIND_BAD_VERSION;
	}
	if (!*group && in_list(skip_core, kind))
		return KIND_SKIP_NOTE;
	if (in_list(skip_groups, group))
		return KIND_SKIP_NOTE;
	if (!strcmp(group, "networking.istio.io") && in_list(skip_istio, kind))
		return KIND_SKIP_NOTE;
	return KIND_UNKNOWN;
}

static const struct kind_ent *kind_ent(int id)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].id == id)
			return &kinds[i];
	return NULL;
}

const char *slp_kind_name(int id)
{
	return kind_ent(id) ? kind_ent(id)->kind : "?";
}

int slp_kind_name_rule(int id)
{
	return kind_ent(id) ? kind_ent(id)->name_rule : NAME_SUBDOMAIN;
}

/* ---- validator ----------------------------------------------------------- */

struct vctx {
	const struct object *o;
	struct sl_diags *d;
	char path[512];
	size_t plen;
};

/* The path grows by ".KEY" (KEY at the start) or "[I]" for every field
 * the validator enters; built by hand, as this runs for every field of
 * every object (snprintf() was a quarter of the checks of a full apply).
 * What does not fit leaves the path as it was. */
static void path_append(struct vctx *c, const char *a, size_t na, const char *b, size_t nb,
			const char *z, size_t nz)
{
	char *p = c->path + c->plen;

	if (c->plen + na + nb + nz >= sizeof(c->path))
		return;
	memcpy(p, a, na);
	memcpy(p + na, b, nb);
	memcpy(p + na + nb, z, nz);
	c->plen += na + nb + nz;
}

static void path_key(struct vctx *c, const char *key)
{
	path_append(c, ".", c->plen ? 1 : 0, key, strlen(key), "", 0);
}

static void path_index(struct vctx *c, size_t i)
{
	char d[SLP_UDEC_LEN];
	const char *s = slp_udec(d, i);

	path_append(c, "[", 1, s, strlen(s), "]", 1);
}

static void verr(struct vctx *c, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verr(struct vctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	c->path[c->plen] = 0;
	va_start(ap, fmt);
	slp_diag_addv(c->d, SL_SEV_ERROR, c->o->file, n->line, n->col, c->path, fmt, ap);
	va_end(ap);
}

static void type_err(struct vctx *c, const struct node *n, const char *want)
{
	verr(c, n, "expected %s, got %s", want, slp_ntype_name(n->type));
}

static void v_value(struct vctx *c, const struct node *n, const struct fspec *f);

static void v_int(struct vctx *c, const struct node *n, const struct fspec *f)
{
	long long v;

	if (!slp_node_int(n, &v)) {
		verr(c, n, "integer %s out of range", n->s);
		return;
	}
	if (f->range && (v < f->min || v > f->max))
		verr(c, n, "%lld out of range %lld..%lld", v, f->min, f->max);
}

static void v_num(struct vctx *c, const struct node *n, const struct fspec *f)
{
	double v;

	if (n->type != T_INT && n->type != T_FLOAT) {
		type_err(c, n, "number");
		return;
	}
	v = strtod(n->s, NULL);
	if (f->range && !(v >= (double)f->min && v <= (double)f->max))
		verr(c, n, "%s out of range %lld..%lld", n->s, f->min, f->max);
}

static void v_enum(struct vctx *c, const struct node *n, const struct fspec *f)
{
	char buf[256] = "";
	const char *const *e;
	size_t off = 0;

	if (n->type != T_STR) {
		type_err(c, n, "string");
		return;
	}
	if (in_list(f->enums, n->s))
		return;
	for (e = f->enums; *e && off < sizeof(buf); e++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
					e == f->enums ? "" : ", ", *e);
	verr(c, n, "unknown value \"%s\" (expected one of %s)", n->s, buf);
}

static void v_map(struct vctx *c, const struct node *n, const struct fspec *f)
{
	const struct fspec *sub;
	size_t i, save = c->plen;

	for (i = 0; i < n->n; i++) {
		for (sub = f->sub; sub->name && strcmp(sub->name, n->keys[i]->s); sub++)
			;
		path_key(c, n->keys[i]->s);
		if (sub->name)
			v_value(c, n->vals[i], sub);
		else if (!f->open)
			verr(c, n->keys[i], "unknown field \"%s\"", n->keys[i]->s);
		c->plen = save;
		c->path[c->plen] = 0;
	}
}

static void v_dict(struct vctx *c, const struct node *n, const struct fspec *f)
{
	size_t i, save = c->plen;
	struct fspec val = f->sub[0];

	val.level = 0;
	for (i = 0; i < n->n; i++) {
		path_key(c, n->keys[i]->s);
		v_value(c, n->vals[i], &val);
		c->plen = save;
		c->path[c->plen] = 0;
	}
}

static void v_scalar(struct vctx *c, const struct node *n, const struct fspec *f)
{
	struct sl_l4addr a;
	uint64_t ns;
	int plen;

	switch (f->type) {
	case FT_STR:
		if (n->type != T_STR)
			type_err(c, n, "string");
		break;
	case FT_INT:
		if (n->type != T_INT)
			type_err(c, n, "integer");
		else
			v_int(c, n, f);
		break;
	case FT_BOOL:
		if (n->type != T_BOOL)
			type_err(c, n, "boolean");
		break;
	case FT_NUM:
		v_num(c, n, f);
		break;
	case FT_DUR:
		if (n->type != T_STR)
			type_err(c, n, "duration string (e.g. 30s)");
		else if (slp_parse_duration_ns(n->s, &ns))
			verr(c, n, "invalid duration \"%s\" (expected e.g. 30s, 1.5s, 100ms, 1h)",
			     n->s);
		break;
	case FT_ENUM:
		v_enum(c, n, f);
		break;
	case FT_INTSTR:
		if (n->type == T_INT)
			v_int(c, n, f);
		else if (n->type != T_STR)
			type_err(c, n, "integer or string");
		break;
	case FT_CIDR:
		if (n->type != T_STR)
			type_err(c, n, "string");
		else if (slp_parse_cidr(n->s, &a, &plen))
			verr(c, n, "invalid IP address or CIDR \"%s\"", n->s);
		break;
	default:
		break;
	}
}

static void v_one(struct vctx *c, const struct node *n, const struct fspec *f)
{
	if (n->type == T_NULL)
		return;
	if (f->type == FT_MAP || f->type == FT_DICT) {
		if (n->type != T_MAP)
			type_err(c, n, "mapping");
		else if (f->type == FT_MAP)
			v_map(c, n, f);
		else
			v_dict(c, n, f);
		return;
	}
	if (f->type != FT_ANY && (n->type == T_MAP || n->type == T_SEQ)) {
		type_err(c, n, f->type == FT_INT ? "integer" :
			       f->type == FT_BOOL ? "boolean" :
			       f->type == FT_NUM ? "number" :
			       f->type == FT_INTSTR ? "integer or string" : "string");
		return;
	}
	v_scalar(c, n, f);
}

static void v_value(struct vctx *c, const struct node *n, const struct fspec *f)
{
	size_t i, save = c->plen;

	if (n->type == T_NULL)
		return;
	c->path[c->plen] = 0;
	if (f->level == SL_SEV_ERROR) {
		verr(c, n, "%s", f->msg);
		return;
	}
	if (f->level == SL_SEV_WARNING)
		slp_diag_add(c->d, SL_SEV_WARNING, c->o->file, n->line, n->col, c->path,
			 "%s", f->msg);
	if (f->type == FT_ANY)
		return;
	if (!f->list) {
		v_one(c, n, f);
		return;
	}
	if (n->type != T_SEQ) {
		type_err(c, n, "sequence");
		return;
	}
	for (i = 0; i < n->n; i++) {
		path_index(c, i);
		v_one(c, n->vals[i], f);
		c->plen = save;
		c->path[c->plen] = 0;
	}
}

void slp_schema_validate(const struct object *o, int id, struct sl_diags *d)
{
	struct vctx c = { .o = o, .d = d };
	const struct kind_ent *k = kind_ent(id);
	struct fspec top = { .name = "", .type = FT_MAP };

	if (!k)
		return;
	top.sub = k->fields;
	v_one(&c, o->root, &top);
}
