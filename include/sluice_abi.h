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
#define SL_ABI_VERSION 6u /* 2: the load record (sl_load), sl_mtls;
                              * 3: state arrays indexed by ids, the socket table, per-socket sockops;
                              * 4: services in an array behind a bucketed index (sl_svc_index);
                              * 5: the two-write switch readers check (sl_stats.slot_moved,
                              *    sl_xdp_stats.slot_moved);
                              * 6: names (sl_svc_meta, sl_ep_meta) for both slots at once */

/* Capacity. Maps holding policy are double-buffered (two slots, see
 * struct sl_config.active_slot), so they are sized 2x these limits. */
#define SL_MAX_SERVICES 16384u /* frontends (VIP, port, proto) per slot */
#define SL_SVC_BUCKETS 8192u /* sl_svc_index buckets per slot (power of two) */
#define SL_SVC_WAYS 8u /* services one bucket holds: one 64-byte line */
#define SL_MAX_BACKENDS 131072u /* backend rows per slot, all services */
#define SL_MAX_GROUPS 8u /* route destinations (subsets) per service */
#define SL_MAX_GROUP_BACKENDS 256u /* endpoints in one group */
#define SL_MAX_EP_STATE 262144u /* (service, endpoint) state records, id 0 unused */
#define SL_MAX_GROUP_STATE (2u * SL_MAX_SERVICES * SL_MAX_GROUPS) /* (service, subset) */
#define SL_MAX_SOCKS 65536u /* socket table: open + recently ended connections */
#define SL_SOCK_PROBES 4u /* slots a socket may take, from cookie % SL_MAX_SOCKS */
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
	__u32 state; /* index into sl_group_state (user/stateid.c); 0 = none */
	__u8 lb; /* enum sl_lb */
	__u8 pad[7];
	struct sl_outlier_cfg outlier;
};

/* A service of one slot, as userspace names it (user/svctab.h); not a map
 * key: sl_svc_index finds the row. */
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

/*
 * Services: sl_services[slot * SL_MAX_SERVICES + row] holds a service's
 * row; sl_svc_index[slot * SL_SVC_BUCKETS + b] says which rows the bucket
 * b holds. Both are arrays, so the connect path looks a service up with
 * inline loads and no call (a hash map lookup is three calls, each with a
 * return thunk on mitigated kernels). A frontend hashes (sl_svc_hash) to
 * two buckets and a 32-bit tag; it sits in one of the 2 x SL_SVC_WAYS ways,
 * and its row repeats the frontend, so a tag shared by another address
 * finds nothing. user/svctab.c places services: in the emptier of the two
 * buckets, never beside another with the same tag (so the first tag match
 * is the only one), rows from a per-slot bump allocator
 * (sl_config.svc_hwm) compacted by whole-slot rewrites.
 */
struct sl_svc_bucket {
	__u32 tag[SL_SVC_WAYS]; /* sl_svc_tag() of the way's service; 0 = empty */
	__u32 row[SL_SVC_WAYS]; /* its row in the slot's part of sl_services */
};

struct sl_svc_row {
	struct sl_l4addr fe; /* the frontend; a lookup checks it */
	__u32 pad;
	struct sl_svc_val val;
};

/* The frontend's hash: its three 64-bit words folded in one at a time,
 * each step a multiply by an odd constant and an xor-shift (both
 * bijections, so frontends that differ in one word never collide). The
 * programs and user/svctab.c both use these three, so they cannot disagree. */
static inline __u64 sl_svc_mix(__u64 h, __u64 w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

static inline __u64 sl_svc_hash(const struct sl_l4addr *fe)
{
	__u64 h = 0x2545f4914f6cdd1dull;

	h = sl_svc_mix(h, ((__u64)fe->addr[0] << 32) | fe->addr[1]);
	h = sl_svc_mix(h, ((__u64)fe->addr[2] << 32) | fe->addr[3]);
	h = sl_svc_mix(h, ((__u64)fe->port << 16) | ((__u64)fe->proto << 8) | fe->family);
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

static inline __u32 sl_svc_tag(__u64 h)
{
	return (__u32)(h >> 32) | 1u; /* never 0, which marks an empty way */
}

/* The I-th (0 or 1) bucket of a hash within its slot; the two differ. */
static inline __u32 sl_svc_bucket_of(__u64 h, __u32 i)
{
	__u32 b0 = (__u32)h & (SL_SVC_BUCKETS - 1);
	__u32 b1 = (__u32)(h >> 16) & (SL_SVC_BUCKETS - 1);

	if (!i)
		return b0;
	return b1 != b0 ? b1 : b0 ^ 1u;
}

/* sl_backends value: index slot * SL_MAX_BACKENDS + i. */
struct sl_backend {
	struct sl_l4addr ep; /* endpoint address, port = targetPort */
	__u32 weight; /* endpoint weight, >= 1 */
	__u32 cum; /* cumulative weight in its group up to and including this */
	__u32 state; /* index into sl_ep_state of (service, this endpoint); 0 = none */
};

/*
 * Live state: sl_ep_state[id] per (service, endpoint) and sl_group_state[id]
 * per (service, subset), arrays indexed by ids that the publisher writes
 * into every backend row and group (user/stateid.c assigns them). An id
 * belongs to its pair for as long as the pair is in the policy, in either
 * slot, so counters, active counts and ejections survive every apply; the
 * connect path reaches the state with array lookups, no hashing.
 *
 * sl_ep_ids / sl_group_ids are the directory, written by userspace only:
 * pair -> id, for readers that start from addresses (metrics, `sluice
 * get`, sl_outcome, node ingress). A pair that leaves the policy keeps its
 * entry as RETIRING; its id is reused only after SL_STATE_GRACE_NS with no
 * connection left on it (a connect() that read the old policy finishes in
 * microseconds; one that holds a unit keeps `active` above 0).
 */
struct sl_ep_key {
	struct sl_l4addr fe;
	struct sl_l4addr ep;
};

enum sl_state_status {
	SL_STATE_ASSIGNED = 1, /* the pair is in the published policy */
	SL_STATE_RETIRING = 2, /* left it; freed once idle for SL_STATE_GRACE_NS */
};

#define SL_STATE_GRACE_NS (2ull * 1000000000ull)

struct sl_state_ref {
	__u32 id; /* index into sl_ep_state or sl_group_state, >= 1 */
	__u32 status; /* enum sl_state_status */
	__u64 since_ns; /* CLOCK_MONOTONIC ns when it started RETIRING */
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
	__u16 gen; /* userspace: bumped when the id is given to a pair */
	__u16 in_use; /* userspace: 1 while the id belongs to a pair */
};

/* Key of sl_group_ids: a (service, subset). */
struct sl_group_key {
	struct sl_l4addr fe;
	__u32 tag; /* struct sl_group.tag */
};

struct sl_group_state {
	__s64 active; /* connections counted against max_conns */
	__u64 overflow; /* connect() refused by max_conns */
	__u64 rr; /* round-robin cursor */
	__u64 no_backend; /* connect() refused: no selectable endpoint */
	__u32 in_use; /* userspace: 1 while the id belongs to a pair */
	__u32 pad;
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
	__u32 svc_hwm[2]; /* per slot: sl_services rows in use (bump allocator) */
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
	__u64 storage_fail; /* no free slot in sl_socks: connection held nothing */
	__u64 ep_state_fail; /* a row or group without a state id */
	__u64 flow_records; /* connections whose final counters were recorded */
	__u64 cb_fallback; /* connect could not arm sockops callbacks itself */
	__u64 ejections; /* endpoints ejected by the kernel */
	__u64 ejections_skipped; /* ejection withheld by max/min percent */
	__u64 handoff_record_fail; /* original destination not recorded */
	__u64 udp_rnat_fail; /* UDP reverse record not written */
	__u64 udp_rnat_hit; /* UDP reply source restored to the VIP */
	__u64 slot_moved; /* a slot read switched away meanwhile: connect/sendmsg read it again,
			   * an outlier ejection decided over it is not made */
};

/*
 * sl_socks: the socket table, one record per client socket that Sluice
 * translated, in a preallocated array: a connect() claims a slot with one
 * compare-and-swap of `owner` (no allocation), the socket's own programs
 * find it again from its cookie (bpf/lib/socktab.h). The first cache line
 * is what the data path needs; the second is the flow: written at
 * TCP_CLOSE and kept after the slot is freed (owner = 0) until another
 * socket claims it, so `sluice flows` lists open connections and the most
 * recently ended ones from this one table.
 */
enum sl_sock_flags {
	SL_SOCK_F_COUNTED = 1u << 0, /* holds one unit of active counts */
	SL_SOCK_F_HANDOFF = 1u << 1, /* connected to the proxy */
	SL_SOCK_F_ESTABLISHED = 1u << 2,
	SL_SOCK_F_UDP = 1u << 3,
	SL_SOCK_F_RELEASED = 1u << 4, /* close() (cgroup/sock_release) seen */
	SL_SOCK_F_CLOSED = 1u << 5, /* the connection's end is settled (bpf/lib/flowend.h) */
	SL_SOCK_F_ENDS_AT_CLOSE = 1u << 6, /* TCP, no STATE callbacks: close() ends it */
	/* TCP on a node whose sockops is always attached (`--sockops on`):
	 * sockops marks ESTABLISHED, so an open flow without it is connecting */
	SL_SOCK_F_SOCKOPS = 1u << 7,
};

enum sl_flow_state {
	SL_FLOW_CONNECTING = 0,
	SL_FLOW_ESTABLISHED = 1,
	SL_FLOW_CLOSED = 2,
	SL_FLOW_FAILED = 3,
};

struct sl_sock {
	__u64 owner; /* cookie of the socket holding the slot; 0 = free */
	struct sl_l4addr fe; /* the address the application dialled */
	struct sl_l4addr ep; /* where it was sent */
	__u32 ep_state; /* sl_ep_state id, 0 = none */
	__u32 grp_state; /* sl_group_state id, 0 = none */
	__u32 flags; /* enum sl_sock_flags: set by the connect() that claims
		      * the slot, changed with atomics only after that */
	__u16 ep_gen; /* sl_ep_state.gen when taken: a reused id is not ours */
	__u16 pad;
	/* the flow record (second cache line) */
	__u64 cookie; /* socket cookie of the flow described here */
	__u64 start_ns; /* CLOCK_MONOTONIC ns at connect() */
	__u64 end_ns; /* at close() or TCP_CLOSE (bpf/lib/flowend.h); 0 while open */
	__u64 bytes_sent; /* payload bytes: written by the application when the
			   * end is read at close(), acked by the peer when at
			   * TCP_CLOSE; final once ended */
	__u64 bytes_received; /* payload bytes received */
	__u64 segs_out;
	__u64 segs_in;
	__u32 rto; /* retransmission timeouts on this flow */
	__u32 state; /* enum sl_flow_state, final once end_ns is set */
};

/* sl_rt[0]: what the kernel found out at run time (written by BPF). */
struct sl_runtime {
	__u32 cb_fallback; /* 1: bpf_setsockopt(TCP_BPF_SOCK_OPS_CB_FLAGS) is
			    * refused in connect4 (kernels before 6.10), so
			    * sockops arms its callbacks at TCP_CONNECT_CB after
			    * a socket-table lookup */
	__u32 pad;
};

/* Record the pinned iterator sl_flows_iter writes for each open socket
 * that holds a slot in sl_socks: its counters as of now, read from the TCP
 * socket itself (no TCP callback delivers them between ESTABLISHED and
 * CLOSE). One per file descriptor: a socket shared by several appears as
 * often; readers keep one per cookie. */
struct sl_flow_live {
	__u64 cookie; /* socket cookie: sl_socks key */
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

/* Names for metrics and `sluice get` (sl_svc_meta, sl_ep_meta), keyed by
 * service or (service, endpoint): one entry for both slots, and one for a
 * single slot only while a publication renames (user/names.h). Not read by
 * BPF. */
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
	__u32 slot; /* SL_NAMES_BOTH, or the one slot a name is different in */
};

#define SL_NAMES_BOTH 2u

/* ======================================================================
 * Node ingress (bpf/xdp_lb.bpf.c, bpf/tc_nat.bpf.c) and pod interfaces
 * (bpf/tc_pod.bpf.c). Maps in bpf/lib/maps_node.h.
 * ====================================================================== */

#define SL_MAX_INGRESS 16384u /* node-ingress frontends per slot */
#define SL_MAX_MAGLEV_CELLS (1u << 22) /* Maglev cells per slot, all rings */
#define SL_MAGLEV_MIN 251u /* smallest ring (a prime) */
#define SL_MAGLEV_PER_EP 128u /* ring cells per endpoint, about (user/maglev.c) */
#define SL_MAX_CT 262144u /* node-ingress connection tracking (LRU) */
#define SL_MAX_NODE_ADDRS 256u /* addresses NodePorts answer on */
#define SL_MAX_PFLOWS 262144u /* pod-interface flow records (LRU) */
#define SL_MAX_POD_IFACES 4096u /* pod interfaces with counters */
#define SL_MAX_NP_PODS 65536u /* pods selected by a NetworkPolicy, per slot */
#define SL_MAX_NP_PREFIXES 262144u /* NetworkPolicy prefixes, both slots */
#define SL_MAX_NP_PORTSETS 65536u /* NetworkPolicy port sets, both slots */
#define SL_NP_MAX_RANGES 16u /* port ranges in one port set */

/* A packet's addresses and ports, both families. For ICMP echo the port
 * fields carry the identifier (sport) and zero (dport). */
struct sl_tuple {
	__be32 saddr[4]; /* IPv4 in [0], [1..3] zero */
	__be32 daddr[4];
	__be16 sport; /* network byte order */
	__be16 dport;
	__u8 proto; /* IPPROTO_* */
	__u8 family; /* enum sl_family */
	__u8 pad[2];
};

/* struct sl_ingress_val.kind: where a node-ingress frontend comes from. */
enum sl_ingress_kind {
	SL_ING_EXTERNAL_IP = 1, /* Service spec.externalIPs */
	SL_ING_LB = 2, /* Service status.loadBalancer.ingress[].ip */
	SL_ING_NODEPORT = 3, /* Service ports[].nodePort on any node address */
};

/* sl_ingress key: a frontend as it arrives on the wire. A NodePort has an
 * all-zero address (family set) and matches every address in sl_node_addrs. */
struct sl_ingress_key {
	struct sl_l4addr fe;
	__u32 slot; /* 0 or 1, as sl_svc_key */
};

struct sl_ingress_val {
	struct sl_l4addr svc; /* the cluster frontend: sl_services/state key */
	__u32 ring_off; /* first cell of its ring in the slot's part of sl_maglev */
	__u32 ring_size; /* M, a prime; 0 = no endpoint (drop, counted) */
	__u32 kind; /* enum sl_ingress_kind */
	__u32 pad;
};

/* sl_fe_ports: which destination ports have a node-ingress frontend, so
 * that XDP lets every other packet go after one array read. A __u64 word
 * per 64 ports: index slot * 2048 + (proto == UDP) * 1024 + port / 64, bit
 * port % 64 (port in host order). Written whole per slot by the publisher. */
#define SL_FE_PORT_WORDS 1024u /* per slot and protocol */

static inline __attribute__((unused)) __u32 sl_fe_port_word(__u32 slot, __u8 proto, __u16 port)
{
	return slot * 2 * SL_FE_PORT_WORDS + (proto == 17 ? SL_FE_PORT_WORDS : 0) + port / 64;
}

/* sl_maglev cell (index slot * SL_MAX_MAGLEV_CELLS + ring_off + h % M):
 * the backend row in the slot's part of sl_backends, and the group it
 * belongs to in the service's sl_svc_val.groups. */
#define SL_MAGLEV_ROW_MASK 0x00ffffffu
#define SL_MAGLEV_GROUP_SHIFT 24

/* sl_ct: node-ingress connection tracking, key = the packet as the client
 * sent it (client -> frontend). */
enum sl_ct_flags {
	SL_CT_F_COUNTED = 1u << 0, /* holds one unit of the group's active count */
	SL_CT_F_FIN_FWD = 1u << 1, /* FIN seen from the client */
	SL_CT_F_FIN_REV = 1u << 2, /* FIN seen from the endpoint */
	SL_CT_F_CLOSED = 1u << 3, /* RST, or FIN both ways: count released */
};

struct sl_ct_val {
	struct sl_l4addr ep; /* the endpoint the flow is pinned to */
	struct sl_l4addr svc; /* the cluster frontend, for group and ep state */
	__u32 tag; /* group tag, for sl_group_state */
	__u32 flags; /* enum sl_ct_flags, changed with atomic or */
	__u64 created_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 last_ns; /* last packet either way */
	__u64 packets_fwd; /* client -> endpoint */
	__u64 packets_rev; /* endpoint -> client */
};

/* sl_rnat: reply translation, key = the reply as the endpoint sends it
 * (endpoint -> client); value = the frontend the client dialled. */

/* sl_node_addrs key: an address NodePorts answer on. Value: __u32 ifindex
 * it was found on (informational). */
struct sl_node_addr {
	__be32 addr[4];
	__u8 family;
	__u8 pad[3];
};

/* Drop reasons, shared by XDP and TC. Every dropped packet is counted
 * under exactly one of these. */
enum sl_drop_reason {
	SL_DROP_POLICY_INGRESS = 0, /* NetworkPolicy: not allowed into the pod */
	SL_DROP_POLICY_EGRESS = 1, /* NetworkPolicy: not allowed out of the pod */
	SL_DROP_FRAGMENT = 2, /* a later fragment where ports decide */
	SL_DROP_MALFORMED = 3, /* truncated or inconsistent headers */
	SL_DROP_NO_BACKEND = 4, /* frontend with no selectable endpoint */
	SL_DROP_CONN_LIMIT = 5, /* connectionPool.tcp.maxConnections */
	SL_DROP_NAT_FAIL = 6, /* a header rewrite failed */
	SL_DROP_CT_FAIL = 7, /* tracking record could not be written */
	SL_DROP_SPOOFED = 8, /* left a pod with a source routed to another interface */
	SL_DROP__COUNT = 9,
};

/* sl_xdp_stats[0], per-CPU: the node-ingress path. */
struct sl_xdp_stats {
	__u64 packets; /* packets seen by XDP */
	__u64 not_service; /* passed untouched: not to a frontend */
	__u64 new_flows; /* endpoint chosen from the Maglev ring */
	__u64 ct_hits; /* established flow, endpoint from sl_ct */
	__u64 ct_reselect; /* tracked endpoint gone or closed: chosen anew */
	__u64 ejected_skipped; /* ring cells skipped: endpoint ejected */
	__u64 passed; /* translated, XDP_PASS into the stack */
	__u64 redirected; /* translated, XDP_REDIRECT */
	__u64 rnat; /* replies translated back by TC */
	__u64 icmp_rnat; /* ICMP errors translated back by TC */
	__u64 fragments; /* fragments passed untouched */
	__u64 slot_moved; /* a new flow's slot switched away while read: read again */
	__u64 drops[SL_DROP__COUNT]; /* by enum sl_drop_reason */
};

/* sl_pflows: pod-interface flow records. The key is canonical (the lower
 * (address, port) first), so both directions of a flow share one record;
 * index 0 of the arrays is the direction saddr -> daddr of the key. LRU:
 * evicted records are folded into sl_pod_totals, which TC also updates on
 * every packet, so totals are exact whatever the table holds. */
struct sl_pflow_key {
	struct sl_tuple t;
	__u32 ifindex; /* the pod-side (host end) interface */
	__u32 pad;
};

enum sl_pflow_flags {
	SL_PF_INIT_REV = 1u << 0, /* the first packet went daddr -> saddr */
	SL_PF_ALLOW_INGRESS = 1u << 1, /* the pod's ingress policy admitted it */
	SL_PF_ALLOW_EGRESS = 1u << 2, /* the pod's egress policy admitted it */
};

struct sl_pflow_val {
	__u64 packets[2];
	__u64 bytes[2]; /* L3 bytes (IP header and payload) */
	__u64 payload[2]; /* L4 payload bytes (TCP/UDP/SCTP data; 0 otherwise) */
	__u64 first_ns; /* CLOCK_MONOTONIC */
	__u64 last_ns;
	__u8 tcp_flags[2]; /* OR of the TCP flags seen each way */
	__u8 flags; /* enum sl_pflow_flags */
	__u8 pad[5];
};

/* sl_pod_totals, per-CPU, key __u32 ifindex: exact per-interface totals.
 * dir 0 = from the pod (TC ingress on the host end), 1 = to the pod. */
struct sl_pod_totals {
	__u64 packets[2];
	__u64 bytes[2];
	__u64 flows; /* flow records created */
	__u64 drops[SL_DROP__COUNT];
};

/* NetworkPolicy. A pod selected by some policy for a direction is isolated
 * in that direction; its set id names the prefixes and ports it admits.
 * Set ids carry the slot in bit 31, so both slots' sets coexist. */
#define SL_NP_SLOT_BIT 0x80000000u

struct sl_np_pod_key {
	__be32 addr[4]; /* the pod IP */
	__u8 family;
	__u8 pad[3];
	__u32 slot;
};

struct sl_np_pod_val {
	__u32 ingress_set; /* 0 = not isolated for ingress */
	__u32 egress_set; /* 0 = not isolated for egress */
};

/* sl_np_prefixes, an LPM trie. prefixlen counts the 64 bits of set and
 * family/pad, plus the address prefix. */
struct sl_np_lpm_key {
	__u32 prefixlen;
	__u32 set;
	__u8 family;
	__u8 pad[3];
	__be32 addr[4];
};

/* The value of a prefix: the port set admitted for peers in it (0 = none:
 * the prefix is an `except` hole with nothing else admitting it). */
struct sl_np_lpm_val {
	__u32 portset;
};

struct sl_np_range {
	__u16 lo; /* host byte order, inclusive */
	__u16 hi;
	__u8 proto; /* IPPROTO_TCP, UDP or SCTP; 0 = every protocol and port */
	__u8 pad[3];
};

/* sl_np_ports, key __u32 portset id (slot bit included). */
struct sl_np_ports {
	__u32 n; /* ranges in use */
	__u32 pad;
	struct sl_np_range r[SL_NP_MAX_RANGES];
};

/* sl_load[0]: what the last `sluice load` did, for status, metrics, repair
 * and unload. The loader writes phase LOADING before it attaches anything
 * and COMPLETE after the last step; a record found in LOADING means a load
 * was interrupted (SIGKILL, power loss) and the node may be half-loaded.
 *
 * Kernel features the data plane uses, probed at load. Required ones stop
 * the load when missing; optional ones degrade by name (status, metrics and
 * `sluice flows` say what is unavailable and why). The names live in
 * user/features.c, one table. */
enum sl_feature_id {
	SL_FEAT_SOCK_ADDR = 0, /* cgroup sock_addr hooks: connect, sendmsg, recvmsg, getpeername */
	SL_FEAT_SOCK_RELEASE = 1, /* cgroup/sock_release */
	SL_FEAT_SOCKOPS = 2, /* sockops: TCP lifecycle, accounting, outlier detection */
	SL_FEAT_SK_STORAGE = 3, /* socket local storage maps */
	SL_FEAT_SYSCALL_PROG = 4, /* SEC("syscall"): outcome reports, CT GC, policy re-judging */
	SL_FEAT_LIVE_FLOWS = 5, /* tracing iterator: live counters of open flows (optional) */
	SL_FEAT_XDP = 6, /* node ingress (with --iface) */
	SL_FEAT_TC = 7, /* reverse NAT and pod hooks (with --iface / --pod-iface) */
	SL_FEAT_TCX = 8, /* tcx links; else cls_bpf filters (optional) */
	SL_FEAT_SET_RETVAL = 9, /* refusals fail with ECONNREFUSED; else EPERM (optional) */
	SL_FEAT_PROG_STATS = 10, /* kernel.bpf_stats_enabled: program run time (optional) */
	SL_FEAT_CLOSE_AT_RELEASE = 11, /* close() reads TCP counters (kfuncs); else sockops
					* ends connections at TCP_CLOSE (optional) */
	SL_FEAT_RTO_TOTAL = 12, /* tcp_sock.total_rto: close() counts RTOs, so a load
				 * may do without sockops (--sockops off; optional) */
	SL_FEAT__COUNT,
};
#define SL_MAX_FEATURES 16u

enum sl_feature_status {
	SL_FS_UNKNOWN = 0, /* not probed (an older loader wrote the record) */
	SL_FS_AVAILABLE = 1,
	SL_FS_UNAVAILABLE = 2, /* probed and refused; err says why */
	SL_FS_NOT_REQUESTED = 3, /* not asked for by this load (no --iface ...) */
};

/* Where a feature's answer comes from when it has more than one source. */
enum sl_feature_source {
	SL_FSRC_NONE = 0,
	SL_FSRC_ITER = 1, /* live flows read from sockets by the iterator */
	SL_FSRC_SOCKOPS = 2, /* open flows listed from the socket table (sl_socks), no live counters */
	SL_FSRC_TCX = 3,
	SL_FSRC_CLS_BPF = 4,
};

/* Why the kernel refused a feature, as the loading process saw it: its
 * effective capabilities, its user namespace, lockdown. Recorded at load,
 * because a reader (`sluice status`) has other capabilities than the
 * loader had. 0 in records of loaders that did not know (layout unchanged:
 * this was padding). docs/PRIVILEGES.md. */
enum sl_feature_cause {
	SL_FCAUSE_NONE = 0, /* not refused, or not known */
	SL_FCAUSE_CAP_BPF = 1, /* neither CAP_BPF nor CAP_SYS_ADMIN */
	SL_FCAUSE_CAP_NET_ADMIN = 2, /* a network program type without CAP_NET_ADMIN */
	SL_FCAUSE_CAP_PERFMON = 3, /* tracing type, or a verifier check, without CAP_PERFMON */
	SL_FCAUSE_USERNS = 4, /* capabilities held only in a user namespace */
	SL_FCAUSE_LOCKDOWN = 5, /* kernel lockdown is active */
	SL_FCAUSE_KERNEL = 6, /* EPERM with every capability: lockdown or a security module */
	SL_FCAUSE_STATS_OFF = 7, /* kernel.bpf_stats_enabled is 0 */
};

struct sl_feature_state {
	__u32 status; /* enum sl_feature_status */
	__s32 err; /* the kernel's errno when UNAVAILABLE (positive), else 0 */
	__u32 source; /* enum sl_feature_source */
	__u32 cause; /* enum sl_feature_cause, when UNAVAILABLE */
};

enum sl_load_phase {
	SL_LOAD_NONE = 0,
	SL_LOAD_LOADING = 1, /* a load started and has not finished */
	SL_LOAD_COMPLETE = 2,
};

#define SL_LOAD_MAX_PROGS 32u
#define SL_CGROUP_PATH_LEN 256u

enum sl_load_flags {
	/* `--sockops off`: no sockops program attached; establishment and RTOs
	 * of a connection are read from the socket at close() */
	SL_LOAD_F_NO_SOCKOPS = 1u << 0,
	/* `--sockops auto` (the default) where it took effect: sockops is
	 * attached while the live policy hands off (user/sockops_link.h);
	 * neither flag: always attached */
	SL_LOAD_F_SOCKOPS_AUTO = 1u << 1,
};

struct sl_load_rec {
	__u32 phase; /* enum sl_load_phase */
	__u32 pid; /* of the loader that wrote the record */
	__u64 started_ns; /* CLOCK_REALTIME ns */
	__u64 finished_ns; /* CLOCK_REALTIME ns; 0 while LOADING */
	__u64 cgroup_id; /* the cgroup the socket hooks are attached to */
	char cgroup[SL_CGROUP_PATH_LEN]; /* its path, NUL-terminated */
	/* Programs the last complete load attached, so that unload finds them
	 * on the cgroup and interfaces even if pins were moved. */
	__u32 prog_ids[SL_LOAD_MAX_PROGS];
	__u32 n_prog_ids;
	__u32 flags; /* enum sl_load_flags */
	struct sl_feature_state feat[SL_MAX_FEATURES];
};

/* Context of the SEC("syscall") program sl_ct_gc (bpf/xdp_lb.bpf.c), which
 * userspace runs with BPF_PROG_TEST_RUN (the kernel copies the context back
 * into ctx_in): closes, releases and deletes idle node-ingress flows. */
struct sl_ct_gc_ctx {
	__u64 now_ns; /* CLOCK_MONOTONIC ns; 0 = the kernel's now */
	__u64 tcp_idle_ns; /* TCP entries idle longer than this go */
	__u64 udp_idle_ns; /* other protocols */
	__u64 closed_idle_ns; /* entries already CLOSED (0 = tcp_idle_ns) */
	__u32 removed; /* out: entries deleted */
	__u32 released; /* out: connection-limit units given back */
	__u32 scanned; /* out: entries visited */
	__u32 pad;
};

/* Context of the SEC("syscall") program sl_pflows_revoke (bpf/tc_pod.bpf.c),
 * run after a NetworkPolicy change: clears the admission of every pod flow
 * record, so each flow's next packet is judged by the policy now live. */
struct sl_pflows_revoke_ctx {
	__u64 revoked; /* out: records whose admission was cleared */
};

#ifndef __bpf__
_Static_assert(sizeof(struct sl_l4addr) == 20, "sl_l4addr layout");
_Static_assert(sizeof(struct sl_outlier_cfg) == 32, "sl_outlier_cfg layout");
_Static_assert(sizeof(struct sl_group) == 64, "sl_group layout");
_Static_assert(sizeof(struct sl_svc_key) == 24, "sl_svc_key layout");
_Static_assert(sizeof(struct sl_svc_val) == 16 + 64 * 8, "sl_svc_val layout");
_Static_assert(sizeof(struct sl_svc_bucket) == 64, "sl_svc_bucket: one cache line");
_Static_assert(sizeof(struct sl_svc_row) == 24 + 16 + 64 * 8, "sl_svc_row layout");
_Static_assert((SL_SVC_BUCKETS & (SL_SVC_BUCKETS - 1)) == 0, "SL_SVC_BUCKETS: a power of two");
_Static_assert(SL_SVC_BUCKETS * SL_SVC_WAYS >= 4 * SL_MAX_SERVICES, "sl_svc_index: at most a quarter full");
_Static_assert(sizeof(struct sl_backend) == 32, "sl_backend layout");
_Static_assert(sizeof(struct sl_state_ref) == 16, "sl_state_ref layout");
_Static_assert(sizeof(struct sl_ep_key) == 40, "sl_ep_key layout");
_Static_assert(sizeof(struct sl_ep_state) == 128, "sl_ep_state layout");
_Static_assert(sizeof(struct sl_group_key) == 24, "sl_group_key layout");
_Static_assert(sizeof(struct sl_group_state) == 40, "sl_group_state layout");
_Static_assert(sizeof(struct sl_config) == 96, "sl_config layout");
_Static_assert(sizeof(struct sl_sock) == 128, "sl_sock layout");
_Static_assert(__builtin_offsetof(struct sl_sock, cookie) == 64, "sl_sock: data path in one cache line");
_Static_assert(sizeof(struct sl_runtime) == 8, "sl_runtime layout");
_Static_assert(sizeof(struct sl_handoff_key) == 40, "sl_handoff_key layout");
_Static_assert(sizeof(struct sl_handoff_val) == 32, "sl_handoff_val layout");
_Static_assert(sizeof(struct sl_udp_rnat_key) == 32, "sl_udp_rnat_key layout");
_Static_assert(sizeof(struct sl_meta_key) == 44, "sl_meta_key layout");
_Static_assert(sizeof(struct sl_outcome_ctx) == 48, "sl_outcome_ctx layout");
_Static_assert(sizeof(struct sl_flow_live) == 104, "sl_flow_live layout");
_Static_assert(sizeof(struct sl_tuple) == 40, "sl_tuple layout");
_Static_assert(sizeof(struct sl_ingress_key) == 24, "sl_ingress_key layout");
_Static_assert(sizeof(struct sl_ingress_val) == 36, "sl_ingress_val layout");
_Static_assert(sizeof(struct sl_ct_val) == 80, "sl_ct_val layout");
_Static_assert(sizeof(struct sl_node_addr) == 20, "sl_node_addr layout");
_Static_assert(sizeof(struct sl_pflow_key) == 48, "sl_pflow_key layout");
_Static_assert(sizeof(struct sl_pflow_val) == 72, "sl_pflow_val layout");
_Static_assert(sizeof(struct sl_np_pod_key) == 24, "sl_np_pod_key layout");
_Static_assert(sizeof(struct sl_np_lpm_key) == 28, "sl_np_lpm_key layout");
_Static_assert(sizeof(struct sl_np_ports) == 8 + 8 * 16, "sl_np_ports layout");
_Static_assert(sizeof(struct sl_ct_gc_ctx) == 48, "sl_ct_gc_ctx layout");
_Static_assert(sizeof(struct sl_pflows_revoke_ctx) == 8, "sl_pflows_revoke_ctx layout");
_Static_assert(sizeof(struct sl_feature_state) == 16, "sl_feature_state layout");
_Static_assert(sizeof(struct sl_load_rec) == 32 + 256 + 4 * 32 + 8 + 16 * 16, "sl_load_rec layout");
_Static_assert(SL_FEAT__COUNT <= SL_MAX_FEATURES, "feature table");
#endif

/* ---- mTLS STRICT at the pod interface (issue 9, docs/PROXY.md) ---------------
 * sl_mtls: which ports of which workloads of this node PeerAuthentication
 * makes STRICT. Written by sluice-proxy (it owns the mesh model) whenever it
 * loads a policy generation; read by bpf/tc_pod.bpf.c, which admits a new
 * connection into a STRICT port only from a socket carrying the proxy mark
 * (sl_config.proxy_mark: skb->mark survives from the proxy's socket to the
 * pod interface, and is scrubbed on every packet that crosses a netns, so
 * no pod and no other node can forge it). Key port 0 is the workload's
 * default for that protocol; an exact port overrides it (portLevelMtls).
 * UDP is never mutual TLS: a STRICT workload's UDP ports are STRICT too. */
#define SL_MAX_MTLS 65536u

enum sl_mtls_kmode {
	SL_MTLS_K_OPEN = 0, /* PERMISSIVE or DISABLE: no kernel check */
	SL_MTLS_K_STRICT = 1, /* only the node proxy may open connections */
};

struct sl_mtls_key {
	__be32 addr[4]; /* workload address */
	__u8 family; /* enum sl_family */
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__be16 port; /* workload port, network order; 0 = the workload's default */
};

struct sl_mtls_val {
	__u32 mode; /* enum sl_mtls_kmode */
	__u32 generation; /* policy generation that wrote it (stale entries go) */
};

#ifndef __bpf__
_Static_assert(sizeof(struct sl_mtls_key) == 20, "sl_mtls_key layout");
_Static_assert(sizeof(struct sl_mtls_val) == 8, "sl_mtls_val layout");
#endif

#endif /* SLUICE_ABI_H */
