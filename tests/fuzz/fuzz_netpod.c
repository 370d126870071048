// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fuzz target of a Pod's NetworkPolicy bytes (user/policy/netpod.c): what
 * a Pod's summary keeps, read back from the store by every incremental
 * NetworkPolicy compile. Two forms of input:
 *
 *   "Y" then YAML: every Pod of the source is encoded; its bytes must
 *   decode, give back each of its labels (the first value of a key, as
 *   the compiler's selectors see it) and each address;
 *   anything else: bytes as the store could hold them; if they decode,
 *   every label and address read from them stays inside them (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pod(const struct object *o)
{
	const struct node *l = slp_path_get(o->root, "metadata.labels");
	size_t n;
	unsigned char *b = slp_np_encode(o, &n);
	struct np_view v;
	struct sl_l4addr a;

	if (!b || slp_np_decode(b, n, &v))
		abort();
	for (size_t i = 0; l && l->type == T_MAP && i < l->n; i++) {
		const char *want = l->keys[i]->s ? slp_node_label(l, l->keys[i]->s) : NULL;
		const char *got = l->keys[i]->s ? slp_np_label(&v, l->keys[i]->s) : NULL;

		if ((want == NULL) != (got == NULL) || (want && strcmp(want, got)))
			abort();
	}
	for (size_t i = 0; i < v.n_ips; i++)
		if (slp_np_ip(&v, i, &a))
			abort();
	free(b);
}

static void yaml_pods(const uint8_t *data, size_t size)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };

	sl_policy_load(p, "fuzz.yaml", (const char *)data, size, &d);
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i]->id == K_POD)
			check_pod(p->v[i]);
	sl_diags_free(&d);
	sl_policy_free(p);
}

static void raw_bytes(const uint8_t *data, size_t size)
{
	unsigned char *b = malloc(size ? size : 1); /* exactly SIZE: ASan sees past it */
	struct np_view v, w;
	struct sl_l4addr a;
	const char *k;

	if (!b)
		return;
	memcpy(b, data, size);
	/* What decodes whole decodes for its addresses, to the same view;
	 * the addresses of what decodes only for them are read in bounds. */
	if (!slp_np_decode_addrs(b, size, &w)) {
		for (size_t i = 0; i < w.n_ips; i++)
			slp_np_ip(&w, i, &a);
	} else if (!slp_np_decode(b, size, &v)) {
		abort();
	}
	if (!slp_np_decode(b, size, &v)) {
		if (v.ips != w.ips || v.n_ips != w.n_ips || v.labels != w.labels ||
		    v.labels_end != w.labels_end || v.host != w.host || v.finished != w.finished)
			abort();
		for (k = v.labels; k < v.labels_end; k += strlen(k) + 1)
			if (slp_np_label(&v, k) && (slp_np_label(&v, k) < v.labels ||
						    slp_np_label(&v, k) >= v.labels_end))
				abort();
		for (size_t i = 0; i < v.n_ips; i++)
			slp_np_ip(&v, i, &a);
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size && data[0] == 'Y')
		yaml_pods(data + 1, size - 1);
	else
		raw_bytes(data, size);
	return 0;
}
