// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <string.h>

#include "json.h"
#include "policy.h"

/* JSON text is UTF-8 (RFC 8259). A byte that is not valid UTF-8 has no JSON
 * spelling: it becomes U+FFFD, as Go's encoding/json (kubectl) does. What
 * the terminal escaping treats as unsafe (controls, line separators, bidi
 * controls) is written as \uXXXX: the same characters after decoding, but
 * nothing a terminal acts on when the JSON is printed raw. */
void sl_json_str(FILE *f, const char *s)
{
	size_t n = strlen(s), w;
	uint32_t c;

	fputc('"', f);
	for (; n; s += w, n -= w) {
		w = sl_utf8_decode(s, n, &c);
		if (!w) {
			fputs("\\ufffd", f);
			w = 1;
		} else if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", (char)c);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (sl_cp_unsafe(c)) {
			fprintf(f, "\\u%04x", (unsigned)c);
		} else {
			fwrite(s, 1, w, f);
		}
	}
	fputc('"', f);
}
