// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `sluice ca init|issue|rotate|serve|fetch`: the mesh's certificate
 * authority (docs/SECURITY.md). Nothing secret is printed: keys go to files
 * with mode 0600 and messages name files, identities and serial-free facts
 * only.
 *
 * A binary of its own, which `sluice ca` runs in its place (exec, so the
 * process and its signals stay the same): it is the only command that
 * needs OpenSSL, and loading libssl and libcrypto cost every other
 * `sluice` command about 1.4 ms at start (measured: an empty program
 * linked with them, 2.8 ms, against 1.4 ms without).
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>

#include "../sluice/cli.h"
#include "proxy/caserve.h"
#include "proxy/csr.h"
#include "proxy/polsrc.h"
#include "util.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: sluice ca init   --dir DIR [--trust-domain TD]\n"
		"       sluice ca issue  --dir DIR (--ns NS --sa SA | --node NAME) --out OUTDIR\n"
		"                        [--ttl DUR] [--expired]\n"
		"       sluice ca rotate --dir DIR [--activate | --retire]\n"
		"       sluice ca serve  --dir DIR --listen IP:PORT --policy FILE|DIR\n"
		"                        [--ttl DUR] [--ready FILE]\n"
		"       sluice ca fetch  --ca IP:PORT --node-cert DIR --ns NS --sa SA --out OUTDIR\n"
		"                        (what a node proxy does, by hand)\n"
		"DUR: 90s, 30m, 24h, 7d. Certificates default to 24h.\n");
	return SL_EXIT_USAGE;
}

struct ca_args {
	const char *dir, *td, *ns, *sa, *node, *out, *listen, *policy, *ready, *ca, *node_cert;
	long ttl_s;
	bool retire, activate, expired;
};

static int parse_args(struct sl_cli *c, struct ca_args *a)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "trust-domain", required_argument, NULL, 't' },
		{ "ns", required_argument, NULL, 'n' },
		{ "sa", required_argument, NULL, 's' },
		{ "node", required_argument, NULL, 'N' },
		{ "out", required_argument, NULL, 'o' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "expired", no_argument, NULL, 'E' },
		{ "retire", no_argument, NULL, 'R' },
		{ "activate", no_argument, NULL, 'A' },
		{ "listen", required_argument, NULL, 'l' },
		{ "policy", required_argument, NULL, 'p' },
		{ "ready", required_argument, NULL, 'r' },
		{ "ca", required_argument, NULL, 'c' },
		{ "node-cert", required_argument, NULL, 'C' },
		{ 0 },
	};
	int opt;

	a->td = "cluster.local";
	a->ttl_s = SL_CA_DEFAULT_TTL_S;
	optind = 1;
	while ((opt = getopt_long(c->argc, c->argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': a->dir = optarg; break;
		case 't': a->td = optarg; break;
		case 'n': a->ns = optarg; break;
		case 's': a->sa = optarg; break;
		case 'N': a->node = optarg; break;
		case 'o': a->out = optarg; break;
		case 'E': a->expired = true; break;
		case 'R': a->retire = true; break;
		case 'A': a->activate = true; break;
		case 'l': a->listen = optarg; break;
		case 'p': a->policy = optarg; break;
		case 'r': a->ready = optarg; break;
		case 'c': a->ca = optarg; break;
		case 'C': a->node_cert = optarg; break;
		case 'T':
			a->ttl_s = sl_parse_secs(optarg);
			if (a->ttl_s < 10) {
				fprintf(stderr, "sluice ca: --ttl %s: a duration of at least 10s\n",
					optarg);
				return -1;
			}
			break;
		default:
			return -1;
		}
	}
	if ((!a->dir && !a->ca) || optind < c->argc) {
		fprintf(stderr, "sluice ca: --dir DIR is required\n");
		return -1;
	}
	return 0;
}

static int ca_init(struct ca_args *a)
{
	char err[SL_ERR_LEN];

	if (sl_ca_init(a->dir, a->td, err, sizeof(err))) {
		fprintf(stderr, "sluice ca init: %s\n", err);
		return SL_EXIT_FAIL;
	}
	printf("CA for trust domain %s in %s (root key mode 0600)\n", a->td, a->dir);
	return SL_EXIT_OK;
}

static int ca_issue(struct ca_args *a)
{
	struct sl_spiffe_id id = { 0 };
	char err[SL_ERR_LEN], uri[SL_ID_LEN];
	struct sl_ca ca;
	int rc;

	if (!a->out || (!a->node == !(a->ns && a->sa))) {
		fprintf(stderr, "sluice ca issue: --out and either --ns/--sa or --node\n");
		return SL_EXIT_USAGE;
	}
	if (sl_ca_open(&ca, a->dir, err, sizeof(err))) {
		fprintf(stderr, "sluice ca issue: %s\n", err);
		return SL_EXIT_FAIL;
	}
	if (a->node) {
		id.kind = SL_ID_NODE;
		snprintf(id.td, sizeof(id.td), "%s", ca.td);
		snprintf(id.node, sizeof(id.node), "%s", a->node);
	} else {
		sl_spiffe_workload(&id, ca.td, a->ns, a->sa);
	}
	sl_spiffe_fmt(&id, uri, sizeof(uri));
	if (sl_spiffe_parse(uri, strlen(uri), &id)) {
		fprintf(stderr, "sluice ca issue: %s is not a valid identity (DNS labels)\n", uri);
		sl_ca_close(&ca);
		return SL_EXIT_FAIL;
	}
	/* --expired: valid from two hours ago until one hour ago, for tests
	 * that a peer refuses it. */
	rc = sl_ca_issue_files(&ca, &id, a->expired ? -3600 : a->ttl_s,
			       a->expired ? -7200 : -60, a->out, err, sizeof(err));
	sl_ca_close(&ca);
	if (rc) {
		fprintf(stderr, "sluice ca issue: %s\n", err);
		return SL_EXIT_FAIL;
	}
	printf("issued %s into %s (cert.pem, key.pem 0600, root.pem)\n", uri, a->out);
	return SL_EXIT_OK;
}

static int ca_rotate(struct ca_args *a)
{
	static const char *const done[] = {
		[SL_CA_ADD_ROOT] = "new root added to the trust bundle; the current root still "
				   "signs (activate it after every node renewed once)",
		[SL_CA_ACTIVATE] = "the newest root signs from now on; the older ones stay trusted",
		[SL_CA_RETIRE] = "retired every root but the signing one",
	};
	enum sl_ca_rotate step = a->retire ? SL_CA_RETIRE :
				 a->activate ? SL_CA_ACTIVATE : SL_CA_ADD_ROOT;
	char err[SL_ERR_LEN];

	if (a->retire && a->activate)
		return usage();
	if (sl_ca_rotate(a->dir, step, err, sizeof(err))) {
		fprintf(stderr, "sluice ca rotate: %s\n", err);
		return SL_EXIT_FAIL;
	}
	printf("%s\n", done[step]);
	return SL_EXIT_OK;
}

/* ---- serve ------------------------------------------------------------------ */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The server's own certificate, made in memory at start from the current
 * root: nodes check that they talk to spiffe://TD/sluice/node/sluice-ca. */
static SSL_CTX *server_ctx(struct sl_ca *ca, char *err, size_t errlen)
{
	struct sl_spiffe_id id = { .kind = SL_ID_NODE };
	struct sl_ident me = { 0 };
	EVP_PKEY *key = sl_pki_keygen();
	X509 *cert;
	SSL_CTX *ctx;

	snprintf(id.td, sizeof(id.td), "%s", ca->td);
	snprintf(id.node, sizeof(id.node), "%s", SL_CA_NODE_NAME);
	cert = key ? sl_ca_sign(ca, key, &id, SL_CA_ROOT_TTL_S / 10, err, errlen) : NULL;
	if (!cert) {
		EVP_PKEY_free(key);
		return NULL;
	}
	me.cert = cert;
	me.key = key;
	me.bundle = ca->bundle;
	me.n_bundle = ca->n_bundle;
	ctx = sl_tls_ctx(&me, true, NULL, err, errlen);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
}

static int listen_on(const char *addr)
{
	int fd = sl_listen_tcp(addr, 0, 128);

	return fd < 0 ? -1 : fd;
}

/* Placement comes from the policy as it is now: re-read per request, so a
 * Pod moved to another node is refused on its old node at once. */
static void serve_one(SSL_CTX *ctx, struct sl_ca *ca, int fd, const struct ca_args *a)
{
	struct timeval tv = { .tv_sec = 5 };
	struct sl_spiffe_id peer;
	struct sl_diags d = { 0 };
	struct sl_policy *p = NULL;
	struct sl_ca_ctx cc = { .ca = ca, .ttl_s = a->ttl_s };
	char buf[SL_CSR_MAX + 64], *ans = NULL, log[512] = "";
	size_t n = 0, ans_len = 0;
	SSL *ssl = SSL_new(ctx);
	long done = 0;
	int r;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!ssl || !SSL_set_fd(ssl, fd) || (r = SSL_accept(ssl)) != 1) {
		fprintf(stderr, "ca: handshake refused: %s\n",
			ssl ? sl_tls_fail_reason(ssl, 0) : "no memory");
		goto out;
	}
	if (sl_tls_peer_id(ssl, &peer) || peer.kind != SL_ID_NODE || strcmp(peer.td, ca->td)) {
		fprintf(stderr, "ca: refused a peer that is not a node of %s\n", ca->td);
		goto out;
	}
	p = sl_policy_from_path(a->policy, &d);
	cc.mesh = p ? sl_mesh_build(p, ca->td, &d) : NULL;
	if (!cc.mesh) {
		fprintf(stderr, "ca: node %s: refused: the policy at %s does not compile\n",
			peer.node, a->policy);
		sl_diags_print(&d, stderr);
		SSL_write(ssl, "ERR policy unavailable\n", 23);
		goto out;
	}
	while (!done && n < sizeof(buf) && (r = SSL_read(ssl, buf + n, (int)(sizeof(buf) - n))) > 0) {
		n += (size_t)r;
		done = sl_ca_answer(&cc, peer.node, buf, n, &ans, &ans_len, log, sizeof(log));
	}
	if (!done && n == sizeof(buf))
		done = sl_ca_answer(&cc, peer.node, "X", 1, &ans, &ans_len, log, sizeof(log));
	if (log[0])
		fprintf(stderr, "ca: %s\n", log);
	if (ans)
		SSL_write(ssl, ans, (int)ans_len);
	SSL_shutdown(ssl);
out:
	free(ans);
	sl_mesh_free((struct sl_mesh *)cc.mesh);
	sl_policy_free(p);
	sl_diags_free(&d);
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
}

/* (Re)open the CA when `ca rotate` changed it: the signing root and the
 * bundle that node certificates are verified with follow at once. */
static int ca_reload(struct sl_ca *ca, SSL_CTX **ctx, const char *dir, long long *seen)
{
	long long t = sl_mtime_ns(dir, "state");
	char err[SL_ERR_LEN];
	struct sl_ca nca;
	SSL_CTX *nctx;

	if (t == *seen)
		return 0;
	if (sl_ca_open(&nca, dir, err, sizeof(err))) {
		fprintf(stderr, "ca: %s\n", err);
		return *ctx ? 0 : -1; /* keep serving with what we had */
	}
	nctx = server_ctx(&nca, err, sizeof(err));
	if (!nctx) {
		fprintf(stderr, "ca: %s\n", err);
		sl_ca_close(&nca);
		return *ctx ? 0 : -1;
	}
	if (*ctx) {
		sl_ca_close(ca);
		SSL_CTX_free(*ctx);
		fprintf(stderr, "ca: reloaded %s (root %d signs, %d trusted)\n", dir, nca.current,
			nca.n_trusted);
	}
	*ca = nca;
	*ctx = nctx;
	*seen = t;
	return 0;
}

static int ca_serve(struct ca_args *a)
{
	struct sl_ca ca;
	SSL_CTX *ctx = NULL;
	long long seen = -2;
	int lfd, fd;

	if (!a->listen || !a->policy)
		return usage();
	if (ca_reload(&ca, &ctx, a->dir, &seen)) {
		fprintf(stderr, "sluice ca serve: cannot open the CA in %s\n", a->dir);
		return SL_EXIT_FAIL;
	}
	lfd = listen_on(a->listen);
	if (lfd < 0) {
		fprintf(stderr, "sluice ca serve: cannot listen on %s: %s\n", a->listen,
			strerror(errno));
		return SL_EXIT_FAIL;
	}
	/* no SA_RESTART: SIGTERM must interrupt the blocking accept() */
	struct sigaction sa = { .sa_handler = on_signal };

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (a->ready)
		fclose(fopen(a->ready, "w"));
	fprintf(stderr, "ca: serving trust domain %s on %s, certificates for %lds\n", ca.td,
		a->listen, a->ttl_s);
	while (!stop) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ca_reload(&ca, &ctx, a->dir, &seen);
		serve_one(ctx, &ca, fd, a);
	}
	close(lfd);
	SSL_CTX_free(ctx);
	sl_ca_close(&ca);
	return SL_EXIT_OK;
}

static int ca_fetch(struct ca_args *a)
{
	struct sl_ident node = { 0 }, got = { 0 };
	char err[SL_ERR_LEN], path[4096];
	int rc = SL_EXIT_FAIL;

	if (!a->ca || !a->node_cert || !a->ns || !a->sa || !a->out)
		return usage();
	struct sl_spiffe_id want;

	if (sl_ident_load(&node, a->node_cert, err, sizeof(err))) {
		fprintf(stderr, "sluice ca fetch: %s\n", err);
		goto out;
	}
	sl_spiffe_workload(&want, node.id.td, a->ns, a->sa);
	if (sl_ca_fetch(a->ca, &node, &want, &got, err, sizeof(err))) {
		fprintf(stderr, "sluice ca fetch: %s\n", err);
		goto out;
	}
	if (mkdir(a->out, 0755) && errno != EEXIST) {
		fprintf(stderr, "sluice ca fetch: %s: %s\n", a->out, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/key.pem", a->out);
	if (sl_pki_write_key(path, got.key, err, sizeof(err)))
		goto werr;
	snprintf(path, sizeof(path), "%s/cert.pem", a->out);
	if (sl_pki_write_certs(path, &got.cert, 1, err, sizeof(err)))
		goto werr;
	snprintf(path, sizeof(path), "%s/root.pem", a->out);
	if (sl_pki_write_certs(path, got.bundle, got.n_bundle, err, sizeof(err)))
		goto werr;
	printf("fetched spiffe://%s/ns/%s/sa/%s into %s\n", got.id.td, got.id.ns, got.id.sa, a->out);
	rc = SL_EXIT_OK;
	goto out;
werr:
	fprintf(stderr, "sluice ca fetch: %s\n", err);
out:
	sl_ident_free(&node);
	sl_ident_free(&got);
	return rc;
}

/* sluice-ca [-v]... SUBCOMMAND [ARGS]: what `sluice ca` runs. */
int main(int argc, char **argv)
{
	struct ca_args a = { 0 };
	struct sl_cli sub_cli = { 0 };
	const char *sub;
	int i = 1;

	for (; i < argc && !strcmp(argv[i], "-v"); i++)
		sl_verbosity++;
	if (i >= argc)
		return usage();
	sub = argv[i];
	signal(SIGPIPE, SIG_IGN); /* a peer that hangs up is an error, not a kill */
	/* getopt wants the subcommand where a program name would be. */
	sub_cli.argv = argv + i;
	sub_cli.argc = argc - i;
	if (parse_args(&sub_cli, &a))
		return usage();
	if (!strcmp(sub, "init"))
		return ca_init(&a);
	if (!strcmp(sub, "issue"))
		return ca_issue(&a);
	if (!strcmp(sub, "rotate"))
		return ca_rotate(&a);
	if (!strcmp(sub, "serve"))
		return ca_serve(&a);
	if (!strcmp(sub, "fetch"))
		return ca_fetch(&a);
	return usage();
}
