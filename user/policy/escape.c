// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Text that came from input, made safe to print and to store.
 *
 * File names, object names, label values and the messages that quote them
 * are bytes chosen by whoever wrote the input. Printed raw, an ESC starts a
 * terminal control sequence, a newline forges a diagnostic line, a bidi
 * override reorders what the operator reads; written raw into the store's
 * "# sluice-source:" comment, an invalid UTF-8 byte or a NEL makes the
 * stored policy unreadable. One escaping serves both, so a file name reads
 * the same in a message as in the store, and the store gets the original
 * bytes back:
 *
 *   \\            a backslash
 *   \n \r \t      those controls
 *   \xHH          any other C0 control, DEL, or a byte that is not part of
 *                 valid UTF-8 (the byte itself, not a code point)
 *   \uHHHH        C1 controls (NEL is U+0085), U+2028/U+2029 (line and
 *                 paragraph separators), bidi and other invisible format
 *                 characters, U+FEFF, U+FFFE, U+FFFF
 *
 * Everything else, printable UTF-8 included, passes through unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t sl_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len, i;
	uint32_t c, min;

	if (!n)
		return 0;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xe0) == 0xc0) {
		len = 2, c = u[0] & 0x1f, min = 0x80;
	} else if ((u[0] & 0xf0) == 0xe0) {
		len = 3, c = u[0] & 0x0f, min = 0x800;
	} else if ((u[0] & 0xf8) == 0xf0) {
		len = 4, c = u[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past Unicode are not
	 * UTF-8 (RFC 3629); YAML readers reject them too. */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool sl_cp_unsafe(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	       c == 0x061c || c == 0x180e ||
	       (c >= 0x200b && c <= 0x200f) || /* zero width, LRM, RLM */
	       (c >= 0x2028 && c <= 0x202e) || /* LS, PS, bidi embeddings */
	       (c >= 0x2060 && c <= 0x206f) || /* invisible operators, isolates */
	       c == 0xfeff || c == 0xfffe || c == 0xffff;
}

/* The escape of one unit at S (N bytes left) into OUT (>= 8 bytes); returns
 * the bytes of S consumed and sets *olen. */
static size_t esc_unit(const char *s, size_t n, char out[8], size_t *olen)
{
	uint32_t c;
	size_t w = sl_utf8_decode(s, n, &c);

	if (!w) {
		*olen = (size_t)snprintf(out, 8, "\\x%02x", (unsigned char)s[0]);
		return 1;
	}
	if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
		out[0] = '\\';
		out[1] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		*olen = 2;
	} else if (c < 0x80 && sl_cp_unsafe(c)) {
		*olen = (size_t)snprintf(out, 8, "\\x%02x", c);
	} else if (sl_cp_unsafe(c)) {
		*olen = (size_t)snprintf(out, 8, "\\u%04x", c);
	} else {
		memcpy(out, s, w);
		*olen = w;
	}
	return w;
}

const char *sl_esc_buf(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s), o = 0, w, ol;
	char u[8];

	if (!len)
		return buf;
	/* Whole units only: a cut never leaves half an escape or half a
	 * UTF-8 sequence at the end. */
	while (n) {
		w = esc_unit(s, n, u, &ol);
		if (o + ol >= len)
			break;
		memcpy(buf + o, u, ol);
		o += ol;
		s += w;
		n -= w;
	}
	buf[o] = 0;
	return buf;
}

void sl_fputs_esc(FILE *f, const char *s)
{
	size_t n = strlen(s), w, ol;
	char u[8];

	while (n) {
		w = esc_unit(s, n, u, &ol);
		fwrite(u, 1, ol, f);
		s += w;
		n -= w;
	}
}

/* Two passes over S (the size, then the bytes) instead of a memory
 * stream: a whole apply escapes every object's file name, and a stream
 * starts with a zeroed 8 KiB buffer. */
char *sl_esc_dup(const char *s)
{
	size_t n = strlen(s), len = 0, o = 0, w, ol;
	const char *p = s;
	char u[8], *buf;

	for (size_t left = n; left; p += w, left -= w) {
		w = esc_unit(p, left, u, &ol);
		len += ol;
	}
	buf = malloc(len + 1);
	if (!buf)
		abort();
	for (p = s; n; p += w, n -= w) {
		w = esc_unit(p, n, u, &ol);
		memcpy(buf + o, u, ol);
		o += ol;
	}
	buf[o] = 0;
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The value of the N hex digits at S, or -1. */
static long hexn(const char *s, size_t avail, size_t n)
{
	long v = 0;
	size_t i;

	if (avail < n)
		return -1;
	for (i = 0; i < n; i++) {
		if (hexval(s[i]) < 0)
			return -1;
		v = v << 4 | hexval(s[i]);
	}
	return v;
}

static size_t utf8_put(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | c >> 12);
	o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

/* One escape at S (N bytes, S[0] is the backslash) into O; returns the
 * bytes of S consumed, or 0 when it is no escape of ours. NUL and UTF-16
 * surrogates never come out of an escape: sl_esc_dup does not produce them,
 * and a C string cannot hold the first. */
static size_t unesc_unit(const char *s, size_t n, char *o, size_t *olen)
{
	long v;

	if (n < 2)
		return 0;
	switch (s[1]) {
	case '\\':
	case 'n':
	case 'r':
	case 't':
		o[0] = s[1] == '\\' ? '\\' : s[1] == 'n' ? '\n' : s[1] == 'r' ? '\r' : '\t';
		*olen = 1;
		return 2;
	case 'x':
		v = hexn(s + 2, n - 2, 2);
		if (v <= 0)
			return 0;
		o[0] = (char)v;
		*olen = 1;
		return 4;
	case 'u':
		v = hexn(s + 2, n - 2, 4);
		if (v <= 0 || (v >= 0xd800 && v <= 0xdfff))
			return 0;
		*olen = utf8_put(o, (uint32_t)v);
		return 6;
	default:
		return 0;
	}
}

char *sl_unesc_dup(const char *s, size_t n)
{
	char *out = slp_xcalloc(n + 1, 1);
	size_t i = 0, o = 0, w, ol;

	/* Each escape is at least as long as what it stands for, so the
	 * result fits in N bytes. Text that is no escape stays as it is. */
	while (i < n) {
		if (s[i] == '\\' && (w = unesc_unit(s + i, n - i, out + o, &ol))) {
			i += w;
			o += ol;
			continue;
		}
		out[o++] = s[i++];
	}
	out[o] = 0;
	return out;
}
