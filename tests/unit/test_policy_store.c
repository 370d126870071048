// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the store must give back, and what may reach a terminal (issue 8,
 * cases 2 and 6). One line per test: "ok NAME" or "FAIL NAME: reason".
 *
 *   store-roundtrip-property  random sources under random file names
 *       (invalid UTF-8, C0/C1 controls, NEL, U+2028/2029, bidi controls,
 *       backslashes, the marker's own words) with random metadata bytes in
 *       every YAML spelling (plain, quoted, escaped, raw separators, block
 *       scalars, CR and CRLF line ends): whatever loads must read back from
 *       the store identically (tests/fuzz/roundtrip.h). The seed is fixed;
 *       SLUICE_PROP_SEED=N and SLUICE_PROP_ITERS=N run others.
 *   escape-*, json-*, names-*  the escaping helper, JSON strings, and the
 *       Kubernetes name rules with their exact messages.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy.h"
#include "unit.h"
#include "../fuzz/roundtrip.h"

/* ---- random sources --------------------------------------------------------- */

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Pieces of hostile text: what file names and metadata may hold. */
static const char *const hostile[] = {
	"\xff", "\xfe", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80",
	"\xc2\x85", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xae", "\xe2\x81\xa6",
	"\xef\xbb\xbf", "\xef\xbf\xbe", "\xc2\x9b", "\x1b[31m", "\x1b]0;t\x07",
	"\n", "\r", "\r\n", "\t", "\x01", "\x7f", "\\", "\\x41", "\\u0041", "\\n",
	"\\\\", " line ", " line 12", "# sluice-source: ", "---", ": ", "\"", "'",
	"\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "/", "..", " ",
};

static void add_piece(struct sbuf *b, bool hostile_ok)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyz0123456789-._";
	char c[2] = { plain[rnd(sizeof(plain) - 1)], 0 };

	if (hostile_ok && rnd(3) == 0)
		sb_puts(b, hostile[rnd(sizeof(hostile) / sizeof(hostile[0]))]);
	else
		sb_puts(b, c);
}

static char *random_file_name(void)
{
	struct sbuf b = { 0 };
	uint32_t n = 1 + rnd(24), i;

	if (rnd(4) == 0)
		sb_puts(&b, "dir/");
	for (i = 0; i < n; i++)
		add_piece(&b, true);
	sb_puts(&b, rnd(2) ? ".yaml" : "");
	/* A file name holds no NUL: stop at the first (none are generated). */
	return b.p;
}

/* A double-quoted YAML scalar with escapes that decode to hostile text. */
static void dq_value(struct sbuf *b)
{
	static const char *const esc[] = {
		"\\e", "\\N", "\\L", "\\P", "\\x1b", "\\x7f", "\\u0085", "\\u2028",
		"\\u202e", "\\t", "\\n", "\\r", "\\\\", "\\\"", "\\0", "\\a", "\\_",
		"\\xff", "\\U0001F600",
	};
	uint32_t n = rnd(10), i;

	sb_puts(b, "\"");
	for (i = 0; i < n; i++) {
		if (rnd(2))
			sb_puts(b, esc[rnd(sizeof(esc) / sizeof(esc[0]))]);
		else
			add_piece(b, rnd(4) == 0);
	}
	sb_puts(b, "\"");
}

/* One annotation value in a random YAML spelling, raw bytes included. */
static void meta_value(struct sbuf *b, const char *nl)
{
	uint32_t n = 1 + rnd(8), i;

	switch (rnd(5)) {
	case 0:
		dq_value(b);
		break;
	case 1: /* single-quoted: raw text, '' is a quote */
		sb_puts(b, "'");
		for (i = 0; i < n; i++)
			add_piece(b, rnd(3) == 0);
		sb_puts(b, "'");
		break;
	case 2: /* block scalar */
		sb_printf(b, "|%s      ", nl);
		for (i = 0; i < n; i++)
			add_piece(b, rnd(4) == 0);
		break;
	default: /* plain, possibly hostile bytes */
		sb_puts(b, "v");
		for (i = 0; i < n; i++)
			add_piece(b, rnd(4) == 0);
	}
	sb_puts(b, nl);
}

/* metadata.name: usually valid, sometimes any text. */
static void name_value(struct sbuf *b, const char *base, unsigned i)
{
	if (rnd(16))
		sb_printf(b, "%s%u", base, i);
	else if (rnd(2))
		dq_value(b);
	else
		for (uint32_t k = 1 + rnd(6); k; k--)
			add_piece(b, true);
}

static void metadata(struct sbuf *b, const char *base, unsigned i, const char *nl)
{
	uint32_t n = rnd(4), k;

	sb_printf(b, "metadata:%s  name: ", nl);
	name_value(b, base, i);
	sb_printf(b, "%s  namespace: ns%u%s", nl, rnd(3), nl);
	if (rnd(2))
		sb_printf(b, "  labels: {app: %s%u, version: v%u}%s", base, i, rnd(2), nl);
	if (!n)
		return;
	sb_printf(b, "  annotations:%s", nl);
	for (k = 0; k < n; k++) {
		sb_printf(b, "    a%u: ", k);
		meta_value(b, nl);
	}
}

static void random_object(struct sbuf *b, unsigned i, const char *nl)
{
	switch (rnd(4)) {
	case 0:
		sb_printf(b, "apiVersion: v1%skind: Pod%s", nl, nl);
		metadata(b, "web", i, nl);
		sb_printf(b, "status: {phase: Running, podIP: 10.1.%u.%u}%s", rnd(3), 1 + i, nl);
		break;
	case 1: /* a DestinationRule with a warning: diagnostics name the file */
		sb_printf(b, "apiVersion: networking.istio.io/v1%skind: DestinationRule%s", nl, nl);
		metadata(b, "web", i, nl);
		sb_printf(b, "spec:%s  host: web%u%s  trafficPolicy:%s    circuitBreaker: "
			  "{consecutiveErrors: 3}%s  subsets: [{name: v1, labels: {version: v1}}]%s",
			  nl, i, nl, nl, nl, nl);
		break;
	default:
		sb_printf(b, "apiVersion: v1%skind: Service%s", nl, nl);
		metadata(b, "web", i, nl);
		sb_printf(b, "spec:%s  selector: {app: web%u}%s  ports: [{port: %u}]%s", nl, i,
			  nl, 80 + rnd(3), nl);
	}
}

/* A Service in flow style on one line: a document of its own after
 * "--- ", or an item of a kind: List. */
static void flow_object(struct sbuf *b, unsigned i)
{
	sb_printf(b, "{apiVersion: v1, kind: Service, metadata: {name: flow%u, "
		  "namespace: ns%u, annotations: {a: ", i, rnd(3));
	dq_value(b);
	sb_printf(b, "}}, spec: {ports: [{port: %u}]}}", 90 + rnd(3));
}

/* A kind: List of flow-style items. */
static void list_doc(struct sbuf *b, unsigned i, const char *nl)
{
	uint32_t n = 1 + rnd(3), k;

	sb_printf(b, "apiVersion: v1%skind: List%sitems:%s", nl, nl, nl);
	for (k = 0; k < n; k++) {
		sb_puts(b, rnd(2) ? "- " : "  - ");
		flow_object(b, 10 * i + k);
		sb_puts(b, nl);
	}
}

/* A comment: plain, hostile (printable only, or the source is rejected),
 * or a marker the user wrote, under any file name. */
static void comment(struct sbuf *b, const char *nl)
{
	char *f;

	switch (rnd(3)) {
	case 0:
		sb_printf(b, "# a comment \\ \xc3\xa9%s", nl);
		break;
	case 1:
		sb_printf(b, "   # indented \xe2\x80\xae comment%s", nl);
		break;
	default:
		f = random_file_name();
		sb_printf(b, "# sluice-source: %s line %u%s", f, 1 + rnd(rnd(2) ? 1000 : 0x7fffffff), nl);
		free(f);
	}
}

static char *random_source(size_t *len)
{
	static const char *const nls[] = { "\n", "\r\n", "\r", "\xc2\x85", "\xe2\x80\xa8" };
	const char *nl = nls[rnd(4) ? 0 : rnd(5)];
	struct sbuf b = { 0 };
	uint32_t n = 1 + rnd(5), i;

	sb_puts(&b, rnd(10) ? "" : "\xef\xbb\xbf"); /* a BOM */
	for (i = 0; i < n; i++) {
		if (rnd(5) == 0)
			comment(&b, nl);
		if (i && rnd(12) == 0) /* a document may start with a BOM too */
			sb_puts(&b, "\xef\xbb\xbf");
		switch (rnd(8)) {
		case 0:
			sb_puts(&b, "--- ");
			flow_object(&b, i);
			sb_puts(&b, nl);
			break;
		case 1:
			sb_printf(&b, "---%s", nl);
			list_doc(&b, i, nl);
			break;
		default:
			sb_printf(&b, "---%s", nl);
			if (rnd(5) == 0)
				comment(&b, nl);
			random_object(&b, i, nl);
		}
		if (rnd(6) == 0)
			sb_printf(&b, "...%s", nl);
	}
	*len = b.n;
	return b.p;
}

/* ---- property ------------------------------------------------------------ */

/* Bytes beyond printable ASCII (a newline aside), or a backslash. */
static bool has_hostile(const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if ((*u < 0x20 && *u != '\n') || *u == 0x7f || *u >= 0x80 || *u == '\\')
			return true;
	return false;
}

static void test_roundtrip_property(void)
{
	const char *seed = getenv("SLUICE_PROP_SEED"), *it = getenv("SLUICE_PROP_ITERS");
	unsigned iters = it ? (unsigned)strtoul(it, NULL, 10) : 3000, i, accepted = 0;
	unsigned hostile_names = 0, hostile_srcs = 0;
	struct sl_compile_opts o;
	uint64_t s0;

	rng = s0 = seed ? strtoull(seed, NULL, 10) : 0x5111cedu;
	sl_compile_opts_default(&o);
	for (i = 0; i < iters; i++) {
		uint64_t at = rng;
		char *name = random_file_name(), *store = NULL;
		size_t len;
		char *src = random_source(&len);
		bool acc;
		const char *why = rt_check(name, src, len, &o, &acc, &store);

		if (why) {
			char *en = sl_esc_dup(name), *es = sl_esc_dup(src);

			fail_msg(__LINE__, "seed %llu, iteration %u (state %llu): %s; "
				 "file name \"%s\", source \"%s\"", (unsigned long long)s0, i,
				 (unsigned long long)at, why, en, es);
			free(en);
			free(es);
		}
		accepted += acc;
		hostile_names += acc && has_hostile(name);
		hostile_srcs += acc && has_hostile(src);
		free(store);
		free(src);
		free(name);
		if (why)
			return;
	}
	if (getenv("SLUICE_PROP_STATS"))
		printf("# %u of %u loaded, %u hostile names, %u hostile texts\n", accepted, iters, hostile_names, hostile_srcs);
	/* Not vacuous: many sources load, under hostile names and with
	 * non-ASCII bytes, controls or line separators in their text. */
	CHECK(accepted >= iters / 4 && hostile_names >= iters / 8 && hostile_srcs >= iters / 8,
	      "only %u of %u sources loaded, %u under hostile names, %u with hostile text",
	      accepted, iters, hostile_names, hostile_srcs);
}

/* ---- escaping ----------------------------------------------------------- */

static void test_escape(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain-name.yaml", "plain-name.yaml" },
		{ "caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80" },
		{ "a\x1b[31mb\nc\rd\te\x7f", "a\\x1b[31mb\\nc\\rd\\te\\x7f" },
		{ "back\\slash", "back\\\\slash" },
		{ "bad\xff\xfe", "bad\\xff\\xfe" },
		{ "nel\xc2\x85ls\xe2\x80\xa8ps\xe2\x80\xa9", "nel\\u0085ls\\u2028ps\\u2029" },
		{ "rlo\xe2\x80\xaeiso\xe2\x81\xa6" "bom\xef\xbb\xbf", "rlo\\u202eiso\\u2066bom\\ufeff" },
		{ "overlong\xc0\xaf surrogate\xed\xa0\x80", "overlong\\xc0\\xaf surrogate\\xed\\xa0\\x80" },
		{ "cut\xe2\x80", "cut\\xe2\\x80" },
	};
	char buf[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *e = sl_esc_dup(cases[i].in), *u = sl_unesc_dup(e, strlen(e));

		CHECK(!strcmp(e, cases[i].out), "escape %zu: got \"%s\"", i, e);
		CHECK(!strcmp(u, cases[i].in), "unescape %zu differs", i);
		free(e);
		free(u);
	}
	/* A cut buffer ends at a whole escape or character. */
	CHECK(!strcmp(sl_esc_buf(buf, sizeof(buf), "abcdefghijklm\x1b"), "abcdefghijklm"),
	      "cut: %s", buf);
	CHECK(!strcmp(sl_esc_buf(buf, 6, "ab\xe6\x97\xa5\xe6\x97\xa5"), "ab\xe6\x97\xa5"),
	      "cut utf8: %s", buf);
	/* Text that is no escape of ours stays as written. */
	{
		char *u = sl_unesc_dup("\\q \\x4 \\x00 \\ud800 \\", 20);

		CHECK(!strcmp(u, "\\q \\x4 \\x00 \\ud800 \\"), "lenient: %s", u);
		free(u);
	}
}

/* Random bytes: unescape(escape(x)) == x, and the escape is printable
 * UTF-8 with no line break (what a YAML comment and a terminal take). */
static void test_escape_random(void)
{
	char in[64], *e, *u;
	size_t n, i, w;
	uint32_t c;

	rng = 12345;
	for (int k = 0; k < 20000; k++) {
		n = rnd(sizeof(in));
		for (i = 0; i < n; i++)
			in[i] = (char)(1 + rnd(255));
		in[n] = 0;
		e = sl_esc_dup(in);
		u = sl_unesc_dup(e, strlen(e));
		CHECK(!strcmp(u, in), "round trip %d", k);
		for (i = 0; e[i]; i += w) {
			w = sl_utf8_decode(e + i, strlen(e + i), &c);
			CHECK(w && !sl_cp_unsafe(c), "unsafe output at %zu of \"%s\"", i, e);
		}
		free(e);
		free(u);
	}
}

static void test_json_str(void)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);

	sl_json_str(m, "a\"\\\n\t\x1b\x7f\xc2\x85\xe2\x80\xa8\xff\xc3\xa9\xe2\x80\xae");
	fclose(m);
	CHECK(!strcmp(buf, "\"a\\\"\\\\\\n\\t\\u001b\\u007f\\u0085\\u2028\\ufffd\xc3\xa9\\u202e\""),
	      "got %s", buf);
	free(buf);
}

/* ---- names -------------------------------------------------------------- */

static char *load_msgs(const char *name, const char *src, int *ret)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	char *t;

	*ret = sl_policy_load(p, name, src, strlen(src), &d);
	t = diag_text(&d, SL_SEV_WARNING);
	sl_diags_free(&d);
	sl_policy_free(p);
	return t;
}

#define NAMES_SVC(name) "apiVersion: v1\nkind: Service\nmetadata:\n  name: " name \
	"\n  namespace: shop\nspec:\n  ports: [{port: 80}]\n"

static void test_names_rejected(void)
{
	int r;
	char *t = load_msgs("n.yaml", NAMES_SVC("\"w\\e[31m\\nx\""), &r);

	CHECK(r == -1, "accepted");
	/* One line, the ESC and the newline escaped. */
	CHECK(!strcmp(t, "n.yaml:4:9: error: metadata.name: invalid Service name "
		      "\"w\\x1b[31m\\nx\": must be an RFC 1035 label: at most 63 characters "
		      "of lower-case letters, digits and '-', starting with a letter and "
		      "ending with a letter or digit\n"), "got %s", t);
	free(t);
	t = load_msgs("n.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ../../etc/passwd\n",
		      &r);
	CHECK(r == -1 && !strcmp(t, "n.yaml:4:9: error: metadata.name: invalid Pod name "
				 "\"../../etc/passwd\": must be an RFC 1123 subdomain: at most "
				 "253 characters of lower-case letters, digits, '-' and '.', each "
				 "dot-separated part starting and ending with a letter or digit\n"),
	      "got %s", t);
	free(t);
	t = load_msgs("n.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n", &r);
	CHECK(r == -1 && strstr(t, "n.yaml:3:18: error: metadata.name: invalid Namespace "
				   "name \"a.b\": must be an RFC 1123 label"), "got %s", t);
	free(t);
	t = load_msgs("n.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
				"metadata: {name: vs, namespace: Shop}\nspec: {hosts: [a], tcp: "
				"[{route: [{destination: {host: a}}]}]}\n", &r);
	CHECK(r == -1 && strstr(t, "n.yaml:3:33: error: metadata.namespace: invalid "
				   "namespace \"Shop\": must be an RFC 1123 label"), "got %s", t);
	free(t);
	t = load_msgs("n.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n"
				"    app: \"x\\e[0m\"\n    bad key: v\n", &r);
	CHECK(r == -1 && strstr(t, "n.yaml:6:10: error: metadata.labels.app: invalid label "
				   "value \"x\\x1b[0m\": empty, or at most 63") &&
	      strstr(t, "n.yaml:7:5: error: metadata.labels.bad key: invalid label key "
			"\"bad key\""), "got %s", t);
	free(t);
	t = load_msgs("n.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
				"metadata: {name: dr}\nspec: {host: a, subsets: [{name: V_1}]}\n", &r);
	CHECK(r == -1 && strstr(t, "n.yaml:4:34: error: spec.subsets[0].name: invalid "
				   "subset name \"V_1\": must be an RFC 1123 label"), "got %s", t);
	free(t);
}

static void test_names_accepted(void)
{
	static const char *const ok[] = {
		NAMES_SVC("a"), NAMES_SVC("web-1"),
		NAMES_SVC("a23456789012345678901234567890123456789012345678901234567890123"),
		"apiVersion: v1\nkind: Pod\nmetadata: {name: web.v1-0.a}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: 0pod}\n",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: 1-ns}\n",
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: "
		"ext.example.com}\nspec: {hosts: [ext.example.com], ports: [{number: 443, "
		"protocol: TLS, name: tls}], resolution: STATIC, endpoints: [{address: 1.2.3.4}]}\n",
	};
	static const char *const bad[] = {
		NAMES_SVC("1web"), NAMES_SVC("web-"), NAMES_SVC("Web"), NAMES_SVC("web.v1"),
		NAMES_SVC("a234567890123456789012345678901234567890123456789012345678901234"),
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a..b}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: -a}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a_b}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: \"caf\xc3\xa9\"}\n",
	};
	char *t;
	int r;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		t = load_msgs("n.yaml", ok[i], &r);
		CHECK(r == 0, "ok[%zu] rejected: %s", i, t);
		free(t);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = load_msgs("n.yaml", bad[i], &r);
		CHECK(r == -1 && strstr(t, "error: metadata.name: invalid"), "bad[%zu]: %s", i, t);
		free(t);
	}
	/* 253 characters in dot-separated parts: the longest subdomain. */
	{
		char src[512], name[254];

		memset(name, 'a', 253);
		for (int k = 63; k < 253; k += 64)
			name[k] = '.';
		name[253] = 0;
		snprintf(src, sizeof(src), "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\n", name);
		t = load_msgs("n.yaml", src, &r);
		CHECK(r == 0, "253: %s", t);
		free(t);
		snprintf(src, sizeof(src), "apiVersion: v1\nkind: Pod\nmetadata: {name: %sa}\n", name);
		t = load_msgs("n.yaml", src, &r);
		CHECK(r == -1, "254 accepted");
		free(t);
	}
}

/* A name an earlier version stored keeps the node manageable: a warning
 * when read from the store, and delete still removes it. */
static void test_names_stored(void)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	const char *src = "---\n# sluice-source: old.yaml line 1\n" NAMES_SVC("Web_1");
	char *t;

	CHECK(!sl_policy_load(p, SL_STORE_SOURCE, src, strlen(src), &d), "stored rejected");
	t = diag_text(&d, SL_SEV_WARNING);
	CHECK(strstr(t, "old.yaml:4:9: warning: metadata.name: invalid Service name \"Web_1\"") &&
	      strstr(t, "(kept: the stored policy holds it)"), "got %s", t);
	free(t);
	CHECK(!sl_policy_remove(p, "del.yaml", NAMES_SVC("Web_1"), strlen(NAMES_SVC("Web_1")), &d) &&
	      sl_policy_count(p) == 0, "not removed");
	sl_diags_free(&d);
	sl_policy_free(p);
}

/* Diagnostics print escaped: file, field path (a map key) and message. */
static void test_diag_escaped(void)
{
	int r;
	char *t = load_msgs("a\x1b]0;x\x07\n.yaml",
			    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
			    "spec:\n  \"bad\\u2028key\\e\": 1\n", &r);

	CHECK(r == -1 && !strcmp(t, "a\\x1b]0;x\\x07\\n.yaml:5:3: error: spec.bad\\u2028key"
				    "\\x1b: unknown field \"bad\\u2028key\\x1b\"\n"), "got %s", t);
	free(t);
}

/* %TAG handles would not read back from the store; tags are refused. */
static void test_tags_rejected(void)
{
	int r;
	char *t = load_msgs("t.yaml", "%TAG !e! tag:example.com,2000:\n---\napiVersion: v1\n"
				      "kind: Service\nmetadata: {name: !e!x web}\n", &r);

	CHECK(r == -1 && !strcmp(t, "t.yaml:5:18: error: YAML tags are not supported "
				    "(tag:example.com,2000:x)\n"), "got %s", t);
	free(t);
	t = load_msgs("t.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: !!str a}\n"
				"spec: {ports: [{port: 80}]}\n", &r);
	CHECK(r == 0, "!!str (the default tag of a scalar) rejected: %s", t);
	free(t);
	/* An explicit !!str keeps "80" a string, as Kubernetes' decoder does,
	 * so an integer field refuses it. */
	t = load_msgs("t.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
				"spec: {ports: [{port: !!str 80}]}\n", &r);
	CHECK(r == -1 && strstr(t, "spec.ports[0].port: expected integer, got string"),
	      "!!str 80 as a port: %s", t);
	free(t);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	run("store-roundtrip-property", test_roundtrip_property);
	run("escape", test_escape);
	run("escape-random-roundtrip", test_escape_random);
	run("json-str-invalid-utf8", test_json_str);
	run("names-rejected", test_names_rejected);
	run("names-accepted", test_names_accepted);
	run("names-stored-warning", test_names_stored);
	run("diagnostics-escaped", test_diag_escaped);
	run("tags-rejected", test_tags_rejected);
	printf("# %d failed\n", failures);
	return failures ? 1 : 0;
}
