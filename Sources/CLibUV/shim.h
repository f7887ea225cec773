// libuv 1.44 for Swift. Plus the socket calls needed for SO_REUSEPORT listeners (C-INTEROP pitfall 11).
#ifndef CLIBUV_SHIM_H
#define CLIBUV_SHIM_H
#include <uv.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#endif
