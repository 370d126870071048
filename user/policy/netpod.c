// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What NetworkPolicy reads of a Pod, in a few bytes: its labels, its
 * addresses and whether it can be isolated. A Pod's summary carries these
 * bytes (sl_osum.np), so that a change of NetworkPolicy, Namespace or Pod
 * compiles the NetworkPolicy tables from the stored summaries instead of
 * parsing every stored Pod again (incr.c; 20,000 Pods took 500 ms). The
 * whole compile reads Pods through the same bytes (compile.c), so both
 * compiles see one thing.
 *
 * Layout, all bytes: flags (NPV_*), the number of addresses (at most
 * SLP_NPV_MAX_IPS), the number of labels (four bytes, little-endian); per
 * address its family and 16 address bytes; per label its key and its
 * value, each ending in NUL. Decoding checks the bounds, the last NUL
 * and that the strings number twice the labels; every read of a view
 * stops at its end. The bytes are part of the store, so a change of layout bumps
 * SLS_KEYS_VERSION (user/storefmt.h).
 */
#include <string.h>

#include "internal.h"

enum {
	NPV_HOST = 1, /* spec.hostNetwork */
	NPV_DONE = 2, /* status.phase Succeeded or Failed */
	NPV_HDR = 6,
	NPV_ADDR = 17,
};

struct ips {
	struct sl_l4addr v[SLP_NPV_MAX_IPS];
	size_t n;
};

static void add_ip(struct ips *v, const char *s)
{
	struct sl_l4addr a;

	if (slp_parse_ip(s, &a) || v->n == SLP_NPV_MAX_IPS)
		return;
	for (size_t i = 0; i < v->n; i++)
		if (v->v[i].family == a.family && !memcmp(v->v[i].addr, a.addr, sizeof(a.addr)))
			return;
	v->v[v->n++] = a;
}

/* A label the compiler's selectors can see (slp_node_label): a scalar,
 * not null (slp_map_get takes a null value for an absent key). */
static const char *label_value(const struct node *v)
{
	return v && v->type != T_NULL && v->type != T_SEQ && v->type != T_MAP ? v->s : NULL;
}

/* status.podIP, then status.podIPs, each once, at most SLP_NPV_MAX_IPS. */
static size_t pod_ips(const struct object *pod, struct sl_l4addr *out)
{
	const struct node *st = slp_map_get(pod->root, "status");
	const struct node *ips = slp_map_get(st, "podIPs");
	struct ips v = { 0 };

	add_ip(&v, slp_node_str(slp_map_get(st, "podIP")));
	for (size_t i = 0; i < slp_seq_len(ips); i++)
		add_ip(&v, slp_node_str(slp_map_get(ips->vals[i], "ip")));
	memcpy(out, v.v, v.n * sizeof(*out));
	return v.n;
}

unsigned char *slp_np_encode(const struct object *pod, size_t *len)
{
	const struct node *st = slp_map_get(pod->root, "status");
	const struct node *l = slp_path_get(pod->root, "metadata.labels");
	const char *phase = slp_node_str(slp_map_get(st, "phase"));
	struct ips v = { 0 };
	size_t n = NPV_HDR, i;
	uint32_t nl = 0;
	unsigned char *p, *q;
	bool host = false;

	slp_node_bool(slp_path_get(pod->root, "spec.hostNetwork"), &host);
	v.n = pod_ips(pod, v.v);
	n += NPV_ADDR * v.n;
	for (i = 0; l && l->type == T_MAP && i < l->n; i++) {
		if (!l->keys[i]->s || !label_value(l->vals[i]))
			continue;
		n += strlen(l->keys[i]->s) + 1 + strlen(l->vals[i]->s) + 1;
		nl++;
	}
	p = q = slp_xcalloc(n, 1);
	*q++ = (unsigned char)((host ? NPV_HOST : 0) |
			       (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) ?
					NPV_DONE : 0));
	*q++ = (unsigned char)v.n;
	for (i = 0; i < 4; i++)
		*q++ = (unsigned char)(nl >> (8 * i));
	for (i = 0; i < v.n; i++) {
		*q++ = v.v[i].family;
		memcpy(q, v.v[i].addr, 16);
		q += 16;
	}
	for (i = 0; l && l->type == T_MAP && i < l->n; i++) {
		if (!l->keys[i]->s || !label_value(l->vals[i]))
			continue;
		q = (unsigned char *)stpcpy((char *)q, l->keys[i]->s) + 1;
		q = (unsigned char *)stpcpy((char *)q, l->vals[i]->s) + 1;
	}
	*len = n;
	return p;
}

/* The NUL-terminated strings of V's labels (the last byte is a NUL). */
static size_t strings(const struct np_view *v)
{
	size_t n = 0;

	for (const char *q = v->labels; q < v->labels_end; q = (const char *)rawmemchr(q, 0) + 1)
		n++;
	return n;
}

int slp_np_decode_addrs(const unsigned char *p, size_t len, struct np_view *v)
{
	size_t ips;

	if (len < NPV_HDR || p[0] & ~(NPV_HOST | NPV_DONE) || p[1] > SLP_NPV_MAX_IPS)
		return -1;
	ips = (size_t)NPV_ADDR * p[1];
	/* The labels end in a NUL, so every scan of them stops inside. */
	if (len - NPV_HDR < ips || (len > NPV_HDR + ips && p[len - 1]))
		return -1;
	for (size_t i = 0; i < p[1]; i++)
		if (p[NPV_HDR + NPV_ADDR * i] != SL_AF_INET && p[NPV_HDR + NPV_ADDR * i] != SL_AF_INET6)
			return -1;
	v->host = p[0] & NPV_HOST;
	v->finished = p[0] & NPV_DONE;
	v->n_ips = p[1];
	v->ips = p + NPV_HDR;
	v->labels = (const char *)p + NPV_HDR + ips;
	v->labels_end = (const char *)p + len;
	return 0;
}

int slp_np_decode(const unsigned char *p, size_t len, struct np_view *v)
{
	if (slp_np_decode_addrs(p, len, v))
		return -1;
	return strings(v) == 2 * ((size_t)p[2] | (size_t)p[3] << 8 | (size_t)p[4] << 16 |
				  (size_t)p[5] << 24) ? 0 : -1;
}

int slp_np_ip(const struct np_view *v, size_t i, struct sl_l4addr *a)
{
	const unsigned char *q = v->ips + (size_t)NPV_ADDR * i;

	memset(a, 0, sizeof(*a));
	if (i >= v->n_ips || (q[0] != SL_AF_INET && q[0] != SL_AF_INET6))
		return -1;
	a->family = q[0];
	memcpy(a->addr, q + 1, sizeof(a->addr));
	return 0;
}

const char *slp_np_label(const void *view, const char *key)
{
	const struct np_view *v = view;
	const char *p = v->labels, *val;

	/* Pairs key NUL value NUL; a key without its value ends the list. */
	while (p < v->labels_end) {
		val = p + strlen(p) + 1;
		if (val >= v->labels_end)
			return NULL;
		if (!strcmp(p, key))
			return val;
		p = val + strlen(val) + 1;
	}
	return NULL;
}
