// http_parser 2.9 for Swift. HTTP_PARSER_ERRNO is a macro.
#ifndef CHTTPPARSER_SHIM_H
#define CHTTPPARSER_SHIM_H
#include <http_parser.h>
static inline enum http_errno CHTTPParser_errno(const http_parser *p) { return HTTP_PARSER_ERRNO(p); }
#endif
