// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy's metrics: Istio's TCP series per (source principal,
 * destination principal, destination workload), handshakes by result and
 * authorization decisions. Each worker counts into its own table (its lock
 * is only contended by the writer, once a second); the writer sums the
 * tables and replaces --metrics FILE atomically, and `sluice metrics` /
 * the agent serve that file beside the kernel's series (docs/PROXY.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"
#include "proxy/pki.h"

struct px_mrow {
	struct px_labels l;
	uint64_t opened, closed, sent, received;
};

struct px_hs {
	bool server;
	char result[24];
	uint64_t n;
};

struct px_metrics {
	struct px_mrow *rows;
	size_t n, cap;
	struct px_hs hs[32];
	size_t n_hs;
	uint64_t allowed, denied;
};

static struct px_metrics *mget(struct px_worker *w)
{
	if (!w->m)
		w->m = calloc(1, sizeof(*w->m));
	return w->m;
}

static struct px_mrow *row(struct px_metrics *m, const struct px_labels *l)
{
	for (size_t i = 0; i < m->n; i++)
		if (!memcmp(&m->rows[i].l, l, sizeof(*l)))
			return &m->rows[i];
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct px_mrow *nr = realloc(m->rows, cap * sizeof(*nr));

		if (!nr)
			return NULL;
		m->rows = nr;
		m->cap = cap;
	}
	memset(&m->rows[m->n], 0, sizeof(m->rows[0]));
	m->rows[m->n].l = *l;
	return &m->rows[m->n++];
}

void px_metrics_conn(struct px_worker *w, const struct px_labels *l, bool open, uint64_t sent,
		     uint64_t received)
{
	struct px_metrics *m;
	struct px_mrow *r;

	if (!w)
		return;
	pthread_mutex_lock(&w->mlock);
	m = mget(w);
	r = m ? row(m, l) : NULL;
	if (r && open) {
		r->opened++;
	} else if (r) {
		r->closed++;
		r->sent += sent;
		r->received += received;
	}
	pthread_mutex_unlock(&w->mlock);
}

void px_metrics_hs(struct px_worker *w, bool server, const char *result)
{
	struct px_metrics *m;
	size_t i;

	if (!w)
		return;
	pthread_mutex_lock(&w->mlock);
	m = mget(w);
	for (i = 0; m && i < m->n_hs; i++)
		if (m->hs[i].server == server && !strcmp(m->hs[i].result, result))
			break;
	if (m && i == m->n_hs && i < 32) {
		m->hs[i].server = server;
		snprintf(m->hs[i].result, sizeof(m->hs[i].result), "%s", result);
		m->n_hs++;
	}
	if (m && i < 32)
		m->hs[i].n++;
	pthread_mutex_unlock(&w->mlock);
}

void px_metrics_authz(struct px_worker *w, bool allowed)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mlock);
	if (mget(w)) {
		if (allowed)
			w->m->allowed++;
		else
			w->m->denied++;
	}
	pthread_mutex_unlock(&w->mlock);
}

static void merge(struct px_metrics *sum, const struct px_metrics *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct px_mrow *r = row(sum, &m->rows[i].l);

		if (!r)
			continue;
		r->opened += m->rows[i].opened;
		r->closed += m->rows[i].closed;
		r->sent += m->rows[i].sent;
		r->received += m->rows[i].received;
	}
	for (size_t i = 0; i < m->n_hs; i++) {
		size_t j;

		for (j = 0; j < sum->n_hs; j++)
			if (sum->hs[j].server == m->hs[i].server &&
			    !strcmp(sum->hs[j].result, m->hs[i].result))
				break;
		if (j == sum->n_hs && j < 32)
			sum->hs[sum->n_hs++] = (struct px_hs){ m->hs[i].server, "", 0 };
		if (j < 32) {
			snprintf(sum->hs[j].result, sizeof(sum->hs[j].result), "%s", m->hs[i].result);
			sum->hs[j].n += m->hs[i].n;
		}
	}
	sum->allowed += m->allowed;
	sum->denied += m->denied;
}

static void tcp_family(FILE *f, const struct px_metrics *s, const char *name, const char *help,
		       int which)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (size_t i = 0; i < s->n; i++) {
		const struct px_mrow *r = &s->rows[i];
		uint64_t v = which == 0 ? r->opened : which == 1 ? r->closed :
			     which == 2 ? r->sent : r->received;

		fprintf(f,
			"%s{reporter=\"sluice-proxy\",source_principal=\"%s\","
			"destination_principal=\"%s\",destination_workload=\"%s\","
			"destination_workload_namespace=\"%s\",connection_security_policy=\"%s\"} "
			"%llu\n",
			name, r->l.src, r->l.dst, r->l.dst_wl, r->l.dst_ns,
			r->l.mtls ? "mutual_tls" : "none", (unsigned long long)v);
	}
}

static void write_text(FILE *f, const struct px_metrics *s)
{
	tcp_family(f, s, "istio_tcp_connections_opened_total", "TCP connections opened", 0);
	tcp_family(f, s, "istio_tcp_connections_closed_total", "TCP connections closed", 1);
	tcp_family(f, s, "istio_tcp_sent_bytes_total",
		   "Bytes sent to the source (response direction), counted at close", 2);
	tcp_family(f, s, "istio_tcp_received_bytes_total",
		   "Bytes received from the source (request direction), counted at close", 3);
	fprintf(f, "# HELP sluice_proxy_handshakes_total HBONE TLS handshakes by result\n"
		   "# TYPE sluice_proxy_handshakes_total counter\n");
	for (size_t i = 0; i < s->n_hs; i++)
		fprintf(f, "sluice_proxy_handshakes_total{side=\"%s\",result=\"%s\"} %llu\n",
			s->hs[i].server ? "server" : "client", s->hs[i].result,
			(unsigned long long)s->hs[i].n);
	fprintf(f, "# HELP sluice_proxy_authz_total L4 authorization decisions\n"
		   "# TYPE sluice_proxy_authz_total counter\n"
		   "sluice_proxy_authz_total{decision=\"allow\"} %llu\n"
		   "sluice_proxy_authz_total{decision=\"deny\"} %llu\n",
		(unsigned long long)s->allowed, (unsigned long long)s->denied);
}

void px_metrics_free(struct px_worker *w)
{
	if (w->m)
		free(w->m->rows);
	free(w->m);
	w->m = NULL;
}

int px_metrics_write(struct px *px, const char *path)
{
	struct px_metrics sum = { 0 };
	char *buf = NULL, err[SL_ERR_LEN];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return -1;
	for (int i = 0; i < px->nw; i++) {
		pthread_mutex_lock(&px->w[i].mlock);
		if (px->w[i].m)
			merge(&sum, px->w[i].m);
		pthread_mutex_unlock(&px->w[i].mlock);
	}
	write_text(f, &sum);
	fclose(f);
	rc = sl_pki_write_file(path, buf, len, 0644, err, sizeof(err));
	free(buf);
	free(sum.rows);
	return rc;
}
