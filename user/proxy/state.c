// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the workers share: the policy (compiled tables and the mesh model)
 * and the workload identities of this node. Both are swapped whole under
 * px->lock and reference counted, so a worker holds a consistent view for
 * the whole decision about one connection.
 *
 * Freshness: before every decision a worker compares the generation that
 * `sluice apply` published in the pinned config with the one it holds and
 * reloads first when they differ. A policy the proxy has not loaded can
 * therefore never decide a connection; when loading fails the connection
 * is refused (fail closed).
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/caserve.h"
#include "proxy/polsrc.h"
#include "proxy/proxy.h"
#include "publish.h"
#include "util.h"

static void state_free(struct px_state *st)
{
	if (!st)
		return;
	sl_mesh_free(st->mesh);
	sl_tables_free(&st->tables);
	sl_policy_free(st->policy);
	free(st);
}

static struct px_state *build(struct px *px, struct sl_policy *p, const struct sl_config *cfg,
			      uint32_t gen)
{
	struct px_state *st = calloc(1, sizeof(*st));
	struct sl_compile_opts o;
	struct sl_diags d = { 0 };

	if (!st) {
		sl_policy_free(p);
		return NULL;
	}
	st->refs = 1;
	st->gen = gen;
	st->policy = p;
	if (cfg)
		sl_node_compile_opts(cfg, &o);
	else
		sl_compile_opts_default(&o);
	if (sl_policy_compile(p, &o, &st->tables, &d) ||
	    !(st->mesh = sl_mesh_build(p, px->o.trust_domain, &d))) {
		sl_diags_print(&d, stderr);
		sl_diags_free(&d);
		state_free(st);
		return NULL;
	}
	sl_diags_free(&d);
	return st;
}

static struct px_state *load_pins(struct px *px, const struct sl_config *cfg)
{
	struct sl_diags d = { 0 };
	struct sl_config c2;
	struct sl_policy *p = sl_policy_new();
	char *src = NULL;
	size_t len = 0;

	if (!p || sl_read_store(&px->maps, &src, &len, &c2) ||
	    (len && sl_policy_load(p, "<applied>", src, len, &d))) {
		sl_diags_print(&d, stderr);
		sl_diags_free(&d);
		sl_policy_free(p);
		free(src);
		return NULL;
	}
	free(src);
	sl_diags_free(&d);
	return build(px, p, cfg, cfg->generation);
}

static int read_gen(struct px *px, struct sl_config *cfg)
{
	return sl_read_config(&px->maps, cfg);
}

/* Called with px->lock held. */
static int reload_locked(struct px *px, const struct sl_config *cfg)
{
	struct px_state *st;

	if (px->have_maps) {
		st = load_pins(px, cfg);
	} else {
		struct sl_diags d = { 0 };
		struct sl_policy *p = sl_policy_from_path(px->o.policy_path, &d);

		sl_diags_print(&d, stderr);
		sl_diags_free(&d);
		st = p ? build(px, p, NULL, 0) : NULL;
	}
	if (!st)
		return -1;
	/* the kernel enforces STRICT for this generation before we decide
	 * anything under it; a failure to write is a failure to load */
	if (px_mtls_publish(px, st)) {
		state_free(st);
		return -1;
	}
	if (px->st && --px->st->refs == 0)
		state_free(px->st);
	px->st = st;
	pr_info("proxy: policy generation %u: %zu workloads\n", st->gen,
		sl_mesh_n_workloads(st->mesh));
	return 0;
}

int px_state_load(struct px *px)
{
	struct sl_config cfg = { 0 };
	int rc;

	if (px->have_maps && read_gen(px, &cfg))
		return -1;
	pthread_mutex_lock(&px->lock);
	rc = reload_locked(px, &cfg);
	pthread_mutex_unlock(&px->lock);
	return rc;
}

struct px_state *px_state_get(struct px *px)
{
	struct sl_config cfg;
	struct px_state *st = NULL;
	bool stale = false;

	if (px->have_maps) {
		if (read_gen(px, &cfg))
			return NULL; /* the data plane is gone: decide nothing */
		stale = !px->st || px->st->gen != cfg.generation;
	}
	pthread_mutex_lock(&px->lock);
	if (stale && (!px->st || px->st->gen != cfg.generation) && reload_locked(px, &cfg)) {
		pthread_mutex_unlock(&px->lock);
		return NULL;
	}
	st = px->st;
	if (st)
		st->refs++;
	pthread_mutex_unlock(&px->lock);
	return st;
}

void px_state_put(struct px *px, struct px_state *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&px->lock);
	if (--st->refs == 0)
		state_free(st);
	pthread_mutex_unlock(&px->lock);
}

const struct px_peer *px_peer_of(const struct px *px, const char *node)
{
	for (int i = 0; i < px->o.n_peers; i++)
		if (!strcmp(px->o.peers[i].node, node))
			return &px->o.peers[i];
	return NULL;
}

/* ---- identities ---------------------------------------------------------- */

static struct px_ident *ident_find(struct px *px, const char *ns, const char *sa)
{
	for (size_t i = 0; i < px->n_ids; i++)
		if (!strcmp(px->ids[i].ns, ns) && !strcmp(px->ids[i].sa, sa))
			return &px->ids[i];
	return NULL;
}

SSL_CTX *px_ident_ctx(struct px *px, const char *ns, const char *sa, bool server)
{
	struct px_ident *id;
	SSL_CTX *ctx = NULL;

	pthread_mutex_lock(&px->lock);
	id = ident_find(px, ns, sa);
	if (id) {
		ctx = server ? id->srv : id->cli;
		if (ctx)
			SSL_CTX_up_ref(ctx);
	}
	pthread_mutex_unlock(&px->lock);
	return ctx;
}

/* SNI "SA.NS" picks the workload's server context; unknown: no handshake. */
static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct px *px = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char sa[64], ns[64];
	const char *dot = sni ? strchr(sni, '.') : NULL;
	SSL_CTX *ctx;

	if (!dot || (size_t)(dot - sni) >= sizeof(sa) || strlen(dot + 1) >= sizeof(ns)) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	snprintf(sa, sizeof(sa), "%.*s", (int)(dot - sni), sni);
	snprintf(ns, sizeof(ns), "%s", dot + 1);
	ctx = px_ident_ctx(px, ns, sa, true);
	if (!ctx) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	SSL_set_SSL_CTX(ssl, ctx);
	SSL_CTX_free(ctx); /* SSL_set_SSL_CTX took its own reference */
	SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return SSL_TLSEXT_ERR_OK;
}

int px_srv_base_init(struct px *px)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		SSL_CTX_free(ctx);
		return -1;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, px);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	px->srv_base = ctx;
	return 0;
}

static int ident_install(struct px *px, const char *ns, const char *sa, struct sl_ident *id)
{
	char err[SL_ERR_LEN];
	SSL_CTX *cli = sl_tls_ctx(id, false, "h2", err, sizeof(err));
	SSL_CTX *srv = cli ? sl_tls_ctx(id, true, "h2", err, sizeof(err)) : NULL;
	long life = sl_pki_cert_lifetime(id->cert), left = sl_pki_cert_left(id->cert);
	long now = (long)time(NULL);
	struct px_ident *slot, *nv;

	if (!srv) {
		SSL_CTX_free(cli);
		pr_warn("proxy: identity %s/%s: %s\n", ns, sa, err);
		return -1;
	}
	pthread_mutex_lock(&px->lock);
	slot = ident_find(px, ns, sa);
	if (!slot) {
		nv = realloc(px->ids, (px->n_ids + 1) * sizeof(*nv));
		if (!nv) {
			pthread_mutex_unlock(&px->lock);
			SSL_CTX_free(cli);
			SSL_CTX_free(srv);
			return -1;
		}
		px->ids = nv;
		slot = &px->ids[px->n_ids++];
		memset(slot, 0, sizeof(*slot));
		snprintf(slot->ns, sizeof(slot->ns), "%s", ns);
		snprintf(slot->sa, sizeof(slot->sa), "%s", sa);
	}
	SSL_CTX_free(slot->cli);
	SSL_CTX_free(slot->srv);
	slot->cli = cli;
	slot->srv = srv;
	slot->expires = now + left;
	/* Half-life from now: certificates arrive fresh from the CA, and the
	 * back-dated notBefore (clock skew) is not part of the lifetime. */
	slot->renew_at = now + left / 2;
	(void)life;
	sl_spiffe_principal(&id->id, slot->principal, sizeof(slot->principal));
	pthread_mutex_unlock(&px->lock);
	pr_info("proxy: identity %s ready (expires in %lds)\n", slot->principal, left);
	return 0;
}

/* From the CA: at half-life. From files: whenever cert.pem was replaced
 * (the operator or agent renews them). */
static bool due(struct px *px, const char *ns, const char *sa, const char *dir)
{
	struct px_ident *id;
	long now = (long)time(NULL), renew = 0;
	long long seen = 0;

	pthread_mutex_lock(&px->lock);
	id = ident_find(px, ns, sa);
	if (id) {
		renew = id->renew_at;
		seen = id->mtime_ns;
	}
	pthread_mutex_unlock(&px->lock);
	if (!id)
		return true;
	return dir ? sl_mtime_ns(dir, "cert.pem") != seen : now >= renew;
}

static void ident_obtain(struct px *px, const char *ns, const char *sa)
{
	struct sl_ident id = { 0 };
	char err[SL_ERR_LEN], dir[4096];
	long long t = 0;
	int rc;

	if (px->o.certs_dir) {
		snprintf(dir, sizeof(dir), "%s/%s/%s", px->o.certs_dir, ns, sa);
		if (!due(px, ns, sa, dir))
			return;
		t = sl_mtime_ns(dir, "cert.pem"); /* before reading: a later replacement is seen next time */
		rc = sl_ident_load(&id, dir, err, sizeof(err));
	} else {
		if (!due(px, ns, sa, NULL))
			return;
		struct sl_spiffe_id want;

		sl_spiffe_workload(&want, px->o.trust_domain, ns, sa);
		rc = sl_ca_fetch(px->o.ca_addr, &px->node_id, &want, &id, err, sizeof(err));
	}
	if (rc) {
		pr_warn("proxy: identity %s/%s: %s\n", ns, sa, err);
		return;
	}
	if (!ident_install(px, ns, sa, &id) && px->o.certs_dir) {
		pthread_mutex_lock(&px->lock);
		ident_find(px, ns, sa)->mtime_ns = t;
		pthread_mutex_unlock(&px->lock);
	}
	sl_ident_free(&id);
}

static int write_ident(const struct sl_ident *id, const char *dir, char *err, size_t errlen)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/key.pem", dir);
	if (sl_pki_write_key(path, id->key, err, errlen))
		return -1;
	snprintf(path, sizeof(path), "%s/root.pem", dir);
	if (sl_pki_write_certs(path, id->bundle, id->n_bundle, err, errlen))
		return -1;
	/* cert last: key and cert match again once it is in place */
	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	return sl_pki_write_certs(path, &id->cert, 1, err, errlen);
}

/* The node's own identity renews like a workload's, at half-life, and is
 * written back to --node-cert so that a restart starts from the fresh one.
 * Only the certificate thread uses px->node_id. */
static void node_renew(struct px *px)
{
	struct sl_ident id = { 0 };
	char err[SL_ERR_LEN];
	long now = (long)time(NULL), left;

	if (!px->have_node_id || now < px->node_renew_at)
		return;
	if (sl_ca_fetch(px->o.ca_addr, &px->node_id, &px->node_id.id, &id, err, sizeof(err))) {
		pr_warn("proxy: renewing the node identity: %s\n", err);
		return;
	}
	if (write_ident(&id, px->o.node_cert_dir, err, sizeof(err)))
		pr_warn("proxy: writing the node identity: %s\n", err);
	left = sl_pki_cert_left(id.cert);
	sl_ident_free(&px->node_id);
	px->node_id = id;
	px->node_renew_at = now + left / 2;
	pr_info("proxy: node identity renewed (expires in %lds)\n", left);
}

/* Every service account with a workload on this node gets an identity. */
int px_idents_refresh(struct px *px, bool force)
{
	struct px_state *st;

	(void)force;
	node_renew(px);
	st = px_state_get(px);
	if (!st)
		return -1;
	for (size_t i = 0; i < sl_mesh_n_workloads(st->mesh); i++) {
		const struct sl_mesh_wl *w = sl_mesh_workload(st->mesh, i);

		if (!strcmp(w->node, px->o.node))
			ident_obtain(px, w->ns, w->sa);
	}
	px_state_put(px, st);
	return 0;
}
