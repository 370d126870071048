// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What PeerAuthentication (mesh.c) and AuthorizationPolicy (authz.c) both
 * build on: the mesh model's allocations and which workloads a policy
 * object selects. Kept apart so that neither calls back into the other. */
#include <string.h>

#include "policy/mesh_int.h"

void *slp_mesh_alloc(struct sl_mesh *m, size_t n, size_t sz)
{
	void *p;

	if (!n)
		return NULL;
	if (m->n_allocs == m->cap_allocs) {
		m->cap_allocs = m->cap_allocs ? m->cap_allocs * 2 : 64;
		m->allocs = slp_xrealloc(m->allocs, m->cap_allocs, sizeof(void *));
	}
	p = slp_xcalloc(n, sz);
	m->allocs[m->n_allocs++] = p;
	return p;
}

bool slp_mesh_pol_applies(const struct object *pol, const struct node *selector,
			  const struct sl_mesh_wl *w)
{
	if (!selector)
		return !strcmp(pol->ns, ROOT_NAMESPACE) || !strcmp(pol->ns, w->ns);
	return !strcmp(pol->ns, w->ns) && w->labels && slp_labels_match(w->labels, selector);
}
