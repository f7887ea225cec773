// hiredis 0.14 for Swift. redisCommand is variadic: use redisCommandArgv / redisAsyncCommandArgv.
#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#endif
