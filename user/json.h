/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Minimal JSON output: enough for the CLI's stable `-o json` formats. */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdio.h>

/* Writes S as a JSON string literal, quotes included; always valid UTF-8
 * JSON (invalid bytes become U+FFFD, see json.c). */
void sl_json_str(FILE *f, const char *s);

#endif
