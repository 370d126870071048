// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-yaml: the floor of an apply from YAML, libyaml alone. Reads
 * the files into memory first (not timed: `sluice apply` reads them
 * before its clock too), then runs libyaml's event parser over each, as
 * Sluice's reader does (user/policy/yaml.c builds its trees from these
 * events), and prints one JSON line: {"ms": parse time, "events": N,
 * "bytes": N}.
 *
 *   sl-bench-yaml FILE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yaml.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Every event of BUF; -1 on a parse error. */
static long parse(const unsigned char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	long n = 0;
	int done = 0;

	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, buf, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			n = -1;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		n++;
	}
	yaml_parser_delete(&p);
	return n;
}

int main(int argc, char **argv)
{
	unsigned char **bufs = calloc((size_t)argc, sizeof(*bufs));
	size_t *lens = calloc((size_t)argc, sizeof(*lens)), bytes = 0;
	long events = 0;
	double t0;

	if (argc < 2 || !bufs || !lens) {
		fprintf(stderr, "usage: sl-bench-yaml FILE...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!(bufs[i] = slurp(argv[i], &lens[i]))) {
			perror(argv[i]);
			return 1;
		}
		bytes += lens[i];
	}
	t0 = now_ms();
	for (int i = 1; i < argc; i++) {
		long n = parse(bufs[i], lens[i]);

		if (n < 0) {
			fprintf(stderr, "%s: does not parse\n", argv[i]);
			return 1;
		}
		events += n;
	}
	printf("{\"ms\": %.3f, \"events\": %ld, \"bytes\": %zu}\n", now_ms() - t0, events, bytes);
	for (int i = 1; i < argc; i++)
		free(bufs[i]);
	free(bufs);
	free(lens);
	return 0;
}
