// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fuzz target of the CA's request handling: the input is what an
 * authenticated node sends to `sluice ca serve` (a "CSR <len>" frame and a
 * PEM certificate request). It goes through sl_ca_answer() with a CA made in
 * memory and a policy that places api-client on node-a, so valid inputs
 * reach the placement check and the signing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/caserve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] =
	"apiVersion: v1\nkind: Pod\n"
	"metadata: {name: c-1, namespace: nodejs-app}\n"
	"spec: {serviceAccountName: api-client, nodeName: node-a}\n"
	"status: {podIP: 10.244.1.2}\n";

static struct sl_ca ca;
static struct sl_policy *pol;
static struct sl_mesh *mesh;

static void setup(void)
{
	struct sl_spiffe_id root = { .kind = SL_ID_NODE, .td = "cluster.local", .node = "root-1" };
	struct sl_cert_spec s = { .id = &root, .not_before_s = -60, .ttl_s = 3600, .ca = true };
	struct sl_diags d = { 0 };
	char err[SL_ERR_LEN];

	snprintf(ca.td, sizeof(ca.td), "cluster.local");
	ca.key = sl_pki_keygen();
	s.pub = s.issuer_key = ca.key;
	ca.cert = sl_pki_make_cert(&s, err, sizeof(err));
	if (!ca.key || !ca.cert || !X509_up_ref(ca.cert))
		abort();
	ca.bundle[0] = ca.cert;
	ca.n_bundle = 1;
	pol = sl_policy_new();
	if (sl_policy_load(pol, "fuzz.yaml", policy, sizeof(policy) - 1, &d) ||
	    !(mesh = sl_mesh_build(pol, "cluster.local", &d)))
		abort();
	sl_diags_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_ca_ctx c = { .ca = &ca, .ttl_s = 600 };
	char *ans = NULL, log[512];
	size_t ans_len = 0;
	char *buf;

	if (!mesh)
		setup();
	c.mesh = mesh;
	buf = malloc(size + 1); /* not NUL-terminated in the middle: copy as is */
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	log[0] = 0;
	sl_ca_answer(&c, "node-a", buf, size, &ans, &ans_len, log, sizeof(log));
	if (getenv("FUZZ_CSR_LOG")) /* what each seed exercises */
		fprintf(stderr, "%s | %.*s\n", log, (int)strcspn(ans ? ans : "", "\n"), ans ? ans : "");
	free(ans);
	free(buf);
	return 0;
}
