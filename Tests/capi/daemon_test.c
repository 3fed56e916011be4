/*
 * daemon_test.c - drives libchunkvol as a backup storage daemon does (Spec/c-api.md):
 * label a volume, append 64 KiB blocks across many chunks, re-open to append, read back
 * sequentially and at block addresses, relabel with O_TRUNC, every errno the contract names that
 * can be produced here, chunkvol_stat, a flush checked through a second cache, and several threads
 * writing volumes at once.
 *
 * Usage: daemon_test OPTIONS WORKDIR
 *   OPTIONS  the option string without cache= (the test adds its caches under WORKDIR), for
 *            example "backend=local,path=/tmp/x/store,chunksize=256K"
 *   WORKDIR  an empty folder for the caches
 * Credentials come from the environment as for any daemon (AWS_*, ST_*).
 * Exit status: 0 when every check passed, 1 otherwise (each failure is printed).
 */
#define _POSIX_C_SOURCE 200809L
#include <chunkvol.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK 65536
#define LABEL 512
#define THREADS 4

static atomic_int failures;
static atomic_int checks;
static const char *secrets[4];   /* the credentials in the environment: no message may hold them */

static void failed(int line, const char *fmt, ...) {
    va_list ap;
    int saved = errno;
    atomic_fetch_add(&failures, 1);
    fprintf(stderr, "FAIL line %d: ", line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (errno %d %s; chunkvol_last_error: %s)\n", saved, strerror(saved), chunkvol_last_error());
}

#define CHECK(cond, ...) do { atomic_fetch_add(&checks, 1); if (!(cond)) failed(__LINE__, __VA_ARGS__); } while (0)

/* A call that must fail with `want`: -1 (or NULL) returned, errno set, a sentence without secrets. */
static void expect_errno(int line, const char *what, int failed_result, int want) {
    int got = errno;
    const char *why = chunkvol_last_error();
    atomic_fetch_add(&checks, 1);
    if (!failed_result) { failed(line, "%s: succeeded, expected errno %d (%s)", what, want, strerror(want)); return; }
    if (got != want) { errno = got; failed(line, "%s: errno %d (%s), expected %d (%s)", what, got, strerror(got), want, strerror(want)); return; }
    if (why == NULL || why[0] == '\0') { failed(line, "%s: chunkvol_last_error() is empty", what); return; }
    for (int i = 0; i < 4; i++)
        if (secrets[i] && strlen(secrets[i]) >= 4 && strstr(why, secrets[i])) failed(line, "%s: the error message holds a secret", what);
    printf("  ok   %-44s %-9s %s\n", what, want == EBADF ? "EBADF" : want == EINVAL ? "EINVAL" : want == ENOENT ? "ENOENT" :
           want == EEXIST ? "EEXIST" : want == EBUSY ? "EBUSY" : want == EACCES ? "EACCES" : want == ENOSPC ? "ENOSPC" :
           want == ETIMEDOUT ? "ETIMEDOUT" : "?", why);
}
#define EXPECT_FAIL_INT(call, want) expect_errno(__LINE__, #call, (errno = 0, (call) == -1), want)
#define EXPECT_FAIL_PTR(call, want) expect_errno(__LINE__, #call, (errno = 0, (call) == NULL), want)

/* ------------------------------------------------------------------ the bytes of a volume -- */

/* A volume as the test expects it: a label at offset 0, then a pattern fixed by the seed. */
struct model {
    char name[160];
    uint64_t seed;
    char label[LABEL];
    uint64_t size;
};

static uint64_t mix(uint64_t x) {   /* splitmix64 */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void expected(const struct model *m, uint64_t off, uint8_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint64_t o = off + i;
        buf[i] = o < LABEL ? (uint8_t)m->label[o] : (uint8_t)(mix(m->seed ^ (o >> 3)) >> ((o & 7) * 8));
    }
}

static void relabel(struct model *m, uint64_t seed) {
    m->seed = seed;
    m->size = 0;
    memset(m->label, 0, LABEL);
    snprintf(m->label, LABEL, "CHUNKVOL TEST LABEL\nvolume=%s\nseed=%llu\n", m->name, (unsigned long long)seed);
}

/* Writes `count` blocks at the position, which must be the model's end; the label block first
   when the volume is empty (a daemon writes its label as the first block). */
static int write_blocks(chunkvol_file *f, struct model *m, int count) {
    static _Thread_local uint8_t buf[BLOCK];
    for (int i = 0; i < count; i++) {
        expected(m, m->size, buf, BLOCK);
        ssize_t w = chunkvol_write(f, buf, BLOCK);
        CHECK(w == BLOCK, "write of block %llu of %s returned %zd", (unsigned long long)(m->size / BLOCK), m->name, w);
        if (w != BLOCK) return -1;
        m->size += BLOCK;
    }
    return 0;
}

/* Reads [off, off + n) through f and compares it with the model. */
static int verify_range(chunkvol_file *f, const struct model *m, uint64_t off, uint64_t n, size_t step) {
    static _Thread_local uint8_t got[BLOCK + 7], want[BLOCK + 7];
    off_t at = chunkvol_lseek(f, (off_t)off, SEEK_SET);
    CHECK(at == (off_t)off, "lseek to %llu on %s returned %lld", (unsigned long long)off, m->name, (long long)at);
    while (n > 0) {
        size_t part = n < step ? (size_t)n : step;
        ssize_t r = chunkvol_read(f, got, part);
        CHECK(r == (ssize_t)part, "read of %zu bytes at %llu of %s returned %zd", part, (unsigned long long)off, m->name, r);
        if (r != (ssize_t)part) return -1;
        expected(m, off, want, part);
        if (memcmp(got, want, part) != 0) {
            size_t i = 0;
            while (got[i] == want[i]) i++;
            CHECK(0, "%s: byte %llu differs (0x%02x, expected 0x%02x)", m->name, (unsigned long long)(off + i), got[i], want[i]);
            return -1;
        }
        off += part;
        n -= part;
    }
    return 0;
}

/* The whole volume, sequentially, then 0 bytes at the end. */
static int verify_all(chunkvol_file *f, const struct model *m, size_t step) {
    uint8_t extra[16];
    if (verify_range(f, m, 0, m->size, step) != 0) return -1;
    ssize_t r = chunkvol_read(f, extra, sizeof extra);
    CHECK(r == 0, "read at the end of %s returned %zd, expected 0", m->name, r);
    return r == 0 ? 0 : -1;
}

static char *joined(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

/* --------------------------------------------------------------------------- threads -- */

struct writer { chunkvol_store *store; struct model m; int blocks; };

static void *writer_thread(void *arg) {
    struct writer *w = arg;
    chunkvol_file *f = chunkvol_open(w->store, w->m.name, O_WRONLY | O_CREAT | O_EXCL);
    CHECK(f != NULL, "thread: open %s", w->m.name);
    if (!f) return NULL;
    write_blocks(f, &w->m, w->blocks);
    CHECK(chunkvol_fsync(f) == 0, "thread: fsync %s", w->m.name);
    CHECK(chunkvol_close(f) == 0, "thread: close %s", w->m.name);

    /* errno and chunkvol_last_error are this thread's: a failure here names this thread's volume
       while the other threads fail and succeed with theirs. */
    char missing[200];
    snprintf(missing, sizeof missing, "%s-missing", w->m.name);
    errno = 0;
    chunkvol_file *none = chunkvol_open(w->store, missing, O_RDONLY);
    CHECK(none == NULL && errno == ENOENT, "thread: open of missing %s", missing);
    CHECK(strstr(chunkvol_last_error(), missing) != NULL, "thread: last error names %s", missing);

    f = chunkvol_open(w->store, w->m.name, O_RDONLY);
    CHECK(f != NULL, "thread: reopen %s", w->m.name);
    if (!f) return NULL;
    verify_all(f, &w->m, BLOCK);
    CHECK(strstr(chunkvol_last_error(), missing) != NULL, "thread: last error still names %s", missing);
    CHECK(chunkvol_close(f) == 0, "thread: close %s", w->m.name);
    return NULL;
}

/* ------------------------------------------------------------------------------ main -- */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: daemon_test OPTIONS WORKDIR (OPTIONS without cache=)\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *base = argv[1], *work = argv[2];
    secrets[0] = getenv("AWS_SECRET_ACCESS_KEY");
    secrets[1] = getenv("ST_KEY");
    secrets[2] = getenv("AWS_SESSION_TOKEN");
    secrets[3] = getenv("OS_PASSWORD");

    char tag[64];
    snprintf(tag, sizeof tag, "capi-%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
    char *cache_a = joined(base, ",cache=", work), *opts_a = joined(cache_a, "/cache-a", "");
    char *opts_b = joined(cache_a, "/cache-b", "");
    char *opts_c = joined(cache_a, "/cache-c", ",cachesize=1M,upload=manual");
    printf("daemon_test: %s (volumes %s-*)\n", base, tag);

    chunkvol_store *store = chunkvol_store_open(opts_a);
    CHECK(store != NULL, "chunkvol_store_open(%s)", opts_a);
    if (!store) return 1;

    struct model full = {0};
    snprintf(full.name, sizeof full.name, "%s-Full-0001", tag);
    relabel(&full, 1);

    /* 1. Label a new volume and append blocks across many chunks. */
    printf("- label and append %s\n", full.name);
    chunkvol_file *f = chunkvol_open(store, full.name, O_WRONLY | O_CREAT | O_EXCL);
    CHECK(f != NULL, "open %s O_CREAT|O_EXCL", full.name);
    if (!f) return 1;
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_WRONLY), EBUSY);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_RDWR | O_APPEND), EBUSY);
    EXPECT_FAIL_INT(chunkvol_store_close(store), EBUSY);
    write_blocks(f, &full, 40);
    CHECK(chunkvol_lseek(f, 0, SEEK_CUR) == (off_t)full.size, "position after the writes");
    uint8_t buf[BLOCK];
    memset(buf, 0x5a, sizeof buf);
    EXPECT_FAIL_INT(chunkvol_read(f, buf, sizeof buf), EBADF);   /* write-only handle */
    CHECK(chunkvol_fsync(f) == 0, "fsync");
    struct chunkvol_stat st;
    CHECK(chunkvol_stat(store, full.name, &st) == 0, "stat %s", full.name);
    CHECK(st.size == full.size, "stat size %llu, expected %llu", (unsigned long long)st.size, (unsigned long long)full.size);
    uint64_t cs = st.chunk_size;
    CHECK(cs >= 4096 && st.chunks == (full.size + cs - 1) / cs, "stat chunks %llu of %llu", (unsigned long long)st.chunks, (unsigned long long)cs);
    CHECK(st.chunks >= 8, "the volume spans many chunks (%llu): give a small chunksize=", (unsigned long long)st.chunks);
    CHECK(st.dirty_chunks <= st.chunks, "stat dirty %llu", (unsigned long long)st.dirty_chunks);
    printf("  stat: size %llu, chunk size %llu, %llu chunks, %llu dirty\n", (unsigned long long)st.size,
           (unsigned long long)st.chunk_size, (unsigned long long)st.chunks, (unsigned long long)st.dirty_chunks);
    CHECK(chunkvol_close(f) == 0, "close");

    /* A closed handle is EBADF for every call (the handle is looked up, never dereferenced). */
    EXPECT_FAIL_INT(chunkvol_write(f, buf, 16), EBADF);
    EXPECT_FAIL_INT(chunkvol_read(f, buf, 16), EBADF);
    EXPECT_FAIL_INT(chunkvol_lseek(f, 0, SEEK_SET), EBADF);
    EXPECT_FAIL_INT(chunkvol_fsync(f), EBADF);
    EXPECT_FAIL_INT(chunkvol_close(f), EBADF);
    EXPECT_FAIL_INT(chunkvol_write(NULL, buf, 16), EBADF);

    /* 2. Re-open to append, as a later job does: O_RDWR and lseek to the end; then O_APPEND,
       whose writes go to the end wherever the position is. */
    printf("- append to %s\n", full.name);
    f = chunkvol_open(store, full.name, O_RDWR);
    CHECK(f != NULL, "open %s O_RDWR", full.name);
    CHECK(chunkvol_lseek(f, 0, SEEK_END) == (off_t)full.size, "lseek SEEK_END");
    write_blocks(f, &full, 16);
    CHECK(verify_range(f, &full, 0, LABEL, LABEL) == 0, "label read back through the writer");
    CHECK(chunkvol_lseek(f, 0, SEEK_END) == (off_t)full.size, "lseek SEEK_END after the read");
    CHECK(chunkvol_close(f) == 0, "close");
    f = chunkvol_open(store, full.name, O_WRONLY | O_APPEND);
    CHECK(f != NULL, "open %s O_WRONLY|O_APPEND", full.name);
    CHECK(chunkvol_lseek(f, 0, SEEK_SET) == 0, "lseek 0");
    write_blocks(f, &full, 4);
    CHECK(chunkvol_lseek(f, 0, SEEK_CUR) == (off_t)full.size, "O_APPEND wrote at the end");
    CHECK(chunkvol_close(f) == 0, "close");

    /* 3. Read back: sequentially, in odd sizes, and at chosen block addresses. */
    printf("- read back %s (%llu bytes)\n", full.name, (unsigned long long)full.size);
    f = chunkvol_open(store, full.name, O_RDONLY);
    CHECK(f != NULL, "open %s O_RDONLY", full.name);
    verify_all(f, &full, BLOCK);
    verify_all(f, &full, 7 * 4096 + 13);
    uint64_t blocks = full.size / BLOCK;
    uint64_t chosen[] = {0, 1, 7, 23, blocks / 2, blocks - 1, 3};
    for (size_t i = 0; i < sizeof chosen / sizeof chosen[0]; i++)
        verify_range(f, &full, chosen[i] * BLOCK, BLOCK, BLOCK);
    verify_range(f, &full, 5 * BLOCK + 1000, 3000, 3000);   /* inside a block */
    CHECK(chunkvol_lseek(f, 0, SEEK_END) == (off_t)full.size, "lseek SEEK_END");
    CHECK(chunkvol_read(f, buf, BLOCK) == 0, "read at the end returns 0");
    CHECK(chunkvol_lseek(f, 100, SEEK_END) == (off_t)full.size + 100, "lseek past the end");
    CHECK(chunkvol_read(f, buf, BLOCK) == 0, "read past the end returns 0");
    CHECK(chunkvol_lseek(f, -BLOCK, SEEK_END) == (off_t)(full.size - BLOCK), "lseek back from the end");
    CHECK(chunkvol_lseek(f, BLOCK, SEEK_CUR) == (off_t)full.size, "lseek SEEK_CUR");
    CHECK(chunkvol_fsync(f) == 0, "fsync on a read-only handle is a no-op");
    EXPECT_FAIL_INT(chunkvol_write(f, buf, BLOCK), EBADF);   /* read-only handle */
    EXPECT_FAIL_INT(chunkvol_ftruncate(f, 0), EBADF);
    EXPECT_FAIL_INT(chunkvol_lseek(f, -1, SEEK_SET), EINVAL);
    EXPECT_FAIL_INT(chunkvol_lseek(f, -(off_t)full.size - 1, SEEK_END), EINVAL);
    EXPECT_FAIL_INT(chunkvol_lseek(f, 0, 42), EINVAL);
    EXPECT_FAIL_INT(chunkvol_read(f, NULL, 10), EINVAL);
    CHECK(chunkvol_close(f) == 0, "close");

    /* 4. The other errors a daemon meets. */
    printf("- errors\n");
    char missing[200], name[260];
    snprintf(missing, sizeof missing, "%s-missing", tag);
    EXPECT_FAIL_PTR(chunkvol_open(store, missing, O_RDONLY), ENOENT);
    EXPECT_FAIL_PTR(chunkvol_open(store, missing, O_RDWR), ENOENT);
    CHECK(strstr(chunkvol_last_error(), missing) != NULL, "the ENOENT sentence names the volume");
    EXPECT_FAIL_INT(chunkvol_stat(store, missing, &st), ENOENT);
    EXPECT_FAIL_INT(chunkvol_unlink(store, missing), ENOENT);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_WRONLY | O_CREAT | O_EXCL), EEXIST);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_RDONLY | O_TRUNC), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_RDONLY | O_APPEND), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_ACCMODE), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_RDONLY | O_EXCL), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_RDONLY | O_NONBLOCK), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, "", O_RDONLY), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, "a/b", O_WRONLY | O_CREAT), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, "..", O_WRONLY | O_CREAT), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, ".chunkvol", O_WRONLY | O_CREAT), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, "tab\there", O_WRONLY | O_CREAT), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(store, NULL, O_RDONLY), EINVAL);
    EXPECT_FAIL_INT(chunkvol_stat(store, "a/b", &st), EINVAL);
    EXPECT_FAIL_INT(chunkvol_stat(store, full.name, NULL), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_store_open("backend=local,endpiont=http://x"), EINVAL);
    CHECK(strstr(chunkvol_last_error(), "endpiont") != NULL, "the bad-options sentence names the key");
    EXPECT_FAIL_PTR(chunkvol_store_open("chunksize=1K,backend=local"), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_store_open("backend=local,backend=local"), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_store_open(NULL), EINVAL);
    EXPECT_FAIL_PTR(chunkvol_open(NULL, full.name, O_RDONLY), EBADF);
    EXPECT_FAIL_INT(chunkvol_stat(NULL, full.name, &st), EBADF);
    EXPECT_FAIL_PTR(chunkvol_open((chunkvol_store *)buf, full.name, O_RDONLY), EBADF);   /* not a handle */
    EXPECT_FAIL_INT(chunkvol_close((chunkvol_file *)store), EBADF);                      /* a store, not a file */

    /* Credentials refused: the same store with a wrong secret (read when the store opens). */
    int swift = strstr(base, "backend=swift") != NULL;
    const char *var = !swift && secrets[0] ? "AWS_SECRET_ACCESS_KEY"
                    : swift && secrets[1] ? "ST_KEY" : swift && secrets[3] ? "OS_PASSWORD" : NULL;
    if (var) {
        char *saved = strdup(getenv(var));
        setenv(var, "wrong-secret-for-the-test", 1);
        char *opts_x = joined(cache_a, "/cache-x", ",retries=0");
        chunkvol_store *refused = chunkvol_store_open(opts_x);
        CHECK(refused != NULL, "store open with a wrong secret (no request yet)");
        if (refused) {
            EXPECT_FAIL_PTR(chunkvol_open(refused, full.name, O_RDONLY), EACCES);
            CHECK(strstr(chunkvol_last_error(), "wrong-secret") == NULL, "the refused secret is not in the message");
            CHECK(chunkvol_store_close(refused) == 0, "close the refused store");
        }
        setenv(var, saved, 1);
        free(saved);
        free(opts_x);
    }

    /* Dirty chunks fill the cache and nothing uploads them (upload=manual): ENOSPC. */
    chunkvol_store *small = chunkvol_store_open(opts_c);
    CHECK(small != NULL, "store open %s", opts_c);
    if (small) {
        snprintf(name, sizeof name, "%s-small", tag);
        chunkvol_file *g = chunkvol_open(small, name, O_WRONLY | O_CREAT);
        CHECK(g != NULL, "open %s", name);
        if (g) {
            ssize_t w = 0;
            for (int i = 0; i < 32 && w != -1; i++) w = chunkvol_write(g, buf, BLOCK);
            expect_errno(__LINE__, "chunkvol_write(past cachesize=, upload=manual)", w == -1, ENOSPC);
            CHECK(chunkvol_close(g) == 0, "close %s", name);
            CHECK(chunkvol_unlink(small, name) == 0, "unlink %s", name);
        }
        CHECK(chunkvol_store_close(small) == 0, "close the small store");
    }

    /* 5. Flush: durable in the store, then read through a second, empty cache. */
    printf("- flush %s, read it through another cache\n", full.name);
    f = chunkvol_open(store, full.name, O_RDWR | O_APPEND);
    CHECK(f != NULL, "open %s O_RDWR|O_APPEND", full.name);
    write_blocks(f, &full, 3);
    int r = chunkvol_flush(f, 0);   /* no time to upload: ETIMEDOUT, unless every upload was done at once */
    if (r == -1) expect_errno(__LINE__, "chunkvol_flush(f, 0)", 1, ETIMEDOUT);
    else printf("  note chunkvol_flush(f, 0) found nothing left to wait for\n");
    CHECK(chunkvol_flush(f, 120000) == 0, "flush");
    CHECK(chunkvol_stat(store, full.name, &st) == 0 && st.dirty_chunks == 0 && st.size == full.size,
          "after flush: size %llu, %llu dirty", (unsigned long long)st.size, (unsigned long long)st.dirty_chunks);
    CHECK(chunkvol_close(f) == 0, "close");
    chunkvol_store *other = chunkvol_store_open(opts_b);
    CHECK(other != NULL, "store open %s", opts_b);
    if (other) {
        CHECK(chunkvol_stat(other, full.name, &st) == 0 && st.size == full.size && st.dirty_chunks == 0,
              "stat through the other cache: size %llu", (unsigned long long)st.size);
        chunkvol_file *g = chunkvol_open(other, full.name, O_RDONLY);
        CHECK(g != NULL, "open %s through the other cache", full.name);
        if (g) {
            verify_range(g, &full, 9 * BLOCK, BLOCK, BLOCK);   /* a random block first: a ranged GET */
            verify_all(g, &full, BLOCK);
            CHECK(chunkvol_close(g) == 0, "close");
        }
        CHECK(chunkvol_store_close(other) == 0, "close the other store");
    }

    /* 6. Relabel: O_TRUNC empties the volume; a new label and blocks follow. */
    printf("- relabel %s\n", full.name);
    f = chunkvol_open(store, full.name, O_RDWR | O_TRUNC);
    CHECK(f != NULL, "open %s O_RDWR|O_TRUNC", full.name);
    CHECK(chunkvol_lseek(f, 0, SEEK_END) == 0, "empty after O_TRUNC");
    CHECK(chunkvol_stat(store, full.name, &st) == 0 && st.size == 0 && st.chunks == 0, "stat after O_TRUNC");
    relabel(&full, 2);
    write_blocks(f, &full, 6);
    CHECK(chunkvol_ftruncate(f, (off_t)(5 * BLOCK)) == 0, "ftruncate to 5 blocks");
    full.size = 5 * BLOCK;
    CHECK(chunkvol_lseek(f, 0, SEEK_END) == (off_t)full.size, "size after ftruncate");
    EXPECT_FAIL_INT(chunkvol_ftruncate(f, -1), EINVAL);
    verify_all(f, &full, BLOCK);
    CHECK(chunkvol_close(f) == 0, "close");
    f = chunkvol_open(store, full.name, O_RDONLY);
    CHECK(f != NULL, "open %s O_RDONLY", full.name);
    verify_all(f, &full, BLOCK);
    CHECK(chunkvol_close(f) == 0, "close");
    CHECK(chunkvol_stat(store, full.name, &st) == 0 && st.size == full.size, "stat after relabel");

    /* 7. Several threads, each writing and reading back its own volume. */
    printf("- %d threads writing volumes at once\n", THREADS);
    struct writer writers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&writers[i], 0, sizeof writers[i]);
        writers[i].store = store;
        writers[i].blocks = 12 + 4 * i;
        snprintf(writers[i].m.name, sizeof writers[i].m.name, "%s-Inc-%04d", tag, i + 1);
        relabel(&writers[i].m, 100 + (uint64_t)i);
        CHECK(pthread_create(&threads[i], NULL, writer_thread, &writers[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        CHECK(chunkvol_stat(store, writers[i].m.name, &st) == 0 && st.size == writers[i].m.size,
              "stat %s after its thread", writers[i].m.name);
    }

    /* 8. Remove: refused while a writer holds the volume, then done. */
    printf("- unlink\n");
    f = chunkvol_open(store, full.name, O_WRONLY);
    CHECK(f != NULL, "open %s O_WRONLY", full.name);
    EXPECT_FAIL_INT(chunkvol_unlink(store, full.name), EBUSY);
    CHECK(chunkvol_close(f) == 0, "close");
    CHECK(chunkvol_unlink(store, full.name) == 0, "unlink %s", full.name);
    EXPECT_FAIL_INT(chunkvol_stat(store, full.name, &st), ENOENT);
    EXPECT_FAIL_PTR(chunkvol_open(store, full.name, O_RDONLY), ENOENT);
    for (int i = 0; i < THREADS; i++) CHECK(chunkvol_unlink(store, writers[i].m.name) == 0, "unlink %s", writers[i].m.name);

    CHECK(chunkvol_store_close(store) == 0, "chunkvol_store_close");
    EXPECT_FAIL_INT(chunkvol_store_close(store), EBADF);
    free(cache_a); free(opts_a); free(opts_b); free(opts_c);

    int n = atomic_load(&failures);
    printf("daemon_test: %d checks, %d failed\n", atomic_load(&checks), n);
    return n == 0 ? 0 : 1;
}
