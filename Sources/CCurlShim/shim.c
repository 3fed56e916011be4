#include "ccurl_shim.h"

CURLcode ccurl_setopt_long(CURL *h, CURLoption opt, long value) { return curl_easy_setopt(h, opt, value); }
CURLcode ccurl_setopt_off(CURL *h, CURLoption opt, curl_off_t value) { return curl_easy_setopt(h, opt, value); }
CURLcode ccurl_setopt_string(CURL *h, CURLoption opt, const char *value) { return curl_easy_setopt(h, opt, value); }
CURLcode ccurl_setopt_pointer(CURL *h, CURLoption opt, void *value) { return curl_easy_setopt(h, opt, value); }
CURLcode ccurl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value) { return curl_easy_setopt(h, opt, value); }
CURLcode ccurl_setopt_data_callback(CURL *h, CURLoption opt, ccurl_data_callback cb) { return curl_easy_setopt(h, opt, cb); }
CURLcode ccurl_setopt_seek_callback(CURL *h, ccurl_seek_callback cb) { return curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, cb); }
CURLcode ccurl_setopt_debug_callback(CURL *h, ccurl_debug_callback cb) { return curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, cb); }

CURLcode ccurl_getinfo_long(CURL *h, CURLINFO info, long *value) { return curl_easy_getinfo(h, info, value); }
CURLcode ccurl_getinfo_off(CURL *h, CURLINFO info, curl_off_t *value) { return curl_easy_getinfo(h, info, value); }
CURLcode ccurl_getinfo_string(CURL *h, CURLINFO info, char **value) { return curl_easy_getinfo(h, info, value); }

CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption opt, long value) { return curl_multi_setopt(m, opt, value); }

#include <time.h>

static double ccurl_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Called by libcurl often while bytes move and about once a second when none do. */
static int ccurl_stall_check(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal; (void)ultotal;
    ccurl_stall *s = (ccurl_stall *)p;
    double now = ccurl_now();
    curl_off_t moved = dlnow + ulnow;
    if (s->since == 0 || moved != s->moved) { s->moved = moved; s->since = now; return 0; }
    if ((now - s->since) * 1000.0 >= (double)s->timeout_ms) { s->stalled = 1; return 1; }
    return 0;
}

CURLcode ccurl_set_stall_guard(CURL *h, ccurl_stall *state, long timeout_ms) {
    state->moved = 0; state->since = 0; state->stalled = 0; state->timeout_ms = timeout_ms;
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ccurl_stall_check);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, state);
    return curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}
