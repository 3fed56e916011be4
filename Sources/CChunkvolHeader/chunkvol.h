/*
 * chunkvol.h - volumes on object storage for backup storage daemons (libchunkvol).
 *
 * A volume is a file that a storage daemon writes with appends, reads back, re-opens to append
 * and truncates when it is relabeled. chunkvol keeps it as fixed-size chunk objects on an object
 * store (S3, OpenStack Swift, Ceph RGW, or a local folder), staged in a crash-safe local cache.
 * These calls behave like the POSIX calls a daemon makes on a file device. The full contract is
 * Spec/c-api.md; the option string is Spec/options.md.
 *
 * Build:   cc prog.c $(pkg-config --cflags --libs chunkvol)
 *
 * Errors: every call that fails returns NULL or -1 and sets errno:
 *   ENOENT     no such volume
 *   EEXIST     O_CREAT | O_EXCL and the volume exists
 *   EBUSY      another writer (thread or process) holds the volume; or, for
 *              chunkvol_store_close, files of that store are still open
 *   EACCES     the store refused the credentials or the request
 *   EINVAL     bad options, bad volume name, bad flags, bad argument (NULL buffer, negative
 *              offset or length, unknown whence)
 *   EIO        the store or the cache failed (the sentence says which and why)
 *   ENOSPC     dirty chunks filled the cache past the back-pressure timeout (space_timeout=),
 *              or the cache's disk is full
 *   ETIMEDOUT  chunkvol_flush ran out of time; chunkvol_store_close found uploads still running
 *   EBADF      a closed, NULL or unknown handle; a read on a write-only handle; a write,
 *              ftruncate on a read-only handle
 * chunkvol_last_error() then names the cause in one sentence. No message ever holds a secret.
 *
 * Threads: a store may be used from several threads at once (open, unlink, stat). Different
 * files may be used from different threads at once; one file from one thread at a time.
 * chunkvol_store_close must not run while another call on that store is under way.
 * errno and chunkvol_last_error() are per thread.
 */
#ifndef CHUNKVOL_H
#define CHUNKVOL_H

#include <stdint.h>
#include <sys/types.h>   /* ssize_t, off_t */
#include <fcntl.h>       /* O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND */
#include <unistd.h>      /* SEEK_SET, SEEK_CUR, SEEK_END */

#ifdef __cplusplus
extern "C" {
#endif

/* A configured object store with its cache folder and upload workers. Opaque. */
typedef struct chunkvol_store chunkvol_store;
/* An open volume, like a file descriptor. Opaque. */
typedef struct chunkvol_file chunkvol_file;

struct chunkvol_stat {
    uint64_t size;          /* bytes in the volume */
    uint64_t chunk_size;    /* bytes per chunk object, fixed when the volume was created */
    uint64_t chunks;        /* chunk objects the volume has: ceil(size / chunk_size) */
    uint64_t dirty_chunks;  /* chunks in the cache newer than the store (not yet uploaded) */
};

/*
 * Opens the store the option string names (Spec/options.md), for example
 *   "backend=s3,endpoint=http://127.0.0.1:7480,bucket=backups,chunksize=64M,cache=/var/cache/chunkvol"
 * Secrets are never options: they come from the environment (AWS_ACCESS_KEY_ID, ST_KEY,
 * OS_PASSWORD, ...) or the credentials= file, read now. Chunks left dirty in the cache by an
 * earlier process are queued for upload at once. The local backend's folder is created when missing.
 * Errors: EINVAL (an unknown key, a bad value, missing credentials), EIO (the cache folder).
 */
chunkvol_store *chunkvol_store_open(const char *options);

/*
 * Waits for the store's background uploads (at most 600 s), stops its workers and releases the
 * handle. Every file of the store must be closed first.
 * Errors: EBUSY (files still open: nothing is done, the store stays open), ETIMEDOUT (uploads
 * were still running: the handle is released anyway, their chunks stay dirty in the cache and
 * are uploaded by the next chunkvol_store_open of the cache), EBADF.
 */
int chunkvol_store_close(chunkvol_store *store);

/*
 * Opens a volume. flags: O_RDONLY, O_WRONLY or O_RDWR, with any of O_CREAT, O_EXCL (with
 * O_CREAT), O_TRUNC, O_APPEND (those two need write access); O_CLOEXEC is accepted and
 * ignored (there is no descriptor to inherit); any other flag is EINVAL. One writer per volume across threads and
 * processes; readers any number. The position starts at 0 (append mode writes at the end).
 * Volume names: 1 to 200 bytes of UTF-8, no "/", no "..", no control characters, not
 * starting with ".".
 * Errors: ENOENT, EEXIST, EBUSY, EACCES, EINVAL, EIO, EBADF (the store handle).
 */
chunkvol_file *chunkvol_open(chunkvol_store *store, const char *volume, int flags);

/*
 * Reads up to count bytes at the position and advances it. Returns the bytes read: fewer at
 * the end of the volume, 0 at or past it. Chunks not in the cache are downloaded (whole with
 * read-ahead for sequential reads, a ranged GET for a small random read).
 * Errors: EBADF (closed, or opened O_WRONLY), EINVAL (NULL buf, count > SSIZE_MAX), EIO, EACCES.
 */
ssize_t chunkvol_read(chunkvol_file *f, void *buf, size_t count);

/*
 * Writes all count bytes at the position (at the end with O_APPEND) and advances it; returns
 * count. Writing past the end fills the gap with zeros. When dirty chunks fill the cache the call
 * waits for uploads (back-pressure), at most space_timeout= seconds.
 * Errors: EBADF (closed, or opened O_RDONLY), EINVAL, ENOSPC, EIO.
 */
ssize_t chunkvol_write(chunkvol_file *f, const void *buf, size_t count);

/*
 * Sets the position: offset from the start (SEEK_SET), the position (SEEK_CUR) or the end
 * (SEEK_END). Any non-negative position is allowed, past the end too. Returns the new position.
 * Errors: EINVAL (a negative result, unknown whence), EBADF.
 */
off_t chunkvol_lseek(chunkvol_file *f, off_t offset, int whence);

/*
 * Sets the volume's size. Shrinking removes the chunk objects past the new end from the store;
 * growing adds zeros. Durable in the cache on return. The position does not move.
 * Errors: EBADF (closed, or opened O_RDONLY), EINVAL (negative length), EIO.
 */
int chunkvol_ftruncate(chunkvol_file *f, off_t length);

/*
 * Makes every byte written through f durable in the local cache (chunk files and index synced):
 * after a crash they are found and uploaded by the next open of the cache. Does not wait for
 * the store. A no-op on a read-only handle.
 * Errors: EBADF, EIO, ENOSPC.
 */
int chunkvol_fsync(chunkvol_file *f);

/*
 * Makes the volume durable in the object store: syncs, uploads every dirty chunk and the
 * manifest, and waits at most timeout_ms milliseconds (a negative timeout_ms waits without
 * limit). Failed chunks stay dirty in the cache; a later flush retries them.
 * Errors: ETIMEDOUT, EIO (the sentence names the chunks that could not be uploaded), EACCES,
 * EBADF.
 */
int chunkvol_flush(chunkvol_file *f, int timeout_ms);

/*
 * Syncs, applies the upload policy (upload=each-chunk and on-close queue every dirty chunk,
 * manual queues none; uploads go on in the background while the store is open) and releases
 * the handle, even when it fails (like close(2)): f must not be used again.
 * Errors: EBADF (closed already), EIO, ENOSPC (the final sync failed: the bytes written since
 * the last successful chunkvol_fsync may be lost). EIO also when the sync succeeded but uploads
 * of this volume have failed after their retries (the store refuses or cannot be reached): the
 * volume is durable in the cache and is sent by chunkvol_flush or the next open of the store;
 * chunkvol_last_error() names the chunks.
 */
int chunkvol_close(chunkvol_file *f);

/*
 * Removes a volume's chunk objects and manifest from the store and its chunks from the cache.
 * Errors: ENOENT, EBUSY (a writer holds it), EINVAL (name), EACCES, EIO, EBADF (the store).
 */
int chunkvol_unlink(chunkvol_store *store, const char *volume);

/*
 * Fills *st with the volume's size and chunk counts: from the cache, or one manifest GET when
 * the cache does not know the volume.
 * Errors: ENOENT, EINVAL (name, NULL st), EACCES, EIO, EBADF (the store).
 */
int chunkvol_stat(chunkvol_store *store, const char *volume, struct chunkvol_stat *st);

/*
 * The calling thread's last failure, in one sentence without secrets, such as
 * "no volume Full-0001 on s3 http://127.0.0.1:7480 bucket backups". Never NULL: "" before the
 * first failure. The text belongs to the library and stays valid until the next chunkvol call
 * on the same thread.
 */
const char *chunkvol_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* CHUNKVOL_H */
