/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by the BPF programs (bpf/) and userspace (user/, tools/).
 *
 * Everything here is an on-disk contract once pinned: the maps under the pin
 * root outlive the processes that created them. Any change to a struct layout
 * bumps SL_ABI_VERSION; the loader refuses to reuse pinned maps whose config
 * record carries another version (see docs/PINNING.md for the upgrade
 * protocol).
 *
 * Rules: fixed-width types only, explicit padding, every key zeroed before it
 * is filled, byte order and units in the trailing comment of each field.
 * This header must compile both after vmlinux.h (BPF) and after <linux/types.h>
 * (userspace), so it includes nothing itself.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#define SL_ABI_MAGIC 0x534c4345u /* "SLCE" */
#define SL_ABI_VERSION 1u

/* Capacity. Maps holding policy are double-buffered (two slots, see
 * struct sl_config.active_slot), so they are sized 2x these limits. */
#define SL_MAX_SERVICES 16384u /* frontends (VIP, port, proto) per slot */
#define SL_MAX_BACKENDS 131072u /* backend rows per slot, all services */
#define SL_MAX_GROUPS 8u /* route destinations (subsets) per service */
#define SL_MAX_GROUP_BACKENDS 256u /* endpoints in one group */
#define SL_MAX_EP_STATE 262144u /* (service, endpoint) state records */
#define SL_MAX_FLOWS 65536u /* live + recently ended flow records (LRU) */
#define SL_MAX_HANDOFF 65536u /* proxy original-destination records (LRU) */
#define SL_MAX_UDP_RNAT 65536u /* UDP reverse-translation records (LRU) */
#define SL_STORE_CHUNK 32768u /* bytes per policy-store chunk */
#define SL_MAX_STORE_CHUNKS 2048u /* both slots together */
#define SL_NAME_LEN 64u

enum sl_family {
	SL_AF_INET = 4,
	SL_AF_INET6 = 6,
};

/* Load-balancing algorithm of a group (DestinationRule loadBalancer.simple).
 * The default when no DestinationRule says otherwise is SL_LB_LEAST_REQUEST,
 * as in Istio; at L4 LEAST_REQUEST and LEAST_CONN are the same algorithm. */
enum sl_lb {
	SL_LB_LEAST_REQUEST = 0,
	SL_LB_LEAST_CONN = 1,
	SL_LB_ROUND_ROBIN = 2,
	SL_LB_RANDOM = 3,
	SL_LB_PASSTHROUGH = 4, /* keep the dialled address: no translation */
};

/* struct sl_svc_val.flags */
enum sl_svc_flags {
	SL_SVC_F_HANDOFF = 1u << 0, /* connect to the local proxy instead */
};

/* struct sl_svc_val.handoff_reasons: why a service's traffic goes to the
 * proxy. Several can hold at once. */
enum sl_handoff_reason {
	SL_HO_HTTP_MATCH = 1u << 0, /* VirtualService http route with match */
	SL_HO_HTTP_FEATURE = 1u << 1, /* retries, timeout, fault, rewrite ... */
	SL_HO_MTLS_STRICT = 1u << 2, /* PeerAuthentication STRICT */
	SL_HO_AUTHZ = 1u << 3, /* AuthorizationPolicy selects it */
	SL_HO_JWT = 1u << 4, /* RequestAuthentication selects it */
	SL_HO_TLS_ROUTE = 1u << 5, /* VirtualService tls routes (SNI) */
};

/* An L4 address: used for frontends (VIP) and endpoints alike. */
struct sl_l4addr {
	__be32 addr[4]; /* IPv4 in addr[0], addr[1..3] zero; IPv6 all four */
	__be16 port; /* network byte order */
	__u8 proto; /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
	__u8 family; /* enum sl_family */
};

/* Outlier detection settings of one group, with Istio's semantics. A zero
 * threshold disables that trigger. Times are nanoseconds. */
struct sl_outlier_cfg {
	__u32 consec_5xx; /* consecutive5xxErrors; at L4: connect failures */
	__u32 consec_gw; /* consecutiveGatewayErrors */
	__u64 interval_ns; /* interval: decay period of the ejection multiplier */
	__u64 base_eject_ns; /* baseEjectionTime */
	__u8 max_eject_pct; /* maxEjectionPercent (at least one is ejectable) */
	__u8 min_health_pct; /* minHealthPercent */
	__u8 enabled; /* 0: outlier detection off for this group */
	__u8 pad[5];
};

/* One route destination of a service: a DestinationRule subset (or the whole
 * service) with the VirtualService route weight and the group's own traffic
 * policy. Its endpoints are backends[first .. first+count) of the slot. */
struct sl_group {
	__u32 first; /* index into the slot's part of sl_backends */
	__u16 count; /* number of endpoints, <= SL_MAX_GROUP_BACKENDS */
	__u16 weight; /* route weight, 0..100 */
	__u32 total; /* sum of endpoint weights in the group */
	__u32 tag; /* stable id of (service, subset): FNV-1a of the subset name, 0 for none */
	__u32 max_conns; /* connectionPool.tcp.maxConnections, 0 = unlimited */
	__u8 lb; /* enum sl_lb */
	__u8 pad[3];
	struct sl_outlier_cfg outlier;
};

/* Key of sl_services. The slot picks one of the two policy tables. */
struct sl_svc_key {
	struct sl_l4addr fe; /* frontend: VIP, port, proto */
	__u32 slot; /* 0 or 1 */
};

struct sl_svc_val {
	__u32 id; /* dense per-slot index, for userspace joins only */
	__u32 flags; /* enum sl_svc_flags */
	__u32 handoff_reasons; /* enum sl_handoff_reason bits */
	__u16 n_groups; /* groups in use */
	__u16 route_total; /* sum of group weights (100 when routed) */
	struct sl_group groups[SL_MAX_GROUPS];
};

/* sl_backends value: index slot * SL_MAX_BACKENDS + i. */
struct sl_backend {
	struct sl_l4addr ep; /* endpoint address, port = targetPort */
	__u32 weight; /* endpoint weight, >= 1 */
	__u32 cum; /* cumulative weight in its group up to and including this */
};

/* Key of sl_ep_state: state of one endpoint as seen by one service. It is
 * independent of the slot, so counters and ejections survive every apply. */
struct sl_ep_key {
	struct sl_l4addr fe;
	struct sl_l4addr ep;
};

struct sl_ep_state {
	__s64 active; /* connections in progress + established */
	__u64 opened; /* connections that reached ESTABLISHED */
	__u64 closed; /* established connections that ended */
	__u64 connect_fail; /* SYN_SENT -> CLOSE (refused, timed out) */
	__u64 rto; /* retransmission timeouts */
	__u64 bytes_sent; /* payload bytes acked by the endpoint */
	__u64 bytes_received; /* payload bytes received from the endpoint */
	__u64 segs_out;
	__u64 segs_in;
	__u64 gw_errors; /* gateway errors reported by userspace */
	__u64 http_5xx; /* 5xx reported by userspace */
	__u64 ejected_until_ns; /* CLOCK_MONOTONIC ns; 0 = not ejected */
	__u64 last_ejected_ns; /* when the current/last ejection started */
	__u64 ejections; /* times ejected, total */
	__u32 consec_fail; /* consecutive failures (5xx class) */
	__u32 consec_gw; /* consecutive gateway errors */
	__u32 eject_mult; /* current ejection multiplier */
	__u32 pad;
};

/* Key/value of sl_group_state: per (service, subset) counters. */
struct sl_group_key {
	struct sl_l4addr fe;
	__u32 tag; /* struct sl_group.tag */
};

struct sl_group_state {
	__s64 active; /* connections counted against max_conns */
	__u64 overflow; /* connect() refused by max_conns */
	__u64 rr; /* round-robin cursor */
	__u64 no_backend; /* connect() refused: no selectable endpoint */
};

/* sl_config[0]. Written by userspace; active_slot/generation are published
 * in one map update, which is what makes an apply atomic. */
struct sl_config {
	__u32 magic; /* SL_ABI_MAGIC */
	__u32 abi_version; /* SL_ABI_VERSION */
	__u32 active_slot; /* 0 or 1: which policy tables are live */
	__u32 generation; /* incremented by every successful apply */
	__be32 proxy_addr4; /* proxy listener, IPv4 */
	__be32 proxy_addr6[4]; /* proxy listener, IPv6 */
	__be16 proxy_port; /* proxy listener port, network order */
	__u16 pad0;
	__u32 proxy_mark; /* SO_MARK of the proxy's own sockets: never redirected */
	__u32 store_chunks; /* policy-store chunks in the active slot */
	__u32 store_bytes; /* compressed size of the active policy store */
	__u32 store_raw_bytes; /* uncompressed size */
	__u64 applied_ns; /* CLOCK_REALTIME ns of the last apply */
	__u32 synced_gen; /* the inactive slot equals the active one at this generation */
	__u32 backend_hwm[2]; /* per slot: backend rows in use (bump allocator) */
	__be32 svc_cidr4; /* VIPs for Services without clusterIP come from here */
	__u8 svc_cidr4_len; /* prefix length of svc_cidr4 */
	__u8 pad1[7];
};

/* Global counters, one struct, per-CPU (sl_stats[0]). */
struct sl_stats {
	__u64 connect_seen; /* connect/sendmsg calls inspected */
	__u64 connect_xlated; /* destination rewritten to an endpoint */
	__u64 connect_handoff; /* destination rewritten to the proxy */
	__u64 no_backend; /* service found, no selectable endpoint */
	__u64 overflow; /* refused by a connection limit */
	__u64 storage_fail; /* socket storage could not be created */
	__u64 ep_state_fail; /* endpoint state map full */
	__u64 flow_records; /* flow records created */
	__u64 flow_update_fail; /* flow record insert failed */
	__u64 ejections; /* endpoints ejected by the kernel */
	__u64 ejections_skipped; /* ejection withheld by max/min percent */
	__u64 handoff_record_fail; /* original destination not recorded */
	__u64 udp_rnat_fail; /* UDP reverse record not written */
	__u64 udp_rnat_hit; /* UDP reply source restored to the VIP */
};

/* Socket local storage (sl_sock_store) of a client socket that Sluice
 * translated. */
enum sl_sock_flags {
	SL_SOCK_F_COUNTED = 1u << 0, /* holds one unit of active counts */
	SL_SOCK_F_HANDOFF = 1u << 1, /* connected to the proxy */
	SL_SOCK_F_ESTABLISHED = 1u << 2,
	SL_SOCK_F_UDP = 1u << 3,
};

struct sl_sock {
	struct sl_l4addr fe; /* the address the application dialled */
	struct sl_l4addr ep; /* where it was sent */
	__u32 tag; /* group tag, for sl_group_state */
	__u32 flags; /* enum sl_sock_flags; SL_SOCK_F_COUNTED cleared with xchg */
	__u64 start_ns; /* CLOCK_MONOTONIC ns at connect() */
	__u32 rto; /* retransmission timeouts so far */
	__u32 pad;
};

/* sl_flows: key is the socket cookie (__u64). One record per connection
 * that ended (closed or failed), written by sockops at TCP_CLOSE; open
 * connections are read live from their sockets (struct sl_flow_live). The
 * table is an LRU: the oldest records make room, totals never depend on it. */
enum sl_flow_state {
	SL_FLOW_CONNECTING = 0,
	SL_FLOW_ESTABLISHED = 1,
	SL_FLOW_CLOSED = 2,
	SL_FLOW_FAILED = 3,
};

struct sl_flow {
	struct sl_l4addr fe;
	struct sl_l4addr ep;
	__u64 start_ns; /* CLOCK_MONOTONIC ns */
	__u64 end_ns; /* 0 while open */
	__u64 bytes_sent; /* as of the last update; final once closed */
	__u64 bytes_received;
	__u64 segs_out;
	__u64 segs_in;
	__u32 state; /* enum sl_flow_state */
	__u32 rto; /* retransmission timeouts on this flow */
};

/* Record the pinned iterator sl_flows_iter writes for each live socket that
 * holds sl_sock_store storage: its counters as of now, read from the TCP
 * socket itself (no TCP callback delivers them between ESTABLISHED and
 * CLOSE, and keeping a table entry per open connection up to date would
 * cost every connection map updates). */
struct sl_flow_live {
	__u64 cookie; /* socket cookie: the sl_flows key */
	struct sl_l4addr fe;
	struct sl_l4addr ep;
	__u64 bytes_sent; /* payload bytes acked by the peer (SYN not counted) */
	__u64 bytes_received; /* payload bytes received */
	__u64 segs_out;
	__u64 segs_in;
	__u32 tcp_state; /* the kernel's TCP state (1 = ESTABLISHED) */
	__u32 flags; /* enum sl_sock_flags */
	__u64 start_ns; /* CLOCK_MONOTONIC ns at connect() */
	__u32 rto; /* retransmission timeouts so far */
	__u32 pad;
};

/* sl_handoff: how the proxy finds the original destination of a socket it
 * accepted. Key: the accepted socket's (peer, local) addresses, which are the
 * client socket's (local, remote). Written by sockops when the client side
 * reaches ESTABLISHED, which on loopback happens before the proxy can accept. */
struct sl_handoff_key {
	__be32 src[4]; /* client address (the proxy's peer) */
	__be32 dst[4]; /* proxy listener address */
	__be16 sport; /* client port, network order */
	__be16 dport; /* proxy port, network order */
	__u8 family; /* enum sl_family */
	__u8 pad[3];
};

struct sl_handoff_val {
	struct sl_l4addr orig; /* the VIP the client dialled */
	__u32 reasons; /* enum sl_handoff_reason bits */
	__u64 cookie; /* client socket cookie */
};

/* sl_udp_rnat: reply source rewrite for connected/unconnected UDP. */
struct sl_udp_rnat_key {
	__u64 cookie; /* client socket cookie */
	__be32 addr[4]; /* endpoint address */
	__be16 port; /* endpoint port */
	__u8 family;
	__u8 pad[5];
};

/* Outcomes that userspace (the proxy) reports for an endpoint. It runs the
 * pinned SEC("syscall") program sl_outcome once per outcome
 * (BPF_PROG_TEST_RUN with struct sl_outcome_ctx as ctx), so the kernel applies
 * exactly the same counters and ejection rules as to its own connect failures,
 * atomically with respect to the socket hooks. */
enum sl_outcome {
	SL_OUT_SUCCESS = 0, /* resets the consecutive-error counters */
	SL_OUT_5XX = 1, /* HTTP 5xx other than a gateway error */
	SL_OUT_GATEWAY = 2, /* 502, 503, 504: counts as 5xx and as gateway error */
	SL_OUT_CONNECT_FAIL = 3, /* same as the kernel's SYN_SENT -> CLOSE */
};

struct sl_outcome_ctx {
	struct sl_l4addr fe; /* service frontend */
	struct sl_l4addr ep; /* endpoint */
	__u32 outcome; /* enum sl_outcome */
	__s32 result; /* out: 1 = ejected by this outcome, 0 = not, <0 = -errno */
};

/* sl_store: the applied policy source (zlib-compressed YAML of every applied
 * object), so that any CLI can re-read what is live. Not read by BPF. */
struct sl_store_key {
	__u32 slot;
	__u32 chunk;
};

struct sl_store_val {
	__u8 data[SL_STORE_CHUNK];
};

/* Names for metrics and `sluice get`, keyed like the state maps. */
struct sl_svc_meta {
	char name[SL_NAME_LEN]; /* Kubernetes/Istio service name */
	char ns[SL_NAME_LEN]; /* namespace */
};

struct sl_ep_meta {
	char workload[SL_NAME_LEN]; /* owning workload (pod/WorkloadEntry name) */
	char ns[SL_NAME_LEN];
	char subset[SL_NAME_LEN]; /* first subset it belongs to, "" if none */
};

struct sl_meta_key {
	struct sl_l4addr fe;
	struct sl_l4addr ep; /* all zero for a service record */
	__u32 slot;
};

#ifndef __bpf__
_Static_assert(sizeof(struct sl_l4addr) == 20, "sl_l4addr layout");
_Static_assert(sizeof(struct sl_outlier_cfg) == 32, "sl_outlier_cfg layout");
_Static_assert(sizeof(struct sl_group) == 56, "sl_group layout");
_Static_assert(sizeof(struct sl_svc_key) == 24, "sl_svc_key layout");
_Static_assert(sizeof(struct sl_svc_val) == 16 + 56 * 8, "sl_svc_val layout");
_Static_assert(sizeof(struct sl_backend) == 28, "sl_backend layout");
_Static_assert(sizeof(struct sl_ep_key) == 40, "sl_ep_key layout");
_Static_assert(sizeof(struct sl_ep_state) == 128, "sl_ep_state layout");
_Static_assert(sizeof(struct sl_group_key) == 24, "sl_group_key layout");
_Static_assert(sizeof(struct sl_group_state) == 32, "sl_group_state layout");
_Static_assert(sizeof(struct sl_config) == 88, "sl_config layout");
_Static_assert(sizeof(struct sl_sock) == 64, "sl_sock layout");
_Static_assert(sizeof(struct sl_flow) == 96, "sl_flow layout");
_Static_assert(sizeof(struct sl_handoff_key) == 40, "sl_handoff_key layout");
_Static_assert(sizeof(struct sl_handoff_val) == 32, "sl_handoff_val layout");
_Static_assert(sizeof(struct sl_udp_rnat_key) == 32, "sl_udp_rnat_key layout");
_Static_assert(sizeof(struct sl_meta_key) == 44, "sl_meta_key layout");
_Static_assert(sizeof(struct sl_outcome_ctx) == 48, "sl_outcome_ctx layout");
_Static_assert(sizeof(struct sl_flow_live) == 104, "sl_flow_live layout");
#endif

#endif /* SLUICE_ABI_H */
