// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fuzz target of the policy compiler. The input is "NAME\0YAML" (the
 * source's file name, then one YAML source) or, without a NUL, just YAML
 * named "fuzz.yaml": a NUL cannot be part of a file name, nor of YAML that
 * libyaml accepts, so every real (name, source) pair has one spelling, and
 * the name reaches the store's "# sluice-source:" comment with any bytes.
 *
 * The source is loaded and compiled; a source that loads must also survive
 * the store (roundtrip.h), which is what `sluice get`, every later apply
 * and the agent rely on.
 *
 * libFuzzer caps inputs at 4096 bytes unless told otherwise; the parser's
 * limits (nesting, size) are only reached by larger inputs, so
 * LLVMFuzzerInitialize raises -max_len unless the command line sets it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "roundtrip.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_LEN "-max_len=262144"
#define NAME_MAX_LEN 1024

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char *args[256];
	int i;

	for (i = 1; i < *argc; i++)
		if (!strncmp((*argv)[i], "-max_len=", 9))
			return 0;
	if (*argc + 2 > (int)(sizeof(args) / sizeof(args[0])))
		return 0;
	for (i = 0; i < *argc; i++)
		args[i] = (*argv)[i];
	args[(*argc)++] = (char *)FUZZ_MAX_LEN;
	args[*argc] = NULL;
	*argv = args;
	return 0;
}

/* "NAME\0YAML" or plain YAML; NAME is copied into BUF (NUL-terminated). */
static const char *split_input(const uint8_t **data, size_t *size, char *buf)
{
	const uint8_t *nul = memchr(*data, 0, *size < NAME_MAX_LEN ? *size : NAME_MAX_LEN);
	size_t n;

	if (!nul)
		return "fuzz.yaml";
	n = (size_t)(nul - *data);
	memcpy(buf, *data, n);
	buf[n] = 0;
	*size -= n + 1;
	*data = nul + 1;
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char namebuf[NAME_MAX_LEN + 1], *store = NULL;
	const char *name = split_input(&data, &size, namebuf), *why;
	struct sl_compile_opts o;
	bool accepted;

	sl_compile_opts_default(&o);
	why = rt_check(name, (const char *)data, size, &o, &accepted, &store);
	if (why) {
		fprintf(stderr, "store round trip: %s\n--- store:\n%s\n", why, store);
		abort();
	}
	free(store);
	return 0;
}
