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
