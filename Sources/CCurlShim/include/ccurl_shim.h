/* Typed wrappers for libcurl's variadic calls, which Swift cannot call directly.
 * Each setter names the type of the argument it forwards, so the compiler checks it. */
#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H
#include <curl/curl.h>

typedef size_t (*ccurl_data_callback)(char *buffer, size_t size, size_t nitems, void *userdata);
typedef int (*ccurl_seek_callback)(void *userdata, curl_off_t offset, int origin);
typedef int (*ccurl_debug_callback)(CURL *handle, curl_infotype type, char *data, size_t size, void *userdata);

CURLcode ccurl_setopt_long(CURL *h, CURLoption opt, long value);
CURLcode ccurl_setopt_off(CURL *h, CURLoption opt, curl_off_t value);
CURLcode ccurl_setopt_string(CURL *h, CURLoption opt, const char *value);
CURLcode ccurl_setopt_pointer(CURL *h, CURLoption opt, void *value);
CURLcode ccurl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value);
CURLcode ccurl_setopt_data_callback(CURL *h, CURLoption opt, ccurl_data_callback cb);
CURLcode ccurl_setopt_seek_callback(CURL *h, ccurl_seek_callback cb);
CURLcode ccurl_setopt_debug_callback(CURL *h, ccurl_debug_callback cb);

/* A stall guard: the transfer is aborted (CURLE_ABORTED_BY_CALLBACK, `stalled` set) when no byte
 * has moved either way for `timeout_ms`. libcurl's own low-speed check averages over its last
 * seconds and fires up to ~5 s late; this one counts from the last byte. */
typedef struct ccurl_stall {
    curl_off_t moved;
    double since;
    long timeout_ms;
    int stalled;
} ccurl_stall;
CURLcode ccurl_set_stall_guard(CURL *h, ccurl_stall *state, long timeout_ms);

CURLcode ccurl_getinfo_long(CURL *h, CURLINFO info, long *value);
CURLcode ccurl_getinfo_off(CURL *h, CURLINFO info, curl_off_t *value);
CURLcode ccurl_getinfo_string(CURL *h, CURLINFO info, char **value);

CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption opt, long value);
#endif
