// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * main() for fuzz targets built without libFuzzer: feeds every file named on
 * the command line (a directory: every regular file in it, sorted) to
 * LLVMFuzzerTestOneInput once, printing "ok fuzz-corpus/FILE" per file. With
 * ASan/UBSan this turns the seed corpus into a regression test; a crash
 * aborts the run, so the last line printed names the input before it.
 *
 * An input that takes longer than FUZZ_INPUT_LIMIT_MS (default 2000 ms,
 * generous for a sanitizer build on a busy machine) fails: pathological
 * inputs (deep nesting, huge sources) must be rejected in linear time, and
 * a seed of such a case is a regression test of that too.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double limit_ms(void)
{
	const char *e = getenv("FUZZ_INPUT_LIMIT_MS");

	return e && atof(e) > 0 ? atof(e) : 2000;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	const char *base = strrchr(path, '/');
	uint8_t *buf;
	double t0, ms;
	long n;

	if (!f) {
		printf("FAIL fuzz-corpus/%s: cannot open\n", path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		printf("FAIL fuzz-corpus/%s: cannot read\n", path);
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	t0 = now_ms();
	LLVMFuzzerTestOneInput(buf, (size_t)(n > 0 ? n : 0));
	ms = now_ms() - t0;
	free(buf);
	if (ms > limit_ms()) {
		printf("FAIL fuzz-corpus/%s: took %.0f ms (limit %.0f ms)\n",
		       base ? base + 1 : path, ms, limit_ms());
		return 1;
	}
	printf("ok fuzz-corpus/%s\n", base ? base + 1 : path);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
	char **names = NULL, path[4096];
	size_t n = 0, i;
	struct dirent *e;
	struct stat st;
	int fails = 0;
	DIR *d = opendir(dir);

	if (!d) {
		printf("FAIL fuzz-corpus/%s: cannot open directory\n", dir);
		return 1;
	}
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (!names || !(names[n++] = strdup(path)))
			abort();
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		fails += run_file(names[i]);
		free(names[i]);
	}
	free(names);
	return fails;
}

int main(int argc, char **argv)
{
	struct stat st;
	int i, fails = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (!stat(argv[i], &st) && S_ISDIR(st.st_mode))
			fails += run_dir(argv[i]);
		else
			fails += run_file(argv[i]);
	}
	return fails ? 1 : 0;
}
